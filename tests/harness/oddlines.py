"""Odd and hostile variants of the example day's lines, for tests that compare two readers
of one file (the scanner and the strict decoder; compiled and JIT kernels)."""
import json
import random
from pathlib import Path

from harness import ROOT

DAY = ROOT / "examples" / "day"
LINES = (DAY / "events.jsonl").read_bytes().splitlines()


# one odd or hostile variant of a good line each; the strict decoder says what it is
def odd_line(line: bytes, k: int, rng: random.Random) -> bytes:
    d = json.loads(line)
    keys = list(d)
    kind = k % 34
    if kind == 0:  # field order
        rng.shuffle(keys)
        return json.dumps({x: d[x] for x in keys}).encode()
    if kind == 1:  # whitespace JSON allows, and what bytes.strip strips around a line
        return (b" \t" + json.dumps(d, indent=None, separators=(" , ", " :  ")).encode()
                + b" \r\x0b\x0c")
    if kind == 2:  # escapes in a value and in a key
        s = json.dumps(d).replace('"ts"', '"t\\u0073"')
        return s.replace('"acd"', '"\\u0061cd"').encode()
    if kind == 3:  # unicode id (not in the roster)
        d["agent"] = "张三" if "agent" in d else d.get("agent")
        return json.dumps(d, ensure_ascii=False).encode()
    if kind == 4:  # an extra field the schema does not know
        d["note"] = {"x": [1, 2, {"y": None}]}
        return json.dumps(d).encode()
    if kind == 5:  # numbers as floats where integers go
        d["ts"] = float(d["ts"])
        return json.dumps(d).encode()
    if kind == 6:
        d["seq"] = f"{d.get('seq', 1)}.0"
        return json.dumps(d).replace(f'"{d["seq"]}"', d["seq"]).encode()
    if kind == 7:  # exponent
        return json.dumps(d).replace(f'"ts": {d["ts"]}', f'"ts": {d["ts"] / 1e3}e3').encode()
    if kind == 8:  # a key twice (the strict decoder's rule decides which wins)
        s = json.dumps(d)
        return (s[:-1] + f', "ts": {d["ts"] + 1000}}}').encode()
    if kind == 9:  # the same line twice: a duplicate by src/seq
        return line + b"\n" + line
    if kind == 10:  # truncated
        return line[: len(line) // 2]
    if kind == 11:  # not an object
        return json.dumps([d]).encode()
    if kind == 12:
        d["type"] = "teleport"
        return json.dumps(d).encode()
    if kind == 13:
        d.pop("ts")
        return json.dumps(d).encode()
    if kind == 14:  # wrong type
        d["ts"] = str(d["ts"])
        return json.dumps(d).encode()
    if kind == 15:  # out of range
        d["seq"] = -1
        return json.dumps(d).encode()
    if kind == 16:  # null
        d["agent"] = None
        return json.dumps(d).encode()
    if kind == 17:  # an id one character too long, and one just long enough
        d["call"] = "c" * (65 if rng.random() < 0.5 else 64)
        return json.dumps(d).encode()
    if kind == 18:  # empty id
        d["queue"] = ""
        return json.dumps(d).encode()
    if kind == 19:  # invalid UTF-8
        return line.replace(b'"acd"', b'"\xff\xfe"')
    if kind == 20:  # control character in an id
        return json.dumps(d).replace('"acd"', '"a\\u0001cd"').encode()
    if kind == 21:  # deep nesting in an unknown field
        return line[:-1] + b', "x": ' + b"[" * 40 + b"]" * 40 + b"}"
    if kind == 22:  # another site, and ours
        d["site"] = rng.choice(["elsewhere", "default", ""])
        return json.dumps(d).encode()
    if kind == 23:  # comments and blank lines between
        return b"# a comment\n\n   \n" + line
    if kind == 24:  # amounts of every shape
        d["type"], d["amount"] = "sale", rng.choice(
            [10, -0, 0.1, 1e2, 12.345678901234567, 999999999.99, 1000000000.5, -3.5,
             "7", True, 0.30000000000000004])
        d.setdefault("agent", "A001")
        return json.dumps(d).encode()
    if kind == 25:  # busy reason codes: plain, unicode, too long for a code, empty
        d["type"], d["reason"] = "busy", rng.choice(
            ["toilet", "午饭", "x" * 65, "", "lunch", "meeting"])
        d.setdefault("agent", "A002")
        return json.dumps(d, ensure_ascii=False).encode()
    if kind == 26:  # survey results and qa items, good and bad
        d["type"] = "survey"
        d["result"] = rng.choice(["satisfied", "neutral", "dissatisfied", "happy"])
        d.setdefault("agent", "A003")
        d.setdefault("call", "cx")
        return json.dumps(d).encode()
    if kind == 27:
        d["type"], d["item"] = "qa", rng.choice(["recording", "text", "exam", "x"])
        d["score"] = rng.choice([88, 88.25, 100, 100.5, 0, -1])
        d["month"] = rng.choice(["2026-11", "2026-13", "1999-12", "2026-1"])
        d.setdefault("agent", "A004")
        return json.dumps(d).encode()
    if kind == 28:  # src without seq, seq without src
        d.pop(rng.choice(["src", "seq"]), None)
        return json.dumps(d).encode()
    if kind == 29:  # wait_ms at and past its bound, epoch
        d["wait_ms"] = rng.choice([0, 86_400_000, 86_400_001, 12.5])
        d["epoch"] = rng.choice([1, 2**53, 2**53 + 1])
        return json.dumps(d).encode()
    if kind == 30:  # leading zero, plus sign
        return json.dumps(d).replace(f'"ts": {d["ts"]}', f'"ts": 0{d["ts"]}').encode()
    if kind == 31:  # trailing garbage and trailing comma
        s = json.dumps(d)
        return (s + "x").encode() if rng.random() < 0.5 else (s[:-1] + ",}").encode()
    if kind == 32:  # a manual entry between scanned lines
        return json.dumps({"type": "adjust", "ts": d["ts"], "agent": "A005",
                           "points": 1.5, "reason": "good work 好"}).encode()
    # kind 33: a new agent and queue first seen here (interning order)
    d["agent"], d["queue"] = f"N{k:05d}", f"q{k % 7}"
    d.setdefault("call", f"n{k}")
    return json.dumps(d).encode()


def hostile_file(tmp_path: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    out = [b"\xef\xbb\xbf" + LINES[0]]
    for k, line in enumerate(LINES[1:n], 1):
        out.append(odd_line(line, rng.randrange(34 * 100), rng) if rng.random() < 0.3 else line)
    p = tmp_path / f"hostile{seed}.jsonl"
    p.write_bytes(b"\n".join(out))  # no newline at the end
    return p
