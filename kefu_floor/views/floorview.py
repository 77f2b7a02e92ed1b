"""The live floor as JSON-ready dicts: full snapshot, per-agent/queue/team entries, deltas.

Pure read side over an engine (no I/O): the websocket feed, the TUI and the metrics
exporter all read these, so each number is computed in one place. Versioned as
`kefu-floor/feed/1` (README "Live feed").
"""
from __future__ import annotations

import collections
import math

import numpy as np

from kefu_floor import stats
from kefu_floor.engine import Engine
from kefu_floor.i18n import default_lang
from kefu_floor.localtime import day_date, day_str, local_day_of, local_ms, month_of
from kefu_floor.views.report import ITEM_OF_LEDGER, MonthView, _facts, _num
from kefu_floor.schema import RULES
from kefu_floor.scoring import assign_stars, item_scores, weighted_score
from kefu_floor.i18n import t as label
from kernels import layout as K
from kernels import stats as KS

FEED_SCHEMA = "kefu-floor/feed/1"
STATES = ("out", "ready", "busy", "ringing", "talking", "wrap")
FLAG_NAMES = ((K.F_MISSING, "missing"), (K.F_LATE, "late"), (K.F_LEFT_EARLY, "left_early"),
              (K.F_ABSENT, "absent"), (K.F_LATE_RETURN, "late_return"),
              (K.F_UNKNOWN, "unknown"), (K.F_IN_SHIFT, "in_shift"), (K.F_IN_BREAK, "in_break"))
# "Attention now" (the exceptions view): what is wrong with the agent's current shift. An
# agent outside a shift needs no attention, whatever happened in an earlier one.
ATTENTION_FLAGS = ("missing", "late_return", "left_early", "late")
BAND_ITEMS = ("aht", "satisfaction", "answer_rate")


def _ratio(a: float, b: float):
    return None if b <= 0 else round(a / b, 4)


_MIDNIGHT = __import__("datetime").time(0)


def _site_rows(rows: np.ndarray) -> np.ndarray:
    """Queue bucket rows (n, Q_K) folded into one: counts add up, the longest wait is the
    longest of them."""
    if rows.ndim == 1:
        return rows
    out = rows.sum(axis=0) if len(rows) else np.zeros(K.Q_K)
    if len(rows):
        out[K.Q_WAIT_MAX] = rows[:, K.Q_WAIT_MAX].max()
    return out


def label_points(pol, rule: str):
    """Points a rule books (busy: the first step's; floor rules: set per entry)."""
    a = pol.attendance
    return {"busy_over_30": pol.busy.first_points, "late_sign_in": a.late_sign_in_points,
            "late_return": a.late_return_points, "early_leave": a.early_leave_points,
            "absent": a.absent_points}.get(rule)


def _window(rows: np.ndarray) -> dict:
    """Sum of queue buckets -> the floor's KPIs (POLICY.md §6)."""
    off, ans, sl, ab, ab_short, wait_sum, wait_max = (float(x) for x in rows[: K.Q_K])
    counted = ans + ab - ab_short
    return {"offered": int(off), "answered": int(ans), "answered_in_sl": int(sl),
            "abandoned": int(ab), "abandoned_short": int(ab_short),
            "service_level": _ratio(sl, counted),
            "asa_s": round(wait_sum / ans / 1000.0, 3) if ans else None,
            "abandon_rate": _ratio(ab, ans + ab),
            "max_wait_s": round(wait_max / 1000.0, 3)}


def _band(pol, item: str, value) -> int | None:
    """Index of the policy band `value` falls in (len(bands) = the catch-all below/above)."""
    if value is None:
        return None
    # plain loops: called three times per agent entry, a generator's set-up cost more
    # than the few comparisons
    if item == "aht":
        maxes = pol.bands.aht.max
        for i, m in enumerate(maxes):
            if value <= m:
                return i
        return len(maxes)
    mins = getattr(pol.bands, item).min
    pct = value * 100
    for i, m in enumerate(mins):
        if pct >= m - 1e-9:
            return i
    return len(mins)


# what `_patch_busy` moves in an entry (and "attention" for an agent in a shift)
_BUSY_FIELDS = ("busy_today_s", "budget_left_s", "over_budget")
_BUSY_FIELDS_ATTENTION = _BUSY_FIELDS + ("attention",)
_EXCEPTION_FLAGS = frozenset(("missing", "late", "left_early", "absent", "late_return"))
_TODAY_COUNTS = ("offered", "answered", "talks", "surveys", "satisfied")


class LiveMonth(MonthView):
    """A MonthView kept up to date in place for the live snapshot: a step re-sums the month
    of the changed agents only, and ranks the stars again only when a score moved. Any
    change of layout (another month, new agents, a day slot reused, an array regrown)
    makes the caller build a new one."""

    def __init__(self, eng: Engine, month: int):
        super().__init__(eng, month)
        self._key = self._layout()
        people = eng.roster.people
        names = eng.sym.agents.names
        # who is ranked for stars (MonthView's rule): not a leader, not on probation
        self._ranked = np.array([a not in self.leader_ids and not (
            a in people and people[a].probation) for a in names[: self.n]], bool)
        self._booked = (eng.ledger_booked, self._floor_booked())

    def _layout(self) -> tuple:
        # the engine's agent count, not self.n: an agent interned since (an id not in the
        # roster, a new hire's first event) must make a new view, not index past this one
        e = self.eng
        return (len(e.sym.agents), id(e.DACC), id(e.MACC), e.slot_day.tobytes(),
                e.slot_month.tobytes())

    def current(self, month: int) -> bool:
        return month == self.month and self._layout() == self._key

    def refresh(self, ids: np.ndarray) -> np.ndarray:
        """Re-read the month of agents `ids`; returns the ids whose items, score or star
        moved (those of `ids`, and anyone a re-ranking moved)."""
        eng = self.eng
        if len(ids) and self.slots:
            self.D[ids] = eng.DACC[self.slots][:, ids, :].sum(axis=0)
        n_led = eng.ledger_booked  # rows ever booked: a day roll's trim does not move it
        if n_led != self._booked[0]:
            self._booked = (n_led, self._floor_booked())
        self.present = self.has_shift | (self.D[:, K.D_SIGN_INS] > 0)
        self.site_data = self.present | (self.D[:, K.D_FLOOR_N] != 0) | self._booked[1]
        pol = eng.policy
        old_items, old_score = self.items, self.score
        self.items = item_scores(pol, self.D, self.M, self.present, self.site_data)
        self.adjust = self.M[:, K.M_ADJ]
        self.score = weighted_score(pol, self.items, self.adjust)
        moved = ~_same(old_score, self.score)
        for k, v in self.items.items():
            moved |= ~_same(old_items[k], v)
        out = set(np.flatnonzero(moved).tolist())
        if moved.any():
            old_stars = self.stars
            names = self.eng.sym.agents.names
            ok = self._ranked & ~np.isnan(self.score)
            self.stars = assign_stars(pol, {names[i]: float(self.score[i])
                                            for i in np.flatnonzero(ok)})
            ids_of = self.eng.sym.agents.ids
            out |= {ids_of[a] for a in set(old_stars) | set(self.stars)
                    if old_stars.get(a) != self.stars.get(a)}
        return np.array(sorted(out), np.int64)


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))


class _Tally:
    """Head counts over agent entries, one definition for the wallboard, the TUI and the
    metrics: agents by state and busy reason, signed in against scheduled (in a shift
    now), over the busy budget today, missing at shift start, needing attention now,
    occupancy. Kept as counts: an agent's entry is taken out and put back in when it
    changes, so the floor's (and each team's) figures cost what changed."""

    def __init__(self):
        self.c: collections.Counter = collections.Counter()

    def add(self, a: dict, sign: int) -> None:
        c = self.c
        st = a["state"]
        c[st] += sign  # a state's name is its key; a busy reason's is keyed by _reason_key
        if st == "busy":
            c[_reason_key(a.get("reason") or "-")] += sign
        flags = a["flags"]
        if "in_shift" in flags:
            c["#scheduled"] += sign
            if st != "out":
                c["#signed_sched"] += sign
        if a.get("over_budget", False):
            c["#over"] += sign
        if "missing" in flags:
            c["#missing"] += sign
        if a.get("attention"):
            c["#attention"] += sign

    def busy_shift(self, over: int, attention: int, busy_ds: int = 0) -> None:
        """Counts moved by entries whose busy figures alone moved (busy time, budget left,
        over budget, attention): `busy_change` of each, summed over any number of them,
        the same as taking each old entry out and putting its new one in."""
        c = self.c
        c["#over"] += over
        c["#attention"] += attention

    def result(self) -> dict:
        c = self.c
        by_state = {s: c[s] for s in STATES}
        by_reason = {k[2:]: v for k, v in c.items() if k[:2] == "r:" and v}
        working = by_state["ringing"] + by_state["talking"] + by_state["wrap"]
        avail = working + by_state["ready"]
        return {"by_state": by_state, "occupancy": _ratio(working, avail),
                "busy_by_reason": dict(sorted(by_reason.items())),
                "signed_in": sum(by_state.values()) - by_state["out"],
                "scheduled": c["#scheduled"], "scheduled_signed_in": c["#signed_sched"],
                "over_budget": c["#over"], "missing": c["#missing"],
                "attention": c["#attention"]}


_reason_keys: dict[str, str] = {}


def _reason_key(reason: str) -> str:
    # strings, not (kind, name) tuples: a string caches its hash, a tuple is hashed anew
    # at every count, and the floor counts every changed entry twice
    k = _reason_keys.get(reason)
    if k is None:
        k = _reason_keys[reason] = "r:" + reason
    return k


def round1(x: np.ndarray) -> np.ndarray:
    """Python's round(v, 1) of each float (numpy's rounds x * 10, which can cross a half
    that the exact value does not): the same float, as `_agent`'s figures are made."""
    y = x * 10.0
    out = np.rint(y) / 10.0
    # only a value within a hair of a half can come out differently: done by Python
    for k in np.flatnonzero(np.abs(y - np.floor(y) - 0.5) < 1e-6).tolist():
        out[k] = round(float(x[k]), 1)
    return out


def busy_change(old: dict, new: dict) -> tuple[int, int, int]:
    """What putting `new` in place of `old` (only busy figures moved) does to the counts:
    over budget, needing attention, and (agents, not leaders) busy tenths of a second."""
    ds = 0 if new.get("role") == "leader" else (
        round(new["busy_today_s"] * 10) - round(old["busy_today_s"] * 10))
    return (bool(new.get("over_budget", False)) - bool(old.get("over_budget", False)),
            bool(new.get("attention")) - bool(old.get("attention")), ds)


class _TeamTally(_Tally):
    """A team's figures kept as counts: the floor's head counts over its agents and
    leaders, and over its agents (not leaders) the team score (mean of their scores,
    POLICY.md §3, as the report's `leaders`), stars held, today's sums, mean busy time
    and how many have an exception. Sums are of integers (scores in hundredths, busy time
    in tenths of a second, talk time in ms, as the entries round them), so taking an
    entry out and putting another in gives exactly what summing the team afresh does."""

    def __init__(self):
        super().__init__()
        self.leaders: dict[str, str] = {}  # leader -> name (or id) shown

    def add(self, r: dict, sign: int) -> None:
        super().add(r, sign)
        c = self.c
        c["#rows"] += sign
        today = r["today"]
        c["#answered_today"] += sign * today["answered"]
        if r.get("role") == "leader":
            if sign > 0:
                self.leaders[r["agent"]] = r["name"] or r["agent"]
            else:
                self.leaders.pop(r["agent"], None)
            return
        c["#agents"] += sign
        if r["score"] is not None:
            c["#scored"] += sign
            c["#score_c"] += sign * round(r["score"] * 100)
        if r.get("star") is not None:
            c["*" + str(r["star"])] += sign
        for k in _TODAY_COUNTS:
            c[k] += sign * today.get(k, 0)
        c["#talk_ms"] += sign * round(today.get("talk_s", 0) * 1000)
        c["#busy_ds"] += sign * round(r["busy_today_s"] * 10)
        if not _EXCEPTION_FLAGS.isdisjoint(r["flags"]):
            c["#exceptions"] += sign

    def busy_shift(self, over: int, attention: int, busy_ds: int = 0) -> None:
        super().busy_shift(over, attention)
        self.c["#busy_ds"] += busy_ds

    def _busy_figures(self) -> dict:
        # the team figures an entry's busy figures move (and so all `busy_result` redoes)
        c = self.c
        n = c["#agents"]
        return {"over_budget": c["#over"], "attention": c["#attention"],
                "busy_mean_s": round(c["#busy_ds"] / n / 10, 1) if n else None}

    def busy_result(self, prev: dict) -> dict:
        """`result` of a team whose entries' busy figures alone moved since `prev` (its
        last result): the figures those move, the rest kept."""
        return {**prev, **self._busy_figures()}

    def empty(self) -> bool:
        return not self.c["#rows"]

    def result(self, team: str) -> dict:
        c = self.c
        head = super().result()
        n = c["#agents"]
        score = round(c["#score_c"] / c["#scored"] / 100, 2) if c["#scored"] else None
        stars = {k[1:]: v for k, v in c.items() if k[:1] == "*" and v}
        talks = c["talks"]
        leaders = sorted(self.leaders)
        return {
            "team": team, "agents": n,
            "leaders": leaders,
            "leader_names": [self.leaders[a] for a in leaders],
            **head,
            "in_shift": head["scheduled"],
            "mean_score": score, "score": score,
            "stars": dict(sorted(stars.items())),
            "answered_today": c["#answered_today"],
            "today": {"offered": c["offered"], "answered": c["answered"],
                      "aht_s": round(c["#talk_ms"] / 1000 / talks, 1) if talks else None,
                      "answer_rate": _ratio(c["answered"], c["offered"]),
                      "satisfaction": _ratio(c["satisfied"], c["surveys"])},
            **self._busy_figures(),
            "exceptions": c["#exceptions"],
        }


class FloorView:
    def __init__(self, eng: Engine, lang: str | None = None):
        self.eng = eng
        # set by the live service: the durable store's health, sent as the optional "store"
        self.store_status = None
        self.lang = lang or default_lang()  # the service's language: a screen's default
        self.forget()

    def forget(self) -> None:
        """Drop the incremental snapshot's state: the next snapshot is built whole (after a
        failed step, whose half-updated state must not be diffed against)."""
        # the incremental snapshot's state: what the last one held, so the next one
        # rebuilds, re-adds and diffs only what changed (`snapshot(incremental=True)`)
        self._agents: dict[str, dict] | None = None  # last entries
        self._n_built = 0  # agent ids the last entries covered
        self._month: LiveMonth | None = None
        self._month_moved: set[int] = set()  # ids whose month figures the last step moved
        self._R: np.ndarray | None = None  # (n, 3) last-60-minute sums per agent
        self._R_min: int | None = None  # the minute they are for
        self._tally = _Tally()  # the floor's head counts over the last entries
        self._team_tally: dict[str, _TeamTally] = {}  # each team's, over the same
        self._teams_moved: set[str] = set()  # teams an entry went into or out of since
        self._teams_busy: set[str] = set()  # teams whose entries' busy figures alone moved
        # agents whose entry the last step patched rather than rebuilt -> the only fields
        # the patch may have moved (a compact delta sends just those)
        self._fields: dict[str, tuple[str, ...]] = {}
        self._teams: dict[str, dict] | None = None  # last team entries (no deductions)
        self._ded: tuple | None = None  # (ledger rows, deductions_by_team) last merged
        self._recent: tuple | None = None  # ((ledger rows, day), recent) last built
        self._policy: dict | None = None
        # what the last step may have changed: agent names, team names (None: anything)
        self._hint: set[str] | None = None
        self._team_hint: set[str] | None = None
        self._prev: dict | None = None  # the last incremental snapshot

    # ---------------------------------------------------------------- pieces
    def month_view(self) -> MonthView:
        return MonthView(self.eng, month_of(self.eng.now, self.eng.policy.tz))

    def _roll_rows(self, minutes: int) -> list[int]:
        now_min = self.eng.now // K.MINUTE_MS
        rm = self.eng.roll_min
        return [s for s in range(K.N_ROLL) if now_min - minutes < rm[s] <= now_min]

    def agents(self, mv: MonthView, only: set[int] | None = None,
               busy: set[int] = frozenset()) -> dict[str, dict]:
        """Entries of every agent, or (with `only`) of those ids merged into the last ones
        (and whoever else the month's figures or the rolling window moved); the agents of
        `busy` (whose busy time only grew) get just those figures patched."""
        eng = self.eng
        names = eng.sym.agents.names
        n = len(names)
        slot_of = self.slot_of_day()
        if only is None or self._agents is None:
            self._R = None
        moved_window = self._window_sums(sorted(i for i in (only or ()) if i < n))
        R = self._R
        if only is None or self._agents is None:
            ids: list[int] = list(range(n))
            out: dict[str, dict] = {}
            patch: list[int] = []
            busy_patch: list[int] = []
            self._tally = _Tally()
            self._team_tally = {}
            self._hint = None
        else:
            out = dict(self._agents)
            todo = set(only) | self._month_moved
            todo |= set(range(self._n_built, n))  # ids that appeared since
            ids = sorted(i for i in todo if i < n)
            # only the last-60-minute figures moved, or only the busy time grew: the rest
            # of the entry stands
            patch = sorted(moved_window - set(ids))
            busy_patch = sorted(i for i in busy if i < n and i not in todo)
            self._hint = {names[i] for i in ids} | {names[i] for i in patch} | {
                names[i] for i in busy_patch}
        self._teams_moved = set()
        self._teams_busy = set()
        count = self._count
        for i in ids:
            old = out.get(names[i])
            # the month's items of an agent the month step did not move stand as they were
            e = self._agent(i, mv, slot_of, R, None if old is None or only is None
                            or i in self._month_moved else old["items"])
            if old is not None:
                count(old, -1)
            if e is None:
                out.pop(names[i], None)
            else:
                out[names[i]] = e
                count(e, +1)
        self._fields = {}
        if busy_patch:
            self._patch_busy(out, busy_patch, slot_of)
        fields = self._fields
        for i in patch:
            a = names[i]
            old = out.get(a)
            if old is not None:
                out[a] = {**old, "last_60m": self._last_60m(R, i)}
                fields[a] = fields.get(a, ()) + ("last_60m",)
        self._agents = out
        self._n_built = n
        return out

    def _patch_busy(self, out: dict[str, dict], ids: list[int], slot_of: dict) -> None:
        """Busy time, budget left, over budget (and so attention) of agents whose busy time
        alone moved, as `_agent` works them out (the figures read for all of them at once:
        a tick moves every busy agent's)."""
        eng = self.eng
        names = eng.sym.agents.names
        budget = float(eng.P[K.P_BUDGET_MS])
        fields = self._fields
        idx = np.asarray(ids, np.int64)
        slots = np.array([slot_of.get(d, -1) for d in eng.A[idx, K.A_CTX_DAY].tolist()],
                         np.int64)
        busy = np.where(slots >= 0, eng.DACC[np.maximum(slots, 0), idx, K.D_BUSY_MS],
                        0.0).astype(np.float64)
        over_l = (busy > budget).tolist()
        # the figures `_agent` works out, for all of them at once (and rounded as it does)
        busy_l = round1(busy / 1000.0).tolist()
        left_l = round1(np.maximum(0.0, budget - busy) / 1000.0).tolist()
        # the counts' moves summed per team, then applied once each (a tick patches every
        # busy agent: at 20,000 agents two counter updates per entry were a tenth of a step)
        by_team: dict[str, list[int]] = {}
        for k, i in enumerate(ids):
            a = names[i]
            old = out.get(a)
            if old is None:
                continue
            over = over_l[k]
            e = {**old, "busy_today_s": busy_l[k], "budget_left_s": left_l[k],
                 "over_budget": over}
            if "in_shift" in old["flags"]:
                e["attention"] = [x for x in old["attention"] if x != "over_budget"] + (
                    ["over_budget"] if over else [])
                fields[a] = _BUSY_FIELDS_ATTENTION
            else:
                fields[a] = _BUSY_FIELDS
            d_over, d_att, d_ds = busy_change(old, e)
            team = old["team"] or "-"
            acc = by_team.get(team)
            if acc is None:
                by_team[team] = [d_over, d_att, d_ds]
            else:
                acc[0] += d_over
                acc[1] += d_att
                acc[2] += d_ds
            out[a] = e
        floor_over = floor_att = 0
        for team, (d_over, d_att, d_ds) in by_team.items():
            self._team_tally[team].busy_shift(d_over, d_att, d_ds)
            floor_over += d_over
            floor_att += d_att
        self._tally.busy_shift(floor_over, floor_att)
        # teams whose entries' busy figures alone moved: their result is patched (unless
        # an entry also went in or out of them this step: `_teams_moved`)
        self._teams_busy |= by_team.keys()

    def _count(self, e: dict, sign: int) -> None:
        """Take an entry out of (-1) or put it into (+1) the floor's and its team's counts
        (the last-60-minute figures count in neither, so their patch skips this)."""
        self._tally.add(e, sign)
        team = e["team"] or "-"
        t = self._team_tally.get(team)
        if t is None:
            t = self._team_tally[team] = _TeamTally()
        t.add(e, sign)
        self._teams_moved.add(team)

    def slot_of_day(self) -> dict[int, int]:
        """Day number -> the DACC ring slot holding it (the engine's slot lookup)."""
        return {int(d): s for s, d in enumerate(self.eng.slot_day) if d >= 0}

    def _window_sums(self, ids: list[int]) -> set[int]:
        """Keep each agent's last-60-minute sums (answered, talk ms, talks) in `self._R`:
        for everyone when engine time entered another minute (returns whose sums moved,
        the only entries a minute boundary changes), else for `ids` only."""
        eng = self.eng
        n = len(eng.sym.agents.names)
        now_min = eng.now // K.MINUTE_MS
        old = self._R
        if old is None or old.shape[0] != n or self._R_min != now_min:
            AR = eng.AROLL[:, :n, :]
            fresh = (AR[:, :, K.AR_MINUTE] > now_min - 60) & (AR[:, :, K.AR_MINUTE] <= now_min)
            R = (AR[:, :, : K.AR_MINUTE] * fresh[:, :, None]).sum(axis=0)
            self._R, self._R_min = R, now_min
            if old is None:
                return set(range(n))
            m = min(len(old), n)
            return set(np.flatnonzero((R[:m] != old[:m]).any(axis=1)).tolist()) | set(
                range(m, n))
        if ids:
            AR = eng.AROLL[:, ids, :]
            fresh = (AR[:, :, K.AR_MINUTE] > now_min - 60) & (AR[:, :, K.AR_MINUTE] <= now_min)
            self._R[ids] = (AR[:, :, : K.AR_MINUTE] * fresh[:, :, None]).sum(axis=0)
        return set()

    @staticmethod
    def _last_60m(R: np.ndarray, i: int) -> dict:
        return {"answered": int(R[i, K.AR_ANSWERED]),
                "aht_s": round(float(R[i, K.AR_TALK_MS] / R[i, K.AR_TALKS]) / 1000.0, 1)
                if R[i, K.AR_TALKS] else None}

    def _agent(self, i: int, mv: MonthView, slot_of: dict, R: np.ndarray,
               items: dict | None = None) -> dict | None:
        eng = self.eng
        A = eng.A
        a = eng.sym.agents.names[i]
        p = eng.roster.people.get(a)
        day = int(A[i, K.A_CTX_DAY])
        s = slot_of.get(day)
        today = eng.DACC[s, i] if s is not None else np.zeros(K.D_K)
        busy = float(today[K.D_BUSY_MS])
        flags = int(A[i, K.A_FLAGS])
        k = int(A[i, K.A_CURSOR])
        shift = None
        if k < A[i, K.A_SH_HI]:
            shift = {"start": int(eng.S[k, K.S_START]), "end": int(eng.S[k, K.S_END]),
                     "day": day_str(int(eng.S[k, K.S_DAY]))}
        st = int(A[i, K.A_STATE])
        talks = float(today[K.D_TALKS])
        score = mv.score[i]
        over = busy > float(eng.P[K.P_BUDGET_MS])
        attention: list[str] = []
        if flags & K.F_IN_SHIFT:
            attention = [n for bit, n in FLAG_NAMES if flags & bit and n in ATTENTION_FLAGS]
            if over:
                attention.append("over_budget")
        D = mv.D[i]
        month_vals = {
            "aht": float(D[K.D_TALK_MS] / D[K.D_TALKS]) / 1000.0 if D[K.D_TALKS] else None,
            "satisfaction": float(D[K.D_SATISFIED] / D[K.D_SURVEYS]) if D[K.D_SURVEYS]
            else None,
            "answer_rate": float(D[K.D_ANSWERED] / D[K.D_OFFERED]) if D[K.D_OFFERED]
            else None}
        return {
            "agent": a, "name": p.name if p else None, "team": p.team if p else None,
            "role": p.role if p else "agent",
            "state": STATES[st],
            "reason": (eng.sym.reasons.names[int(A[i, K.A_REASON])] or None)
            if st == K.ST_BUSY else None,
            "since": int(A[i, K.A_SINCE]) if A[i, K.A_SINCE] else None,
            "flags": [n for bit, n in FLAG_NAMES if flags & bit],
            "shift": shift,
            "day": day_str(day) if day else None,
            "busy_today_s": round(busy / 1000.0, 1),
            "budget_left_s": round(max(0.0, float(eng.P[K.P_BUDGET_MS]) - busy) / 1000.0, 1),
            "over_budget": over,
            "attention": attention,
            "today": {"offered": int(today[K.D_OFFERED]),
                      "answered": int(today[K.D_ANSWERED]),
                      "aht_s": round(float(today[K.D_TALK_MS]) / talks / 1000.0, 1) if talks
                      else None,
                      "answer_rate": _ratio(float(today[K.D_ANSWERED]),
                                            float(today[K.D_OFFERED])),
                      "satisfaction": _ratio(float(today[K.D_SATISFIED]),
                                             float(today[K.D_SURVEYS])),
                      "utilization_points": _num(today[K.D_UTIL_PTS]),
                      "site_points": _num(today[K.D_SITE_PTS]),
                      # the counts behind the ratios, so a team's are summed, not averaged
                      "talks": int(talks), "talk_s": round(float(today[K.D_TALK_MS]) / 1000.0, 3),
                      "surveys": int(today[K.D_SURVEYS]),
                      "satisfied": int(today[K.D_SATISFIED])},
            "last_60m": self._last_60m(R, i),
            "items": items if items is not None else {
                k2: None if math.isnan(v[i]) else _num(v[i]) for k2, v in mv.items.items()},
            "bands": {k2: _band(eng.policy, k2, v) for k2, v in month_vals.items()},
            "score": None if math.isnan(score) else _num(score, 2),
            "star": mv.stars.get(a),
            "probation": bool(p.probation) if p else False,
        }

    def _calls(self, nq: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per queue from the call table: callers waiting (enqueued, not answered or
        abandoned, not ringing at a seat), calls ringing, and the enqueue time of the
        oldest waiting caller (int64 max when none)."""
        eng = self.eng
        k = eng.CKEY
        live = (k != K.CALL_EMPTY) & (k != K.CALL_TOMBSTONE)  # hashes may be negative
        V = eng.CVAL[live]
        ring = V[:, K.CV_RINGING] != 0
        q = V[:, K.CV_QUEUE]
        n = max(nq, 1)
        waiting = np.bincount(q[~ring], minlength=n)[:n]
        ringing = np.bincount(q[ring], minlength=n)[:n]
        oldest = np.full(n, np.iinfo(np.int64).max, np.int64)
        if (~ring).any():
            np.minimum.at(oldest, q[~ring], V[~ring, K.CV_TS])
        return waiting, ringing, oldest

    def _wait_s(self, oldest: int) -> float:
        if oldest == np.iinfo(np.int64).max:
            return 0.0
        return round(max(0, self.eng.now - int(oldest)) / 1000.0, 1)

    def queues(self) -> dict[str, dict]:
        eng = self.eng
        names = eng.sym.queues.names
        nq = len(names)
        waiting, ringing, oldest = self._calls(nq)
        today = local_day_of(eng.now, eng.policy.tz)
        ds = [s for s in range(K.N_DAY_SLOTS) if eng.slot_day[s] == today]
        out = {}
        windows = {w: self._roll_rows(w) for w in eng.policy.floor_live.windows_min}
        totals = stats.queue_totals(eng)
        for q, name in enumerate(names):
            out[name] = {
                "queue": name,
                # the kernel's running count; the call table says the same (tests hold both)
                "waiting": int(eng.qwait[q]),
                "ringing": int(ringing[q]),
                "longest_wait_s": self._wait_s(oldest[q]),
                "windows": {str(w): _window(eng.QROLL[rows, q, :].sum(axis=0) if rows
                                            else np.zeros(K.Q_K))
                            for w, rows in windows.items()},
                "today": _window(eng.QDAY[ds[0], q, :] if ds else np.zeros(K.Q_K)),
                **self._lifetime(q, totals),
            }
        return out

    def totals(self) -> dict:
        """The site's queue figures, all queues together (counts summed before any ratio)."""
        eng = self.eng
        nq = len(eng.sym.queues.names)
        waiting, ringing, oldest = self._calls(nq)
        today = local_day_of(eng.now, eng.policy.tz)
        ds = [s for s in range(K.N_DAY_SLOTS) if eng.slot_day[s] == today]
        sel = slice(0, nq)
        out = {"waiting": int(eng.qwait[:nq].sum()), "ringing": int(ringing[:nq].sum()),
               "longest_wait_s": self._wait_s(int(oldest[:nq].min()) if nq
                                              else np.iinfo(np.int64).max),
               "windows": {}, "today": _window(
                   _site_rows(eng.QDAY[ds[0], sel, :]) if ds else np.zeros(K.Q_K))}
        for w in eng.policy.floor_live.windows_min:
            rows = self._roll_rows(w)
            out["windows"][str(w)] = _window(
                _site_rows(eng.QROLL[rows][:, sel, :].reshape(-1, K.Q_K)) if rows
                else np.zeros(K.Q_K))
        return out

    def trend(self) -> dict:
        """Today's service level per bucket (policy `trend_bucket_min`), all queues: the
        history a board draws its intraday line from, keyed by bucket start (ms)."""
        eng = self.eng
        tz = eng.policy.tz
        bucket = int(eng.policy.floor_live.trend_bucket_min) * K.MINUTE_MS
        midnight = local_ms(day_date(local_day_of(eng.now, tz)), _MIDNIGHT, tz)
        nq = len(eng.sym.queues.names)
        acc: dict[int, np.ndarray] = {}
        for s in range(K.N_TR):
            start = int(eng.tr_slot[s]) * K.TR_MS
            if start < midnight or start > eng.now:
                continue
            b = midnight + (start - midnight) // bucket * bucket
            rows = _site_rows(eng.QTR[s, :nq, :])
            if b in acc:
                acc[b] = _site_rows(np.stack([acc[b], rows]))
            else:
                acc[b] = rows
        return {"bucket_min": bucket // K.MINUTE_MS, "day": day_str(local_day_of(eng.now, tz)),
                "buckets": {str(b): {"start": b, **_window(acc[b])} for b in sorted(acc)}}

    def _lifetime(self, q: int, totals: np.ndarray) -> dict:
        """Counts since the engine's state began (Prometheus counters): `totals`, and the
        queue waits per bucket of policy `wait_buckets_s` (last: over the last bound)."""
        eng = self.eng
        t = totals[q]
        return {"totals": {"offered": int(t[K.Q_OFFERED]), "answered": int(t[K.Q_ANSWERED]),
                           "answered_in_sl": int(t[K.Q_ANSWERED_SL]),
                           "abandoned": int(t[K.Q_ABANDONED]),
                           "abandoned_short": int(t[K.Q_ABANDONED_SHORT])},
                "waits": {out: {"counts": eng.qhist[k, q].astype(int).tolist(),
                                "sum_s": round(float(eng.qhist_sum[k, q]) / 1000.0, 3)}
                          for k, out in ((KS.OUT_ANSWERED, "answered"),
                                         (KS.OUT_ABANDONED, "abandoned"))}}

    def deduction(self, row: int) -> dict:
        eng = self.eng
        L = eng.L
        i = int(L[row, K.L_AGENT])
        a = eng.sym.agents.names[i]
        p = eng.roster.people.get(a)
        rule = RULES[int(L[row, K.L_RULE])]
        day = int(L[row, K.L_DAY])
        slot = next((s for s in range(K.N_DAY_SLOTS) if eng.slot_day[s] == day), None)
        busy = {} if slot is None else {
            day_str(day): _num(eng.DACC[slot, i, K.D_BUSY_MS] / 1000.0, 3)}
        facts = {} if rule == "floor" else _facts(eng, L[row], busy)
        return {"ts": int(L[row, K.L_TS]), "agent": a, "name": p.name if p else None,
                "team": p.team if p else None, "role": p.role if p else "agent",
                "rule": rule, "facts": facts,
                "rule_zh": label(rule, "zh"), "rule_en": label(rule, "en"),
                "item": ITEM_OF_LEDGER[int(L[row, K.L_ITEM])],
                "points": _num(L[row, K.L_POINTS]), "day": day_str(int(L[row, K.L_DAY])),
                "excused": bool(L[row, K.L_EXCUSED])}

    # ---------------------------------------------------------------- whole
    def snapshot(self, incremental: bool = False) -> dict:
        """Everything a screen needs, as of engine time. `incremental`: rebuild only what
        changed since the last incremental snapshot (the agents the engine marked, whoever
        the month's figures or the rolling window moved, their teams, the floor's counts)."""
        eng = self.eng
        dirty = eng.take_dirty() if incremental else None
        if eng.now is None:
            snap = {"schema": FEED_SCHEMA, "type": "snapshot", "site": eng.site, "now": None,
                    "lang": self.lang, "agents": {}, "teams": {}, "queues": {},
                    "floor": _Tally().result(), "counters": eng.counters(),
                    "policy": self.policy_info(), "quality": self.quality()}
            if self.store_status is not None:
                snap["store"] = self.store_status()
            self._prev = self._hint = self._team_hint = None
            return snap
        mv = self._live_month(dirty) if incremental else self.month_view()
        agents = self.agents(mv, dirty, eng.taken_busy if incremental else frozenset())
        teams = self._step_teams(agents)
        snap = {"schema": FEED_SCHEMA, "type": "snapshot", "site": eng.site, "now": eng.now,
                "lang": self.lang,
                "month": f"{mv.month // 12:04d}-{mv.month % 12 + 1:02d}",
                "policy": self.policy_info(), "agents": agents, "teams": teams,
                "queues": self.queues(), "totals": self.totals(), "trend": self.trend(),
                "floor": self._tally.result(), "counters": eng.counters(),
                "quality": self.quality(), "recent": self.recent()}
        if self.store_status is not None:  # optional: {"ok", "since"[, "detail"]}
            snap["store"] = self.store_status()
        self._prev = snap if incremental else None
        return snap

    def _live_month(self, dirty: set[int] | None) -> LiveMonth:
        """The month's figures for this step, and (`_month_moved`) whose moved."""
        eng = self.eng
        month = month_of(eng.now, eng.policy.tz)
        lm = self._month
        if lm is None or dirty is None or not lm.current(month):
            new = LiveMonth(eng, month)
            self._month_moved = (_moved_between(lm, new) if lm is not None
                                 and lm.month == month else set(range(new.n)))
            self._month = new
        else:
            self._month_moved = set(lm.refresh(np.array(sorted(dirty), np.int64)).tolist())
        return self._month

    def _step_teams(self, agents: dict[str, dict]) -> dict[str, dict]:
        """Team entries from the teams' counts (kept by `agents` as entries change): those
        of teams an entry went into or out of made again, the rest kept; each with its
        deductions per rule (counted again only when the ledger grew)."""
        tallies = self._team_tally
        if self._hint is None or self._teams is None:
            base = {t: tallies[t].result(t) for t in sorted(tallies) if not tallies[t].empty()}
            touched = None
        else:
            touched = self._teams_moved | self._teams_busy
            base = dict(self._teams)
            grown = False
            for t in touched:
                tally = tallies.get(t)
                if tally is None or tally.empty():
                    base.pop(t, None)
                    tallies.pop(t, None)
                    continue
                grown |= t not in base
                if t in base and t not in self._teams_moved:
                    base[t] = tally.busy_result(base[t])
                else:
                    base[t] = tally.result(t)
            if grown:
                base = dict(sorted(base.items()))
        self._teams = base
        n_led = self.eng.ledger_booked
        if touched is None or self._ded is None or self._ded[0] != n_led:
            ded = self.deductions_by_team()
            if touched is not None and self._ded is not None:
                old = self._ded[1]
                touched |= {t for t in ded if old.get(t) != ded[t]}
            self._ded = (n_led, ded)
        ded = self._ded[1]
        self._team_hint = touched
        # every team entry has `deductions` ({} until one is booked): an entry's fields stay
        # the same set, so a compact delta's field patch never has to take one away
        return {t: {**e, "deductions": ded.get(t, {})} for t, e in base.items()}

    def advance(self, last: dict | None) -> tuple[dict, dict | None, dict[str, tuple]]:
        """The feed's step: the snapshot now, the delta from `last` to it, and the agents
        whose entries only had some fields patched -> those fields (empty unless `last`
        is this view's previous incremental snapshot). In that case, too, only what the
        step rebuilt is compared (its cost follows what changed); otherwise every entry
        is."""
        mine = last is not None and last is self._prev
        snap = self.snapshot(incremental=True)
        if last is None:
            return snap, None, {}
        hints = {"agents": self._hint, "teams": self._team_hint} if mine else None
        return snap, diff(last, snap, hints), self._fields if mine else {}

    def recent(self, n: int = 20) -> list[dict]:
        """The newest deductions of today (newest first): what a ticker shows on connect,
        before any alert arrives (built again only when the ledger or the day moved)."""
        eng = self.eng
        L = eng.ledger
        today = local_day_of(eng.now, eng.policy.tz)
        key = (eng.ledger_booked, today, n)
        if self._recent is None or self._recent[0] != key:
            rows = np.flatnonzero(L[:, K.L_DAY] == today)[::-1][:n]
            self._recent = (key, [self.deduction(int(r)) for r in rows])
        return list(self._recent[1])

    def deductions_by_team(self) -> dict[str, dict[str, int]]:
        """Deductions ever booked (excused ones too: a count that only grows), per team and
        rule: the ledger's rows and those of the months it dropped (`ledger_gone`)."""
        eng = self.eng
        L = eng.ledger
        names = eng.sym.agents.names
        if getattr(self, "_team_idx", (None,))[0] != len(names):
            # team of each agent id, rebuilt only when new ids appeared
            people = eng.roster.people
            team_of = [(people[a].team if a in people else None) or "-" for a in names]
            teams = sorted(set(team_of))
            idx = {t: k for k, t in enumerate(teams)}
            self._team_idx = (len(names), teams,
                              np.array([idx[t] for t in team_of], np.int64))
        _, teams, ti = self._team_idx
        n_rules = len(RULES)
        counts = np.zeros(len(teams) * n_rules, np.int64)
        if (L[:, K.L_DAY] == eng.DROPPED_DAY).any():  # those are counted in ledger_gone
            L = L[L[:, K.L_DAY] != eng.DROPPED_DAY]
        if len(L):
            key = ti[L[:, K.L_AGENT].astype(np.int64)] * n_rules + L[:, K.L_RULE].astype(np.int64)
            counts = np.bincount(key, minlength=len(teams) * n_rules)
        counts = counts.reshape(len(teams), n_rules)
        gone = eng.ledger_gone
        if gone.shape[0]:
            np.add.at(counts, ti[: gone.shape[0]], gone[: len(ti)])
        return {t: {r: int(counts[k, j]) for j, r in enumerate(RULES)}
                for k, t in enumerate(teams)}

    def quality(self) -> dict:
        """The telemetry's own health (policy [quality]): duplicates and sequence gaps,
        events stamped far from their receive time, calls answered (or queued) hours ago and
        never closed, and signed-in seats silent for long, as of engine time."""
        eng = self.eng
        g, h, q = eng.G, eng.health, eng.policy.quality
        now = eng.now
        n = len(eng.sym.agents.names)
        A = eng.A[:n]
        talking = unclosed_waiting = silent = 0
        if now is not None:
            old = now - round(q.unclosed_call_h * 3_600_000)
            talking = int(((A[:, K.A_STATE] == K.ST_TALKING)
                           & (A[:, K.A_ANSWER_TS] < old)).sum())
            live = (eng.CKEY != K.CALL_EMPTY) & (eng.CKEY != K.CALL_TOMBSTONE)  # hashes < 0 too
            unclosed_waiting = int((eng.CVAL[live, K.CV_TS] < old).sum())
            quiet = now - round(q.silent_agent_min * K.MINUTE_MS)
            silent = int(((A[:, K.A_STATE] != K.ST_OUT) & (eng.last_seen[:n] < quiet)).sum())
        last_ts = int(h[KS.H_LAST_EVENT_TS])
        return {
            "duplicates": int(g[K.G_DUPLICATES]), "gaps": int(g[K.G_GAPS]),
            "clock_skewed": {"ahead": int(h[KS.H_SKEW_AHEAD]),
                             "behind": int(h[KS.H_SKEW_BEHIND])},
            "clock_offset_s": round(int(h[KS.H_OFFSET_MS]) / 1000.0, 3)
            if h[KS.H_RECEIVED_MS] != K.NO_TIME else None,
            "calls_unclosed": {"talking": talking, "waiting": unclosed_waiting},
            "agents_silent": silent,
            "last_event_ts": None if last_ts == K.NO_TIME else last_ts,
        }

    def policy_info(self) -> dict:
        """What a screen needs of the policy, so a client needs no copy of the file."""
        if self._policy is None:
            self._policy = self._policy_info()
        return self._policy

    def _policy_info(self) -> dict:
        import msgspec

        pol = self.eng.policy
        fl = pol.floor_live
        # "full": the whole policy as data (msgspec.convert(full, Policy) gives it back), so
        # a screen needs no copy of the file and a centre's own TOML works end to end
        return {"name": pol.name, "timezone": pol.timezone, "full": msgspec.to_builtins(pol),
                "weights": pol.weights, "bands": msgspec.to_builtins(pol.bands),
                "stars": msgspec.to_builtins(pol.stars),
                "busy_budget_s": pol.busy.budget_min * 60,
                "service_level_s": pol.floor_live.service_level_s,
                "service_level_target": pol.floor_live.service_level_target,
                "windows_min": pol.floor_live.windows_min,
                "trend_bucket_min": pol.floor_live.trend_bucket_min,
                "thresholds": {"waiting": fl.waiting_thresholds,
                               "longest_wait_s": fl.longest_wait_thresholds_s},
                "supervisor_view": fl.supervisor_view,
                "summary": {"busy_budget_min": pol.busy.budget_min,
                            "busy_step_min": pol.busy.step_min,
                            "busy_first_points": pol.busy.first_points,
                            "busy_step_points": pol.busy.step_points,
                            "excused_reasons": list(pol.busy.excused_reasons),
                            "points": {r: label_points(pol, r) for r in RULES}},
                "wait_buckets_s": pol.wait_buckets_s}


def diff(old: dict, new: dict, hints: dict[str, set[str] | None] | None = None
         ) -> dict | None:
    """The delta from one snapshot to the next: changed or removed entries per section.
    `hints`: per section, the only keys that may have changed (None: any of them)."""
    out: dict = {}
    for section in ("agents", "teams", "queues"):
        o, n = old.get(section, {}), new.get(section, {})
        keys = None if hints is None else hints.get(section)
        if keys is None:
            changed = {k: v for k, v in n.items() if o.get(k) != v}
            gone = [k for k in o if k not in n]
        else:
            keys = sorted(keys)
            changed = {k: n[k] for k in keys if k in n and o.get(k) != n[k]}
            gone = [k for k in keys if k in o and k not in n]
        if changed:
            out[section] = changed
        if gone:
            out.setdefault("removed", {})[section] = gone
    ot, nt = old.get("trend") or {}, new.get("trend") or {}
    if ot != nt:
        # the trend's changed buckets only (the current one, mostly); a new day restarts it
        ob = ot.get("buckets", {}) if ot.get("day") == nt.get("day") else {}
        out["trend"] = {**{k: v for k, v in nt.items() if k != "buckets"},
                        "reset": ot.get("day") != nt.get("day"),
                        "buckets": {k: v for k, v in nt.get("buckets", {}).items()
                                    if ob.get(k) != v}}
    for section in ("floor", "counters", "month", "totals", "recent", "quality",
                    "store"):
        if old.get(section) != new.get(section):
            out[section] = new.get(section)
    if not out and old.get("now") == new.get("now"):
        return None
    return {"schema": FEED_SCHEMA, "type": "delta", "site": new.get("site"),
            "now": new.get("now"), **out}


def _moved_between(old: MonthView, new: MonthView) -> set[int]:
    """Agent ids whose items, score or star differ between two month views."""
    m = min(old.n, new.n)
    moved = ~_same(old.score[:m], new.score[:m])
    for k, v in new.items.items():
        moved |= ~_same(old.items[k][:m], v[:m])
    ids = new.eng.sym.agents.ids
    out = set(np.flatnonzero(moved).tolist()) | set(range(m, new.n))
    return out | {ids[a] for a in set(old.stars) | set(new.stars)
                  if old.stars.get(a) != new.stars.get(a)}


def apply_delta(snap: dict, delta: dict) -> dict:
    """Client side: the snapshot a delta leads to (used by the TUI and the tests)."""
    out = dict(snap)
    for section in ("agents", "teams", "queues"):
        cur = dict(out.get(section, {}))
        cur.update(delta.get(section, {}))
        for k in delta.get("removed", {}).get(section, []):
            cur.pop(k, None)
        out[section] = cur
    if "trend" in delta:
        d = delta["trend"]
        old = {} if d.get("reset") else (out.get("trend") or {}).get("buckets", {})
        out["trend"] = {**{k: v for k, v in d.items() if k not in ("buckets", "reset")},
                        "buckets": dict(sorted({**old, **d["buckets"]}.items()))}
    for section in ("floor", "counters", "month", "now", "totals", "recent", "quality",
                    "store"):
        if section in delta:
            out[section] = delta[section]
    return out
