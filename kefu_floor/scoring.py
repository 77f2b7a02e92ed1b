"""Item scores, weighted score and forced-distribution stars (POLICY.md §1–2).

Vectorised over agents with numpy: the report and the live snapshot both call these on a
month's totals, so one set of rules serves both. NaN means "no data".
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from kefu_floor.policy import ITEM_KEYS, QA_ITEMS, Policy
from kernels import layout as K


def upper_bands(num: np.ndarray, den: np.ndarray, maxes, scores, above) -> np.ndarray:
    """Score of value num/den by the first band with value <= max; exact on band edges."""
    out = np.full(num.shape, np.nan)
    ok = den > 0
    done = ~ok
    for mx, sc in zip(maxes, scores):
        hit = ~done & (num <= mx * den)
        out[hit] = sc
        done |= hit
    out[~done] = above
    return out


def lower_bands(num: np.ndarray, den: np.ndarray, mins_pct, scores, below) -> np.ndarray:
    """Score of the percentage 100*num/den by the first band with value >= min."""
    out = np.full(num.shape, np.nan)
    ok = den > 0
    done = ~ok
    for mn, sc in zip(mins_pct, scores):
        hit = ~done & (num * 100 >= mn * den)
        out[hit] = sc
        done |= hit
    out[~done] = below
    return out


def item_scores(pol: Policy, D: np.ndarray, M: np.ndarray, present: np.ndarray,
                site_data: np.ndarray) -> dict[str, np.ndarray]:
    """D: month totals (n, D_K); M: month manual totals (n, M_K); present: agent had a shift
    or a sign-in in the month; site_data: present or a manual floor entry."""
    items: dict[str, np.ndarray] = {}
    for q, key in enumerate(QA_ITEMS):
        n = M[:, K.M_QA_N + q]
        with np.errstate(invalid="ignore", divide="ignore"):
            items[key] = np.where(n > 0, M[:, K.M_QA_SUM + q] / np.where(n > 0, n, 1), np.nan)
    b = pol.bands
    talks = D[:, K.D_TALKS]
    aht = upper_bands(D[:, K.D_TALK_MS], talks * 1000.0, b.aht.max, b.aht.score, b.aht.above)
    items["aht"] = np.where(D[:, K.D_ANSWERED] > 0, aht, np.nan)
    items["satisfaction"] = lower_bands(D[:, K.D_SATISFIED], D[:, K.D_SURVEYS],
                                        b.satisfaction.min, b.satisfaction.score,
                                        b.satisfaction.below)
    items["answer_rate"] = lower_bands(D[:, K.D_ANSWERED], D[:, K.D_OFFERED],
                                       b.answer_rate.min, b.answer_rate.score,
                                       b.answer_rate.below)
    util = np.maximum(pol.busy.floor, pol.busy.base + D[:, K.D_UTIL_PTS])
    items["utilization"] = np.where(present, util, np.nan)
    site = np.maximum(pol.site.floor, pol.site.base + D[:, K.D_SITE_PTS])
    items["site"] = np.where(site_data, site, np.nan)
    return {k: items[k] for k in ITEM_KEYS}


def weighted_score(pol: Policy, items: dict[str, np.ndarray], adjustments: np.ndarray
                   ) -> np.ndarray:
    total = adjustments.astype(np.float64).copy()
    for key, w in pol.weights.items():
        if w > 0:
            total += w * items[key] / 100.0  # NaN propagates: no data, no score
    return np.round(total, pol.score_decimals)


def star_counts(pol: Policy, n: int) -> list[int]:
    """Agents per grade (best first): round-half-up of n x cumulative share, differenced."""
    cum = Fraction(0)
    prev = 0
    out = []
    for share in pol.stars.shares:
        cum += Fraction(str(share))
        c = min(n, int(Fraction(n) * cum / 100 + Fraction(1, 2)))
        out.append(max(0, c - prev))
        prev = max(prev, c)
    out[-1] += n - prev
    return out


def assign_stars(pol: Policy, scores: dict[str, float]) -> dict[str, int]:
    """scores: agent -> score of the ranked agents (non-probation, not null).

    Highest first; ties (equal scores) never split: with `ties = "better"` everyone tied at
    a grade boundary takes the better grade and the next grade's count shrinks by as many.
    Equal scores are ordered by agent id only to make the output stable.
    """
    order = sorted(scores, key=lambda a: (-scores[a], a))
    n = len(order)
    counts = star_counts(pol, n)
    out: dict[str, int] = {}
    pos = 0
    cum = 0
    for grade, cnt in zip(pol.stars.grades, counts):
        cum += cnt
        end = max(cum, pos)
        if pol.stars.ties == "better" and end > pos:
            while end < n and scores[order[end]] == scores[order[end - 1]]:
                end += 1
        for a in order[pos:end]:
            out[a] = grade
        pos = end
    return out
