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


class Leader(_S, kw_only=True):
    team_score_weight: float = 50
    team_aht_weight: float = 15


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
        return P

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
    try:
        ZoneInfo(p.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        bad("timezone", f"unknown time zone {p.timezone!r} (e.g. Asia/Shanghai)")
