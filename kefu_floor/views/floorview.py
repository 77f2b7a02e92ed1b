"""The live floor as JSON-ready dicts: full snapshot, per-agent/queue/team entries, deltas.

Pure read side over an engine (no I/O): the websocket feed, the TUI and the metrics
exporter all read these, so each number is computed in one place. Versioned as
`kefu-floor/feed/1` (README "Live feed").
"""
from __future__ import annotations

import math

import numpy as np

from kefu_floor import stats
from kefu_floor.engine import Engine
from kefu_floor.i18n import default_lang
from kefu_floor.localtime import day_date, day_str, local_day_of, local_ms, month_of
from kefu_floor.views.report import ITEM_OF_LEDGER, MonthView, _facts, _num
from kefu_floor.schema import RULES
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
    if item == "aht":
        maxes = pol.bands.aht.max
        return next((i for i, m in enumerate(maxes) if value <= m), len(maxes))
    mins = getattr(pol.bands, item).min
    return next((i for i, m in enumerate(mins) if value * 100 >= m - 1e-9), len(mins))


def _tally(rows: list[dict], scheduled_only: bool = False) -> dict:
    """Head counts over agent entries, shared by the floor and each team (one definition
    for the wallboard, the TUI and the metrics): agents by state and busy reason, signed
    in against scheduled (in a shift now), over the busy budget today, missing at shift
    start, needing attention now, occupancy."""
    by_state = {s: 0 for s in STATES}
    by_reason: dict[str, int] = {}
    scheduled = signed_sched = over = missing = attention = 0
    for a in rows:
        st = a["state"]
        by_state[st] += 1
        if st == "busy":
            r = a.get("reason") or "-"
            by_reason[r] = by_reason.get(r, 0) + 1
        in_shift = "in_shift" in a["flags"]
        if in_shift:
            scheduled += 1
            signed_sched += st != "out"
        over += a.get("over_budget", False)
        missing += "missing" in a["flags"]
        attention += bool(a.get("attention"))
    working = by_state["ringing"] + by_state["talking"] + by_state["wrap"]
    avail = working + by_state["ready"]
    return {"by_state": by_state, "occupancy": _ratio(working, avail),
            "busy_by_reason": dict(sorted(by_reason.items())),
            "signed_in": sum(by_state.values()) - by_state["out"], "scheduled": scheduled,
            "scheduled_signed_in": signed_sched, "over_budget": over, "missing": missing,
            "attention": attention}


def _team_today(rows: list[dict]) -> dict:
    """A team's today from its agents' counts (ratios of sums, never means of ratios)."""
    tot = {k: sum(r["today"].get(k, 0) for r in rows)
           for k in ("offered", "answered", "talks", "talk_s", "surveys", "satisfied")}
    return {"offered": tot["offered"], "answered": tot["answered"],
            "aht_s": round(tot["talk_s"] / tot["talks"], 1) if tot["talks"] else None,
            "answer_rate": _ratio(tot["answered"], tot["offered"]),
            "satisfaction": _ratio(tot["satisfied"], tot["surveys"])}


class FloorView:
    def __init__(self, eng: Engine, lang: str | None = None):
        self.eng = eng
        # set by the live service: the durable store's health, sent as the optional "store"
        self.store_status = None
        self.lang = lang or default_lang()  # the service's language: a screen's default
        self._agents: dict[str, dict] | None = None  # last entries, for incremental updates

    # ---------------------------------------------------------------- pieces
    def month_view(self) -> MonthView:
        return MonthView(self.eng, month_of(self.eng.now, self.eng.policy.tz))

    def _roll_rows(self, minutes: int) -> list[int]:
        now_min = self.eng.now // K.MINUTE_MS
        rm = self.eng.roll_min
        return [s for s in range(K.N_ROLL) if now_min - minutes < rm[s] <= now_min]

    def agents(self, mv: MonthView, only: set[int] | None = None) -> dict[str, dict]:
        """Entries of every agent, or (with `only`) of those ids merged into the last ones."""
        eng = self.eng
        names = eng.sym.agents.names
        slot_of = {int(d): s for s, d in enumerate(eng.slot_day) if d >= 0}
        # an agent's minute buckets count when their own minute stamp is in the window
        now_min = eng.now // K.MINUTE_MS
        AR = eng.AROLL[:, : len(names), :]
        fresh = (AR[:, :, K.AR_MINUTE] > now_min - 60) & (AR[:, :, K.AR_MINUTE] <= now_min)
        R = (AR * fresh[:, :, None]).sum(axis=0)
        if only is None or self._agents is None:
            ids = range(len(names))
            out: dict[str, dict] = {}
        else:
            out = dict(self._agents)
            # one score moving can move anyone's projected star
            ids = set(only) | {eng.sym.agents.ids[a] for a, e in out.items()
                               if e["star"] != mv.stars.get(a)}
            ids |= set(range(len(out), len(names)))
            ids = sorted(i for i in ids if i < len(names))
        for i in ids:
            e = self._agent(i, mv, slot_of, R)
            if e is None:
                out.pop(names[i], None)
            else:
                out[names[i]] = e
        self._agents = out
        return out

    def _agent(self, i: int, mv: MonthView, slot_of: dict, R: np.ndarray) -> dict | None:
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
            "last_60m": {"answered": int(R[i, K.AR_ANSWERED]),
                         "aht_s": round(float(R[i, K.AR_TALK_MS] / R[i, K.AR_TALKS]) / 1000.0, 1)
                         if R[i, K.AR_TALKS] else None},
            "items": {k2: None if math.isnan(v[i]) else _num(v[i])
                      for k2, v in mv.items.items()},
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

    @staticmethod
    def teams(agents: dict[str, dict]) -> dict[str, dict]:
        """Per team: head counts over its agents and leaders (as the floor's), the team
        score (mean of its agents' scores, POLICY.md §3, as the report's `leaders`), how
        many agents hold each projected star, and who leads it."""
        by: dict[str, list[dict]] = {}
        for a in agents.values():
            by.setdefault(a["team"] or "-", []).append(a)
        out = {}
        for team, rows in sorted(by.items()):
            members = [r for r in rows if r.get("role") != "leader"]
            scores = [r["score"] for r in members if r["score"] is not None]
            stars: dict[str, int] = {}
            for r in members:
                if r.get("star") is not None:
                    stars[str(r["star"])] = stars.get(str(r["star"]), 0) + 1
            score = round(sum(scores) / len(scores), 2) if scores else None
            out[team] = {
                "team": team, "agents": len(members),
                "leaders": sorted(r["agent"] for r in rows if r.get("role") == "leader"),
                "leader_names": [r["name"] or r["agent"] for r in
                                 sorted(rows, key=lambda r: r["agent"])
                                 if r.get("role") == "leader"],
                **_tally(rows),
                "in_shift": sum("in_shift" in r["flags"] for r in rows),
                "mean_score": score, "score": score,
                "stars": dict(sorted(stars.items())),
                "answered_today": sum(r["today"]["answered"] for r in rows),
                "today": _team_today(members),
                "busy_mean_s": round(sum(r["busy_today_s"] for r in members) / len(members), 1)
                if members else None,
                "exceptions": sum(bool(set(r["flags"]) & {"missing", "late", "left_early",
                                                         "absent", "late_return"})
                                  for r in members),
            }
        return out

    @staticmethod
    def floor(agents: dict[str, dict]) -> dict:
        return _tally(list(agents.values()))

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
        """Everything a screen needs, as of engine time. `incremental`: rebuild only the
        agents the engine marked as changed since the last incremental snapshot."""
        eng = self.eng
        dirty = eng.take_dirty() if incremental else None
        if eng.now is None:
            snap = {"schema": FEED_SCHEMA, "type": "snapshot", "site": eng.site, "now": None,
                    "lang": self.lang, "agents": {}, "teams": {}, "queues": {},
                    "floor": self.floor({}), "counters": eng.counters(),
                    "policy": self.policy_info(), "quality": self.quality()}
            if self.store_status is not None:
                snap["store"] = self.store_status()
            return snap
        mv = self.month_view()
        agents = self.agents(mv, dirty)
        teams = self.teams(agents)
        for team, by_rule in self.deductions_by_team().items():
            if team in teams:
                teams[team] = {**teams[team], "deductions": by_rule}
        snap = {"schema": FEED_SCHEMA, "type": "snapshot", "site": eng.site, "now": eng.now,
                "lang": self.lang,
                "month": f"{mv.month // 12:04d}-{mv.month % 12 + 1:02d}",
                "policy": self.policy_info(), "agents": agents, "teams": teams,
                "queues": self.queues(), "totals": self.totals(), "trend": self.trend(),
                "floor": self.floor(agents), "counters": eng.counters(),
                "quality": self.quality(), "recent": self.recent()}
        if self.store_status is not None:  # optional: {"ok", "since"[, "detail"]}
            snap["store"] = self.store_status()
        return snap

    def recent(self, n: int = 20) -> list[dict]:
        """The newest deductions of today (newest first): what a ticker shows on connect,
        before any alert arrives."""
        eng = self.eng
        L = eng.ledger
        today = local_day_of(eng.now, eng.policy.tz)
        rows = [r for r in range(len(L) - 1, -1, -1) if int(L[r, K.L_DAY]) == today]
        return [self.deduction(r) for r in rows[:n]]

    def deductions_by_team(self) -> dict[str, dict[str, int]]:
        """Deductions ever booked (excused ones too: a count that only grows), per team and
        rule."""
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
        if len(L):
            key = ti[L[:, K.L_AGENT].astype(np.int64)] * n_rules + L[:, K.L_RULE].astype(np.int64)
            counts = np.bincount(key, minlength=len(teams) * n_rules)
        counts = counts.reshape(len(teams), n_rules)
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
        import msgspec

        pol = self.eng.policy
        fl = pol.floor_live
        return {"name": pol.name, "timezone": pol.timezone,
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


def diff(old: dict, new: dict) -> dict | None:
    """The delta from one snapshot to the next: changed or removed entries per section."""
    out: dict = {}
    for section in ("agents", "teams", "queues"):
        o, n = old.get(section, {}), new.get(section, {})
        changed = {k: v for k, v in n.items() if o.get(k) != v}
        gone = [k for k in o if k not in n]
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
