"""The month's inputs (count and digest, close.json `inputs`), counted over each batch the
floor kernel applies (beside it, on a big batch): the same figures as one pass over the
applied events, and the same digest as every earlier version wrote (a re-close compares
against it)."""
import json
from pathlib import Path

import numpy as np

from harness import ROOT
from kefu_floor.batch import to_batch
from kefu_floor.engine import Engine, Setup
from kefu_floor.kernelcall import call_kernel
from kefu_floor.localtime import month_of
from kefu_floor.policy import load_policy
from kefu_floor.replay import replay
from kefu_floor.roster import load_roster, load_schedule
from kefu_floor.schema import decode_payload
from kernels import inputs as ki

DAY: Path = ROOT / "examples" / "day"


def _engine() -> Engine:
    pol = load_policy("chengdu-2014")
    return Engine(Setup(pol, load_roster(DAY / "roster.csv"),
                        load_schedule(DAY / "schedule.csv", pol.tz,
                                      pol.attendance.default_grace_min), "default"))


def test_the_example_days_digest_is_the_one_closes_already_hold():
    eng = _engine()
    replay(eng, DAY / "events.jsonl")
    # written by the separate counting pass this kernel replaced (and by every close since
    # the digest was added): changing it would make a re-close refuse its own month
    assert eng.month_inputs(month_of(eng.now, eng.policy.tz)) == (17618, "2f868ec7df4e7e8d")


def test_counted_over_applied_batches_as_one_pass_over_the_applied_events():
    lines = [x for x in (DAY / "events.jsonl").read_bytes().splitlines()
             if x.strip() and not x.startswith(b"#")]
    # with sources and sequence numbers (hashed into the digest), a few sent twice
    events = [dict(json.loads(x), src="gw1", seq=k + 1) for k, x in enumerate(lines)]
    events += events[100:110]
    good, bad = decode_payload(json.dumps(events).encode())
    assert not bad
    eng = _engine()
    for k in range(0, len(good), 997):  # batches the ledger and call table grow between
        eng.feed(good[k: k + 997])
    ref = _engine()
    b = to_batch(good[: len(lines)], ref.sym)  # the applied events: not the duplicates
    ref.agent_h = eng.agent_h[: len(ref.sym.agents.names)].copy()
    ref.tz_utc, ref.tz_off = eng.tz_utc, eng.tz_off
    call_kernel(ref, ki.count_inputs, {}, b)
    assert np.array_equal(eng.MIN, ref.MIN)
    m = month_of(eng.now, eng.policy.tz)
    assert eng.month_inputs(m)[0] == len(lines)
