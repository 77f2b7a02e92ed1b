"""An engine's complete state as bytes (the checkpoint format), and back.

Generic on purpose: every `np.ndarray` attribute of an `Engine` is captured, whatever its
name, so arrays other modules add to the engine are checkpointed without a change here.
Python attributes are listed explicitly (`PY_STATE`, with how each is encoded) or excluded
(`EXCLUDED`: rebuilt from the set-up, or a read-side cache); tests/live/test_store.py fails when
an engine attribute is in neither list.

Format (version `FORMAT`): b"KEFU-CKPT" + u16 version + u32 header length + JSON header +
the arrays, each zlib-compressed, in the order the header lists them; a CRC32 of the body is
in the header. A checkpoint is only used when the set-up it was taken with (policy
parameters, roster, shifts, breaks, time zone table: `setup_fingerprint`) and the kernels' array layout
are the same as now; otherwise it is refused with the reason.
"""
from __future__ import annotations

import hashlib
import json
import struct
import weakref
import zlib
from collections import Counter
from dataclasses import fields

import numpy as np

from kefu_floor.batch import Interner, Symbols
from kefu_floor.errors import KefuError
from kefu_floor.kernelcall import aligned_copy
from kernels import layout as K

# 2: the agent record's columns reordered hot-first into whole cache lines (kernels.layout
# A_*): a version-1 checkpoint's A would be read column-shuffled, so it is refused by name
# 3: the ledger keeps only the months still held (Engine._roll_ledger): `ledger_base` (the
# global number of L's first row) and `ledger_gone` (dropped rows per agent and rule) are
# new. A version-2 checkpoint is still read: its L holds every row from row 0, so it is
# restored with base 0 and nothing dropped, and the next day roll trims it
FORMAT = 3
READS = (2, 3)
# what a version-2 checkpoint lacks, and what it means there
_V2_DEFAULTS = {"python": {"ledger_base": 0}, "arrays": ("ledger_gone",)}
MAGIC = b"KEFU-CKPT"
_HEAD = struct.Struct(">HI")

# Python (non-array) attributes that are state, and their encoders
PY_STATE = ("n_agents", "sym", "rejected", "n_known", "ledger_base")
# attributes that are not state: the set-up the engine is built from, and the read side's
# record of changed agents (all of them count as changed after a restore) and of the
# deductions it has been handed (none of the restored ones are new)
# (`live`: how the engine was built; `held_events`: the held events' objects, only for
# dead-letter text, their rows are the held_* arrays)
EXCLUDED = ("setup", "policy", "roster", "site", "shifts", "dirty", "busy_dirty",
            "taken_busy", "booked_seen", "live", "held_events",
            # the ledger's retention setting (policy), the store's pin on unrecorded rows,
            # and the month index with its next roll time (rebuilt: Engine.ledger_restored)
            "ledger_keep_days", "ledger_pin", "_ledger_roll_at", "_lspan", "_lspan_n")
SETUP_ARRAYS = ("P", "BK", "tz_utc", "tz_off")  # S is not: the kernels keep marks in it


class CheckpointError(KefuError):
    """A checkpoint that cannot be used; the message says why."""


def _layout_hash() -> str:
    consts = sorted((k, v) for k, v in vars(K).items()
                    if k.isupper() and isinstance(v, (int, float)))
    return hashlib.blake2b(repr(consts).encode(), digest_size=8).hexdigest()


# engine -> (what its fingerprint was worked out from, the fingerprint): an engine's roster
# and shifts are set when it is built and never changed, and at 20,000 agents their repr
# took ~85 ms of every checkpoint on the service's event loop; the setup arrays are small
# and compared each time
_FINGERPRINTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def setup_fingerprint(engine) -> str:
    arrays = b"".join(name.encode() + str(a.dtype).encode() + repr(a.shape).encode()
                      + a.tobytes() for name in SETUP_ARRAYS
                      for a in (np.ascontiguousarray(getattr(engine, name)),))
    key = (engine.site, id(engine.shifts), id(engine.roster), len(engine.roster.people),
           arrays)
    kept = _FINGERPRINTS.get(engine)
    if kept is not None and kept[0] == key:
        return kept[1]
    h = hashlib.blake2b(digest_size=8)
    h.update(arrays)
    h.update(repr((engine.site, engine.shifts, sorted(engine.roster.people.items()))).encode())
    _FINGERPRINTS[engine] = (key, h.hexdigest())
    return h.hexdigest()


def _py_encode(name: str, v):
    if isinstance(v, Symbols):
        return {f.name: list(getattr(v, f.name).names) for f in fields(v)}
    if isinstance(v, Counter):
        return dict(v)
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    raise TypeError(f"engine attribute {name!r} of type {type(v).__name__} has no "
                    "checkpoint encoding (add one in kefu_floor/store/state.py)")


def _py_decode(current, v):
    if isinstance(current, Symbols):
        s = Symbols()
        for f in fields(s):
            it = Interner()
            for n in v[f.name]:
                it.id(n)
            setattr(s, f.name, it)
        return s
    if isinstance(current, Counter):
        return Counter(v)
    return v


def unclassified(engine) -> list[str]:
    """Engine attributes that are neither arrays, nor in PY_STATE, nor EXCLUDED."""
    return sorted(k for k, v in vars(engine).items()
                  if not isinstance(v, np.ndarray) and k not in PY_STATE and k not in EXCLUDED)


def capture(engine, extra: dict | None = None) -> bytes:
    """The engine's state (plus `extra`, JSON-able, e.g. the journal position) as bytes."""
    return freeze(engine, extra).encode()


class Frozen:
    """An engine's state copied, to be encoded later: `freeze` is the part that must see
    a consistent engine (a copy of each array, the Python state; at 20,000 agents about
    0.1 s), `encode` the slow part (zlib over ~300 MB of arrays, ~0.4 s), which reads only
    the copies, so a service runs it in a thread and its event loop is not held."""

    def __init__(self, header: dict, arrays: list[tuple[str, np.ndarray]]):
        self.header, self.arrays = header, arrays

    def encode(self) -> bytes:
        meta, chunks = [], []
        for name, v in self.arrays:
            raw = zlib.compress(v.data, 1)  # the copy's own buffer: no second copy
            meta.append({"name": name, "dtype": v.dtype.str, "shape": list(v.shape),
                         "size": len(raw)})
            chunks.append(raw)
        body = b"".join(chunks)
        header = {**self.header, "arrays": meta, "crc32": zlib.crc32(body)}
        hj = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
        return MAGIC + _HEAD.pack(FORMAT, len(hj)) + hj + body


def freeze(engine, extra: dict | None = None, reuse: Frozen | None = None) -> Frozen:
    """The engine's state as of now, copied (see Frozen); `extra` is kept as given (the
    caller builds it for this checkpoint). `reuse`: an earlier Frozen of the same engine,
    encoded and no longer needed, whose copies are written over where the shapes match (at 20,000 agents a fresh 300 MB copy spent more time faulting
    its pages in than copying)."""
    missing = unclassified(engine)
    if missing:
        raise TypeError(f"engine attributes {missing} are neither captured nor excluded "
                        "(kefu_floor/store/state.py PY_STATE / EXCLUDED)")
    spare = dict(reuse.arrays) if reuse is not None else {}
    arrays = []
    for name, v in sorted(vars(engine).items()):
        if not isinstance(v, np.ndarray):
            continue
        old = spare.get(name)
        if old is not None and old.shape == v.shape and old.dtype == v.dtype:
            np.copyto(old, v)
            arrays.append((name, old))
        else:
            arrays.append((name, np.array(v, order="C", copy=True)))
    # the header's keys in the order the format has always written them
    header = {"format": FORMAT, "layout": _layout_hash(), "setup": setup_fingerprint(engine),
              "site": engine.site, "arrays": None, "crc32": None,
              "python": {k: _py_encode(k, getattr(engine, k)) for k in PY_STATE},
              "extra": extra or {}}  # the caller builds it for this checkpoint
    return Frozen(header, arrays)


def read_header(blob: bytes) -> tuple[dict, memoryview]:
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _HEAD.size:
        raise CheckpointError("not a kefu-floor checkpoint (bad magic)")
    version, hlen = _HEAD.unpack_from(blob, len(MAGIC))
    if version not in READS:
        raise CheckpointError(f"checkpoint format version {version}; this kefu-floor reads "
                              f"version {'/'.join(map(str, READS))} only")
    start = len(MAGIC) + _HEAD.size
    try:
        header = json.loads(bytes(blob[start:start + hlen]))
    except ValueError as e:
        raise CheckpointError(f"header does not decode ({e})") from None
    return header, memoryview(blob)[start + hlen:]


def restore(engine, blob: bytes) -> dict:
    """Load `blob` into `engine` (built from the current set-up); returns its `extra`.
    Raises CheckpointError (and leaves the engine untouched) when it cannot be used."""
    header, body = read_header(blob)
    v2 = header.get("format") == 2
    if header.get("layout") != _layout_hash():
        raise CheckpointError("taken by a kefu-floor whose kernels lay out state differently")
    if header.get("setup") != setup_fingerprint(engine):
        raise CheckpointError("taken with another policy, roster schedule or site than now")
    if zlib.crc32(body) != header.get("crc32"):
        raise CheckpointError("checksum mismatch: the checkpoint is damaged")
    loaded, off = {}, 0
    try:
        for a in header["arrays"]:
            raw = zlib.decompress(body[off:off + a["size"]])
            off += a["size"]
            # on a cache-line boundary, as the engine makes them (kefu_floor.kernelcall)
            arr = aligned_copy(np.frombuffer(raw, np.dtype(a["dtype"])).reshape(a["shape"]))
            cur = getattr(engine, a["name"], None)
            if isinstance(cur, np.ndarray) and (cur.dtype != arr.dtype or cur.ndim != arr.ndim):
                raise CheckpointError(f"array {a['name']} is {arr.dtype}/{arr.ndim}-d there, "
                                      f"{cur.dtype}/{cur.ndim}-d here")
            loaded[a["name"]] = arr
        now = {k for k, v in vars(engine).items() if isinstance(v, np.ndarray)}
        if v2:  # the fresh engine's own (empty) arrays stand for what version 2 had not
            now -= set(_V2_DEFAULTS["arrays"])
        if now - set(loaded):
            raise CheckpointError(f"it has no {sorted(now - set(loaded))} (taken by an older "
                                  "kefu-floor)")
        saved = {**_V2_DEFAULTS["python"], **header["python"]} if v2 else header["python"]
        py = {k: _py_decode(getattr(engine, k), saved[k]) for k in PY_STATE}
    except (KeyError, ValueError, TypeError, zlib.error) as e:
        raise CheckpointError(f"body does not decode ({type(e).__name__}: {e})") from None
    for k, v in loaded.items():
        setattr(engine, k, v)
    for k, v in py.items():
        setattr(engine, k, v)
    engine.dirty = None
    engine.ledger_restored()  # the month index again; the read side has seen every row
    return header.get("extra", {})
