"""kernels/layout.py itself, and how the kernels are called (kefu_floor.kernelcall).

The layout is a page of integers that numba folds into the kernels: nothing checks it at
run time, so a column written twice or past its table's width, or a code table out of step
with the wire format, would corrupt state silently. These tests are that check.
"""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

from harness import HW
from kefu_floor import schema
from kefu_floor.views import floorview, report
from kefu_floor.kernelcall import BATCH_COLUMNS, kernel_params
from kernels import floor as kf
from kernels import guard as kg
from kernels import inputs as ki
from kernels import layout as K
from kernels import stats as ks

KERNELS = Path(kf.__file__).parent

# table prefix -> (module, width constant); M_QA_SUM and M_QA_N each span N_QA columns
TABLES = {
    "A_": (K, "A_K"), "S_": (K, "S_K"), "BK_": (K, "BK_K"), "D_": (K, "D_K"),
    "M_": (K, "M_K"), "Q_": (K, "Q_K"), "AR_": (K, "AR_K"), "L_": (K, "L_K"),
    "X_": (K, "X_K"), "I_": (K, "I_K"), "CV_": (K, "CV_K"), "G_": (K, "G_K"),
    "P_": (K, "P_K"), "GS_": (kg, "GS_K"), "O_": (kg, "O_K"), "LP_": (kg, "LP_K"),
    "H_": (ks, "H_K"),
}
SPANS = {"M_QA_SUM": K.N_QA, "M_QA_N": K.N_QA}


def columns(mod, prefix: str, width: str) -> dict[str, int]:
    return {n: v for n, v in vars(mod).items()
            if n.startswith(prefix) and n != width and isinstance(v, int)
            and not any(n.startswith(p) and len(p) > len(prefix) for p in TABLES)}


@pytest.mark.parametrize("prefix", sorted(TABLES))
def test_columns_are_unique_and_inside_their_table(prefix):
    mod, width = TABLES[prefix]
    cols = columns(mod, prefix, width)
    assert cols, f"no {prefix}* columns found"
    taken: dict[int, str] = {}
    for name, c in sorted(cols.items(), key=lambda kv: kv[1]):
        for k in range(c, c + SPANS.get(name, 1)):
            assert 0 <= k < getattr(mod, width), f"{name}={c} outside {width}"
            assert k not in taken, f"{name} and {taken[k]} share column {k}"
            taken[k] = name


def test_prefixes_name_one_table_each():
    """No name belongs to two tables' prefixes (the rule ids are R_, the agent roll AR_)."""
    codes = ("EV_", "ST_", "R_", "QA_", "SURVEY_", "ITEM_", "F_", "PH_", "CALL_", "N_")
    for name in vars(K):
        if not name.isupper():
            continue
        owners = [p for p in (*TABLES, *codes) if name.startswith(p)]
        owners = [p for p in owners if not any(q != p and q.startswith(p) for q in owners)]
        assert len(owners) <= 1, (name, owners)


def codes(prefix: str, exclude=()) -> dict[str, int]:
    return {n[len(prefix):].lower(): v for n, v in vars(K).items()
            if n.startswith(prefix) and n not in exclude}


def test_event_types_agree_with_the_schema():
    assert codes("EV_") == schema.TYPE_CODE
    assert K.N_EVENT_TYPES == len(schema.EVENT_TYPES)


def test_states_agree_with_the_read_side():
    assert codes("ST_") == {s: i for i, s in enumerate(floorview.STATES)}
    assert K.N_STATES == len(floorview.STATES)


def test_rules_agree_with_the_schema():
    rules = codes("R_")
    assert sorted(rules.values()) == list(range(K.N_RULES)) == list(range(len(schema.RULES)))
    for short, code in rules.items():  # R_BUSY is "busy_over_30", R_LUNCH "lunch_over_35"
        assert schema.RULES[code].startswith(short), (short, schema.RULES[code])
    assert len(K.RULE_COUNT_COL) == K.N_RULES
    assert all(c == -1 or c in columns(K, "D_", "D_K").values() for c in K.RULE_COUNT_COL)


def test_qa_items_and_survey_results_agree_with_the_schema():
    assert codes("QA_") == {q: i for i, q in enumerate(schema.QA_ITEMS)}
    assert K.N_QA == len(schema.QA_ITEMS)
    assert codes("SURVEY_", exclude=()) == {r: i for i, r in enumerate(schema.SURVEY_RESULTS)}
    assert K.N_SURVEY == len(schema.SURVEY_RESULTS)


def test_ledger_items_agree_with_the_report():
    assert set(report.ITEM_OF_LEDGER) == set(codes("ITEM_").values())


def test_flags_are_distinct_bits():
    flags = codes("F_").values()
    assert all(f > 0 and f & (f - 1) == 0 for f in flags)
    assert len(set(flags)) == len(flags)


def test_timer_phases_come_in_firing_order():
    assert (K.PH_START, K.PH_MISSING, K.PH_BREAK) == (0, 1, 2)


# ---------------------------------------------------------------- how kernels are called


def _kernel_defs() -> dict[str, list[str]]:
    """Every compiled function of kernels/*.py (module level, @njit): name -> parameters."""
    out: dict[str, list[str]] = {}
    for path in KERNELS.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and any(
                    "njit" in ast.dump(d) for d in node.decorator_list):
                assert node.name not in out or out[node.name] == [a.arg for a in node.args.args], \
                    f"two kernels named {node.name} with different parameters"
                out[node.name] = [a.arg for a in node.args.args]
    return out


def test_kernels_pass_each_named_array_at_its_parameter():
    """Inside the kernels calls are positional (numba): an argument named like one of the
    callee's parameters must sit at that parameter's place, so QROLL and QDAY (same dtype,
    same rank) cannot trade places at a call."""
    defs = _kernel_defs()
    checked = 0
    for path in KERNELS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in defs):
                continue
            params = defs[node.func.id]
            for pos, arg in enumerate(node.args):
                if isinstance(arg, ast.Name) and arg.id in params:
                    assert params.index(arg.id) == pos, (
                        f"{path.name}:{node.lineno}: {arg.id} passed at position {pos} of "
                        f"{node.func.id}{tuple(params)}")
                    checked += 1
    assert checked > 100  # the rule does bite: most state arrays are passed by their name


def test_the_check_catches_a_swap(tmp_path):
    src = "def f(QROLL, QDAY):\n    pass\n\ndef g(QROLL, QDAY):\n    f(QDAY, QROLL)\n"
    defs = {n.name: [a.arg for a in n.args.args] for n in ast.walk(ast.parse(src))
            if isinstance(n, ast.FunctionDef)}
    call = next(n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call))
    assert [defs["f"].index(a.id) for a in call.args] != list(range(len(call.args)))


ENTRY_POINTS = [(kf.apply_batch, {*BATCH_COLUMNS, "start", "ledger_keep_days"}),
                (kf.advance_all, {"t", "start"}),
                (kf.start_agents, {"t", "lo", "hi"}),
                (kf.call_table_insert_all, {"keys", "vals"}),
                (kg.admit, {*BATCH_COLUMNS, "epoch", "h", "ref", "final", "emit", "status",
                            "held", "C"}),
                (kg.admit_start, {*BATCH_COLUMNS, "h", "ref", "emit", "status", "held", "C"}),
                (kg.admit_rows, {*BATCH_COLUMNS, "epoch", "lo", "hi", "emit", "status", "held",
                                 "C"}),
                (kg.admit_end, {*BATCH_COLUMNS, "final", "emit", "status", "held", "C"}),
                (ks.batch_stats, {*BATCH_COLUMNS, "now", "received_ms", "skew_ms"}),
                (ks.side_passes, {*BATCH_COLUMNS, "now", "received_ms", "skew_ms"}),
                (ki.count_inputs, set(BATCH_COLUMNS))]


@pytest.mark.parametrize("fn,given", ENTRY_POINTS, ids=lambda x: getattr(x, "__name__", ""))
def test_every_entry_point_array_is_an_engine_array(fn, given):
    """What the engine does not give a kernel by name it passes from its own attribute of
    the parameter's name (kefu_floor.kernelcall): each must be one of its arrays."""
    import argparse

    from kefu_floor.cli.main import _setup
    from kefu_floor.engine import Engine

    hw = HW
    eng = Engine(_setup(argparse.Namespace(policy="chengdu-2014", roster=hw / "roster.csv",
                                           schedule=hw / "schedule.csv", site="cd1")))
    assert kernel_params(fn) == tuple(inspect.signature(fn.py_func).parameters)
    for name in kernel_params(fn):
        if name not in given:
            assert isinstance(getattr(eng, name, None), np.ndarray), f"{fn.__name__}: {name}"


def test_state_arrays_start_on_a_cache_line_after_growth_and_restore():
    """The agent record fills whole lines only if the table starts on one (numpy gives 16
    bytes): the engine allocates so, grows so, and restores a checkpoint so."""
    import argparse

    from kefu_floor.cli.main import _setup
    from kefu_floor.engine import Engine
    from kefu_floor.replay import replay
    from kefu_floor.store import state

    hw = HW
    args = argparse.Namespace(policy="chengdu-2014", roster=hw / "roster.csv",
                              schedule=hw / "schedule.csv", site="cd1")
    eng = Engine(_setup(args))
    replay(eng, hw / "events.jsonl")
    hot = ("A", "S", "DACC", "AROLL", "L")
    assert all(getattr(eng, n).ctypes.data % K.CACHE_LINE == 0 for n in hot)
    back = Engine(_setup(args))
    state.restore(back, state.capture(eng))
    assert all(getattr(back, n).ctypes.data % K.CACHE_LINE == 0 for n in hot)
    assert np.array_equal(back.A, eng.A) and np.array_equal(back.DACC, eng.DACC)
    assert K.A_K * 8 % K.CACHE_LINE == 0 and K.D_K * 8 % K.CACHE_LINE == 0
