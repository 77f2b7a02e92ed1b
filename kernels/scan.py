"""Byte scans run before a payload is decoded: cheap, linear, and unable to recurse.

`json_depth` is how deep a JSON text nests arrays and objects (strings and their escapes
skipped), stopping as soon as it passes `limit`, so a payload of a million `[` costs one
pass over its bytes and no stack: msgspec's decoder recurses once per level and raises
RecursionError on deep input, which must never escape the ingest path.
"""
import numpy as np
from kernels.compiled import njit


@njit(cache=True)
def json_depth(b, limit):
    """Deepest nesting of arrays/objects in the bytes b, or limit + 1 once past limit."""
    depth = 0
    deepest = 0
    in_str = False
    esc = False
    for k in range(b.shape[0]):
        c = b[k]
        if in_str:
            if esc:
                esc = False
            elif c == 92:  # backslash
                esc = True
            elif c == 34:  # quote
                in_str = False
        elif c == 34:
            in_str = True
        elif c == 91 or c == 123:  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return limit + 1
        elif c == 93 or c == 125:  # ] }
            depth -= 1
    return deepest


def depth_of(data: bytes | str, limit: int) -> int:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return int(json_depth(np.frombuffer(data, np.uint8), limit))
