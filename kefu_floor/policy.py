"""Appraisal policy as data: TOML presets shipped in `kefu_floor/policies/`, or any file.

`load_policy("chengdu-2014")` or `load_policy("/path/to/centre.toml")`. Structure and types
are checked by msgspec (errors name the key path), meaning by `_check` (errors name the key).
"""
from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import numpy as np

from kefu_floor.errors import ConfigError
from kernels import layout as K

ITEM_KEYS = ("recording", "text", "aht", "performance", "satisfaction", "exam",
             "utilization", "answer_rate", "site")
QA_ITEMS = ("recording", "text", "performance", "exam")  # order = kernels.layout QA_*
ItemKind = Literal["qa", "aht", "satisfaction", "answer_rate", "utilization", "site"]
EXPECTED_KIND = {"recording": "qa", "text": "qa", "performance": "qa", "exam": "qa",
                 "aht": "aht", "satisfaction": "satisfaction", "answer_rate": "answer_rate",
                 "utilization": "utilization", "site": "site"}


class _S(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class Item(_S, kw_only=True):
    weight: float
    kind: ItemKind


class UpperBands(_S, kw_only=True):
    max: list[float]
    score: list[float]
    above: float


class LowerBands(_S, kw_only=True):
    min: list[float]
    score: list[float]
    below: float


class Bands(_S, kw_only=True):
    aht: UpperBands
    satisfaction: LowerBands
    answer_rate: LowerBands


class Busy(_S, kw_only=True):
    budget_min: float
    step_min: float
    first_points: float
    step_points: float
    base: float = 100
    floor: float = 0
    excused_reasons: list[str] = []
    exclude_breaks: bool = True


class Attendance(_S, kw_only=True):
    default_grace_min: float
    break_grace_min: float
    early_leave_tolerance_min: float
    late_return_any_busy: bool = True
    late_sign_in_points: float
    late_return_points: float
    early_leave_points: float
    absent_points: float = 0


class Site(_S, kw_only=True):
    base: float = 100
    floor: float = 0


class Stars(_S, kw_only=True):
    grades: list[int]
    shares: list[float]
    coefficients: list[float]
    rounding: Literal["half_up"] = "half_up"
    ties: Literal["better", "split"] = "better"


class Pay(_S, kw_only=True):
    star_pay_unit: float = 500
    no_star_coefficient: float = 1.0
    base_regular: float = 1600
    base_probation: float = 1400
    seniority_years: list[float] = []
    seniority_pay: list[float] = []
    full_attendance: float = 0
    products_required: int = 0
    subsidy_per_extra_product: float = 0
    night_shift_end: str = "23:00"
    night_shift_pay: float = 0
    sales_commission_rate: float = 0.0


class FloorLive(_S, kw_only=True):
    service_level_s: float = 20
    short_abandon_s: float = 5
    windows_min: list[int] = msgspec.field(default_factory=lambda: [15, 30, 60])
    service_level_target: float = 80
    trend_bucket_min: int = 30  # the intraday service-level trend's bucket: 15, 30 or 60
    # amber / red from these on the boards (calls waiting; the oldest caller's wait)
    waiting_thresholds: list[float] = msgspec.field(default_factory=lambda: [5, 10])
    longest_wait_thresholds_s: list[float] = msgspec.field(default_factory=lambda: [20, 60])
    # the wallboard's ?view=supervisor (named deductions ticker) for a private screen;
    # off, the public board shows team figures only
    supervisor_view: bool = True


class Quality(_S, kw_only=True):
    """When the telemetry itself looks unhealthy (metrics and the feed's `quality`)."""
    clock_skew_s: float = 60  # an event this far from its receive time counts as skewed
    unclosed_call_h: float = 4  # answered (or queued) this long ago and never closed
    silent_agent_min: float = 60  # signed in, and no event from the seat for this long


class Metrics(_S, kw_only=True):
    # upper bounds of kefu_queue_wait_seconds; the service-level threshold is always added
    wait_buckets_s: list[float] = msgspec.field(
        default_factory=lambda: [5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900])


class Leader(_S, kw_only=True):
    """Shift leader's appraisal (POLICY.md §3); incident kinds name `incident` events."""
    team_score_weight: float = 50
    team_aht_weight: float = 15
    sales_per_call_weight: float = 15
    floor_weight: float = 10
    monitoring_weight: float = 5
    exam_weight: float = 5
    # sales per call: 100 at the month's target ("YYYY-MM" -> yuan per answered call);
    # a month without a target has no data (so the leader has no score) unless a default
    sales_target: dict[str, float] = {}
    sales_target_default: float | None = None
    sales_at_target: float = 100
    sales_step: float = 0.5  # per full step above/below the target ...
    sales_step_points: float = 5  # ... this many points up/down
    sales_cap: float = 110
    sales_floor: float = 0
    floor_base: float = 90
    floor_kinds: dict[str, float] = msgspec.field(default_factory=lambda: {"lapse": -5})  # kind -> points each
    floor_points_kinds: list[str] = msgspec.field(default_factory=lambda: ["serious_lapse"])  # kinds whose event carries the points
    monitoring_base: float = 90
    monitoring_kinds: dict[str, float] = msgspec.field(default_factory=lambda: {"missed_test": -5})
    item_floor: float = 0  # floor management / monitoring never go below this
    # "excellent shift leader" (优秀值班长) eligibility
    excellent_min_score: float = 88
    excellent_bar_kinds: list[str] = msgspec.field(default_factory=lambda: ["attitude_complaint"])  # on any agent of the team
    excellent_bottom_n: int = 2  # teams ranked in the site's bottom n by team score


class Overtime(_S, kw_only=True):
    """Overtime pay (POLICY.md §2, seeds 000/002): rate x hourly = base / days / hours."""
    workday_pct: float = 150
    restday_pct: float = 200
    holiday_pct: float = 300
    month_days: float = 21.75
    day_hours: float = 8


class Appeals(_S, kw_only=True):
    """Appeals are answered within this many working days of the deduction's day."""
    working_days: int = 5


class Money(_S, kw_only=True):
    decimals: int = 2  # the close rounds money half up to this many decimals, at the end


class Scheme8020(_S, kw_only=True):
    """team-80-20 (POLICY.md §4, seed 003)."""
    mode: Literal["commission", "star"] = "commission"
    commission_rate: float = 0.007  # mode commission: B = rate x month sales
    star_base: float = 918  # mode star: B = base x attended/scheduled x coefficient x score/100
    individual_pct: float = 80
    team_share_pct: float = 20
    team_threshold: float = 80  # team mean >= this pays the team share
    new_hire_first_month_counts: bool = False  # in the team mean, in the month of `hired`
    gold_bonus: float = 300
    gold_min_score: float = 80  # score must be strictly above
    gold_ties: Literal["none"] = "none"  # a tie on either maximum: no gold agent
    gold_new_hire: bool = False  # a first-month hire may be gold
    gold_run_months: int = 3
    gold_run_bonus: float = 1000
    mentor_bonus: float = 200
    mentor_min_score: float = 80
    mentor_window_months: int = 2  # the month of `hired` and the month after
    excellent_team_mean: float = 90  # team mean strictly above: team bonus
    excellent_team_bonus: float = 1000
    supervisor_commission_rate: float = 0.001
    supervisor_team_weight: float = 50
    supervisor_management_weight: float = 50
    supervisor_low_score: float = 60  # below this ...
    supervisor_low_months: int = 3  # ... this many months running: returns_to_agent
    # money penalties: kind -> yuan each (negative) on the agent
    agent_fixed: dict[str, float] = msgspec.field(default_factory=lambda: {"refund_reorder": -100})
    leader_fixed: dict[str, float] = msgspec.field(default_factory=lambda: {"lost_order_untrained": -200})
    # kind -> share (percent) of the event's amount charged to the agent / the team's leader
    agent_share_pct: dict[str, float] = msgspec.field(default_factory=lambda: {"wrong_note_cost": 50, "special_order_cost": 30})
    leader_share_pct: dict[str, float] = msgspec.field(default_factory=lambda: {"wrong_note_cost": 50, "special_order_cost": 70})


class PointRule(_S, kw_only=True):
    first: float  # the first of the kind in the month (0: a warning)
    each: float  # every further one
    flag: str = ""  # e.g. "review"


class EffectBand(_S, kw_only=True):
    min: float  # points >= min
    pct: float  # percent of the bonus base paid
    per_point_above_pct: float = 0  # plus this per point above min


class LadderStep(_S, kw_only=True):
    name: str  # "verbal" | "written" | "final" in the presets: the close's ladder keys
    kind: str
    fine: float  # yuan (negative), per warning issued by an incident


class Scheme30(_S, kw_only=True):
    """taobao-30pt (POLICY.md §5, seed 004)."""
    start_points: float = 30
    deductions: dict[str, PointRule] = {}
    rewards: dict[str, float] = {}  # incident kind -> points each
    rank_points: list[float] = msgspec.field(default_factory=lambda: [5, 3, 1])  # places 1, 2, 3 by month sales
    gold_places: int = 1  # places that are gold
    rank_role: str = "agent"
    tie_break_kind: str = "customer_lost"  # fewer of these wins a tie on conversion
    few_deductions_max: int = 2
    few_deductions_points: float = 3
    bonus_base: float = 1000
    effect: list[EffectBand] = []  # best band first
    effect_below_pct: float = 0
    absent_fine: float = -30
    telemetry_rules: bool = False  # book the lunch and sign-out rules live
    lunch_reason: str = "lunch"
    lunch_max_min: float = 35
    lunch_fine: float = -5
    sign_outs_per_fine: int = 3
    sign_outs_fine: float = -10
    incident_fines: dict[str, float] = {}  # kind -> yuan each (negative)
    ladder: list[LadderStep] = []  # lowest first
    ladder_convert: int = 3  # this many of a step make one of the next
    ladder_resets_monthly: bool = True


class Limits(_S, kw_only=True):
    """What one source or one message may do to the engine (README "Hostile input")."""

    max_jump_min: float = 30  # an event this far ahead of engine time is held
    max_jump_alone_h: float = 36  # ... this far when no other source was active
    max_jump_manual_days: float = 45  # ... this far for the clock-exempt types
    confirm_events: int = 2  # ... until this many later events stand ahead too
    confirm_sources: int = 2  # ... from this many origins (fewer if fewer were active)
    hold_max: int = 2000  # a hold this full is confirmed
    end_max_jump_days: float = 45  # at the end of a replay, held events this near are applied
    max_behind_min: float = 30  # telemetry this far behind engine time is rejected
    # types that are no evidence of the clock (entered by people, or after the fact)
    clock_exempt_types: list[str] = msgspec.field(
        default_factory=lambda: ["qa", "floor", "adjust", "excuse", "survey", "sale",
                                 "incident"])
    wall_ahead_s: float = 300  # live: ts beyond the wall clock + this is rejected
    month_max_apart: int = 2  # qa/adjust `month` at most this many months from its ts
    max_seq_gap: int = 1_000_000  # a seq jump beyond this is not counted as a gap
    max_unknown_agents: int = 1000  # agents not in the roster (beyond: rejected)
    max_queues: int = 1000
    max_sources: int = 1000
    max_reason_codes: int = 1000  # distinct busy reason codes
    # the ledger keeps a month's deductions until engine time is this many days past the
    # month's first day (31..64; 64 = the engine's day slots, when the month's days go too)
    ledger_keep_days: int = 64


class Policy(_S, kw_only=True):
    name: str
    title: str = ""
    timezone: str = "Asia/Shanghai"
    score_decimals: int = 2
    items: dict[str, Item]
    bands: Bands
    busy: Busy
    attendance: Attendance
    site: Site = msgspec.field(default_factory=Site)
    stars: Stars
    pay: Pay = msgspec.field(default_factory=Pay)
    floor_live: FloorLive = msgspec.field(default_factory=FloorLive)
    leader: Leader = msgspec.field(default_factory=Leader)
    limits: Limits = msgspec.field(default_factory=Limits)
    quality: Quality = msgspec.field(default_factory=Quality)
    metrics: Metrics = msgspec.field(default_factory=Metrics)
    # the month close (DESIGN.md §3.4): which pay scheme, and its settings
    scheme: Literal["chengdu-2014", "team-80-20", "taobao-30pt"] = "chengdu-2014"
    overtime: Overtime = msgspec.field(default_factory=Overtime)
    appeals: Appeals = msgspec.field(default_factory=Appeals)
    money: Money = msgspec.field(default_factory=Money)
    team8020: Scheme8020 = msgspec.field(default_factory=Scheme8020)
    taobao: Scheme30 = msgspec.field(default_factory=Scheme30)

    # ---- derived, for the kernels ----
    def params(self) -> np.ndarray:
        P = np.zeros(K.P_K, np.float64)
        P[K.P_BUDGET_MS] = round(self.busy.budget_min * 60_000)
        P[K.P_STEP_MS] = round(self.busy.step_min * 60_000)
        P[K.P_FIRST_POINTS] = self.busy.first_points
        P[K.P_STEP_POINTS] = self.busy.step_points
        P[K.P_BREAK_GRACE_MS] = round(self.attendance.break_grace_min * 60_000)
        P[K.P_EARLY_TOL_MS] = round(self.attendance.early_leave_tolerance_min * 60_000)
        P[K.P_PTS_LATE_SIGN_IN] = self.attendance.late_sign_in_points
        P[K.P_PTS_LATE_RETURN] = self.attendance.late_return_points
        P[K.P_PTS_EARLY_LEAVE] = self.attendance.early_leave_points
        P[K.P_PTS_ABSENT] = self.attendance.absent_points
        P[K.P_SL_MS] = round(self.floor_live.service_level_s * 1000)
        P[K.P_SHORT_ABANDON_MS] = round(self.floor_live.short_abandon_s * 1000)
        P[K.P_EXCLUDE_BREAKS] = 1.0 if self.busy.exclude_breaks else 0.0
        P[K.P_LATE_RETURN_BUSY_ANY] = 1.0 if self.attendance.late_return_any_busy else 0.0
        on = self.scheme == "taobao-30pt" and self.taobao.telemetry_rules
        P[K.P_LUNCH_MS] = round(self.taobao.lunch_max_min * 60_000) if on else -1.0
        P[K.P_LUNCH_REASON] = -1.0  # the engine sets the interned code
        P[K.P_SIGN_OUT_RULE] = 1.0 if on else 0.0
        return P

    @property
    def wait_buckets_s(self) -> list[float]:
        """kefu_queue_wait_seconds' bucket bounds: the policy's, plus the SL threshold."""
        return sorted(set(self.metrics.wait_buckets_s) | {self.floor_live.service_level_s})

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def weights(self) -> dict[str, float]:
        return {k: self.items[k].weight for k in ITEM_KEYS}


def preset_names() -> list[str]:
    root = resources.files("kefu_floor") / "policies"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def load_policy(name_or_path: str) -> Policy:
    """A preset name (see `preset_names()`) or a path to a TOML file."""
    path = Path(name_or_path)
    if name_or_path in preset_names():
        text = (resources.files("kefu_floor") / "policies" / f"{name_or_path}.toml").read_text(
            "utf-8")
        label = f"policy preset {name_or_path}"
    elif path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text("utf-8")
        except OSError as e:
            raise ConfigError(f"policy file {path}: cannot read it ({e.strerror})") from None
        label = f"policy file {path}"
    else:
        raise ConfigError(f"policy {name_or_path!r} is neither a preset "
                          f"({', '.join(preset_names())}) nor an existing .toml file")
    return parse_policy(text, label)


def parse_policy(text: str, label: str = "policy") -> Policy:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{label}: not valid TOML: {e}") from None
    try:
        pol = msgspec.convert(raw, Policy)
    except msgspec.ValidationError as e:
        msg = str(e)
        if "`$.items[...]" in msg and isinstance(raw.get("items"), dict):
            # msgspec does not name dict keys in its path: find the item by hand
            for k, v in raw["items"].items():
                try:
                    msgspec.convert(v, Item)
                except msgspec.ValidationError as e2:
                    m2 = str(e2)
                    msg = (m2.replace(" - at `$", f" - at `$.items.{k}", 1) if " - at `$" in m2
                           else f"{m2} - at `$.items.{k}`")
                    break
        raise ConfigError(f"{label}: {_keypath(msg)}") from None
    _check(pol, label)
    return pol


def _keypath(msg: str) -> str:
    # msgspec says "... - at `$.busy.budget_min`"; a shift leader's IT person reads keys
    if " - at `$." in msg:
        what, where = msg.split(" - at `$.", 1)
        return f"key {where.rstrip('`')}: {what}"
    return msg


def _check(p: Policy, label: str) -> None:
    def bad(key: str, problem: str):
        raise ConfigError(f"{label}: key {key}: {problem}")

    missing = [k for k in ITEM_KEYS if k not in p.items]
    if missing:
        bad("items", f"missing item(s) {', '.join(missing)}")
    extra = [k for k in p.items if k not in ITEM_KEYS]
    if extra:
        bad("items", f"unknown item(s) {', '.join(extra)}; known: {', '.join(ITEM_KEYS)}")
    for k, it in p.items.items():
        if it.kind != EXPECTED_KIND[k]:
            bad(f"items.{k}.kind", f"must be {EXPECTED_KIND[k]!r}, not {it.kind!r}")
        if it.weight < 0:
            bad(f"items.{k}.weight", "must not be negative")
    for name, b in (("bands.aht", p.bands.aht),):
        if len(b.max) != len(b.score) or not b.max:
            bad(name, "max and score must be non-empty lists of the same length")
        if any(x >= y for x, y in zip(b.max, b.max[1:])):
            bad(f"{name}.max", "must be strictly increasing")
    for name, b in (("bands.satisfaction", p.bands.satisfaction),
                    ("bands.answer_rate", p.bands.answer_rate)):
        if len(b.min) != len(b.score) or not b.min:
            bad(name, "min and score must be non-empty lists of the same length")
        if any(x <= y for x, y in zip(b.min, b.min[1:])):
            bad(f"{name}.min", "must be strictly decreasing (best band first)")
        if any(not 0 <= x <= 100 for x in b.min):
            bad(f"{name}.min", "percentages must be within 0..100")
    if p.busy.budget_min < 0:
        bad("busy.budget_min", "must not be negative")
    if p.busy.step_min <= 0:
        bad("busy.step_min", "must be positive")
    for key in ("default_grace_min", "break_grace_min", "early_leave_tolerance_min"):
        if getattr(p.attendance, key) < 0:
            bad(f"attendance.{key}", "must not be negative")
    s = p.stars
    if not (len(s.grades) == len(s.shares) == len(s.coefficients)) or not s.grades:
        bad("stars", "grades, shares and coefficients must be lists of the same length")
    if abs(sum(s.shares) - 100) > 1e-9:
        bad("stars.shares", f"must add up to 100 (they add up to {sum(s.shares):g})")
    if any(x < 0 for x in s.shares):
        bad("stars.shares", "must not be negative")
    if len(p.pay.seniority_years) != len(p.pay.seniority_pay):
        bad("pay.seniority_pay", "must have one value per pay.seniority_years entry")
    if not 0 <= p.score_decimals <= 6:
        bad("score_decimals", "must be within 0..6")
    fl = p.floor_live
    if fl.trend_bucket_min not in (15, 30, 60):
        bad("floor_live.trend_bucket_min", "must be 15, 30 or 60")
    for key in ("waiting_thresholds", "longest_wait_thresholds_s"):
        v = getattr(fl, key)
        if len(v) != 2 or not 0 <= v[0] <= v[1]:
            bad(f"floor_live.{key}", "must be [amber, red] with 0 <= amber <= red")
    for reason in p.busy.excused_reasons:
        if not reason:
            bad("busy.excused_reasons", "reason codes must not be empty")
    lim = p.limits
    for key in ("max_jump_min", "max_jump_alone_h", "max_jump_manual_days", "max_behind_min", "end_max_jump_days", "wall_ahead_s"):
        if not getattr(lim, key) > 0:
            bad(f"limits.{key}", "must be positive")
    for key in ("confirm_events", "confirm_sources", "hold_max", "max_unknown_agents",
                "max_queues", "max_sources", "max_reason_codes"):
        if getattr(lim, key) < 1:
            bad(f"limits.{key}", "must be at least 1")
    if lim.hold_max <= lim.confirm_events:
        bad("limits.hold_max", f"must be more than limits.confirm_events "
                               f"({lim.confirm_events})")
    if not 31 <= lim.ledger_keep_days <= K.N_DAY_SLOTS:
        bad("limits.ledger_keep_days", f"must be 31 to {K.N_DAY_SLOTS} (a month's days at least, "
                                       "at most the days the engine holds)")
    if lim.month_max_apart < 0:
        bad("limits.month_max_apart", "must not be negative")
    if lim.max_seq_gap < 0:
        bad("limits.max_seq_gap", "must not be negative")
    from kefu_floor.schema import EVENT_TYPES
    for t in lim.clock_exempt_types:
        if t not in EVENT_TYPES:
            bad("limits.clock_exempt_types", f"unknown event type {t!r}")
    for key in ("clock_skew_s", "unclosed_call_h", "silent_agent_min"):
        if getattr(p.quality, key) <= 0:
            bad(f"quality.{key}", "must be positive")
    wb = p.metrics.wait_buckets_s
    if not wb or any(x <= 0 for x in wb) or any(x >= y for x, y in zip(wb, wb[1:])):
        bad("metrics.wait_buckets_s", "must be a non-empty list of positive seconds, "
            "strictly increasing (e.g. [5, 10, 20, 60, 900])")
    _check_close(p, bad)
    try:
        ZoneInfo(p.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        bad("timezone", f"unknown time zone {p.timezone!r} (e.g. Asia/Shanghai)")


def _check_close(p: Policy, bad) -> None:
    """Meaning checks of the close's settings (structure and types msgspec checked)."""
    for key, v in (("leader.sales_step", p.leader.sales_step),
                   ("overtime.month_days", p.overtime.month_days),
                   ("overtime.day_hours", p.overtime.day_hours)):
        if v <= 0:
            bad(key, "must be positive")
    for m in p.leader.sales_target:
        try:
            y, mm = m.split("-")
            if len(y) != 4 or not 1 <= int(mm) <= 12:
                raise ValueError
        except ValueError:
            bad(f"leader.sales_target.{m}", "months are written YYYY-MM, e.g. \"2026-11\"")
    if p.appeals.working_days < 0:
        bad("appeals.working_days", "must not be negative")
    if not 0 <= p.money.decimals <= 4:
        bad("money.decimals", "must be within 0..4")
    t = p.team8020
    for key in ("individual_pct", "team_share_pct", "commission_rate", "star_base",
                "supervisor_commission_rate"):
        if getattr(t, key) < 0:
            bad(f"team8020.{key}", "must not be negative")
    if t.gold_run_months < 1:
        bad("team8020.gold_run_months", "must be at least 1")
    if t.supervisor_low_months < 1:
        bad("team8020.supervisor_low_months", "must be at least 1")
    if t.mentor_window_months < 1:
        bad("team8020.mentor_window_months", "must be at least 1")
    for table in ("agent_share_pct", "leader_share_pct"):
        for k, v in getattr(t, table).items():
            if not 0 <= v <= 100:
                bad(f"team8020.{table}.{k}", "a share is a percentage within 0..100")
    for table in ("agent_fixed", "leader_fixed"):
        for k, v in getattr(t, table).items():
            if v > 0:
                bad(f"team8020.{table}.{k}", "a penalty is negative yuan")
    b = p.taobao
    for k, r in b.deductions.items():
        if r.first > 0 or r.each > 0:
            bad(f"taobao.deductions.{k}", "deductions are 0 (a warning) or negative points")
    for k, v in b.incident_fines.items():
        if v > 0:
            bad(f"taobao.incident_fines.{k}", "a fine is negative yuan")
    for key in ("absent_fine", "lunch_fine", "sign_outs_fine"):
        if getattr(b, key) > 0:
            bad(f"taobao.{key}", "a fine is negative yuan")
    if b.sign_outs_per_fine < 1:
        bad("taobao.sign_outs_per_fine", "must be at least 1")
    if b.lunch_max_min < 0:
        bad("taobao.lunch_max_min", "must not be negative")
    if any(x.min <= y.min for x, y in zip(b.effect, b.effect[1:])):
        bad("taobao.effect", "bands must be listed best first (min strictly decreasing)")
    for n, x in enumerate(b.effect):
        if x.pct < 0:
            bad(f"taobao.effect[{n}].pct", "must not be negative")
    for n, x in enumerate(b.ladder):
        if x.fine > 0:
            bad(f"taobao.ladder[{n}].fine", "a fine is negative yuan")
    if b.ladder_convert < 1:
        bad("taobao.ladder_convert", "must be at least 1")
    if b.gold_places > len(b.rank_points):
        bad("taobao.gold_places", "cannot exceed the number of rank_points places")
