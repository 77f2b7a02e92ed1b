"""Erlang C: the M/M/c queue the floor simulator is checked against.

c agents, calls arriving as a Poisson process at rate λ, exponential talk times with mean
1/μ, callers who never give up, first come first served. With offered load A = λ/μ < c:

- probability a caller waits:  C(c, A) = c·B / (c − A·(1 − B)), B = Erlang B(c, A)
- service level:               P(wait ≤ t) = 1 − C·exp(−(cμ − λ)·t)
- average speed of answer:     ASA = C / (cμ − λ)

Erlang B comes from its recursion B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)), which stays
accurate for hundreds of agents where A^c / c! would overflow.
"""
from __future__ import annotations

import math


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of an M/M/c/c system with offered load a Erlangs."""
    if c < 0 or a < 0:
        raise ValueError("need c >= 0 agents and a load >= 0")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Probability that a caller has to wait (offered load a Erlangs on c agents)."""
    if c < 1:
        raise ValueError("need at least one agent")
    if a >= c:
        raise ValueError(f"offered load {a:g} Erlangs on {c} agents is unstable (needs a < c)")
    if a <= 0:
        return 0.0
    b = erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))


def _load(c: int, lam: float, mu: float) -> float:
    if lam < 0 or mu <= 0:
        raise ValueError("need an arrival rate >= 0 and a service rate > 0")
    return lam / mu


def wait_probability(c: int, lam: float, mu: float) -> float:
    """C(c, λ/μ) for arrival rate λ and service rate μ (any one time unit)."""
    return erlang_c(c, _load(c, lam, mu))


def service_level(c: int, lam: float, mu: float, t: float) -> float:
    """P(wait ≤ t) = 1 − C·exp(−(cμ − λ)·t); t in the same time unit as 1/λ and 1/μ."""
    pw = wait_probability(c, lam, mu)
    return 1.0 - pw * math.exp(-(c * mu - lam) * t)


def average_speed_of_answer(c: int, lam: float, mu: float) -> float:
    """Mean wait of all callers (waiting or not): C / (cμ − λ)."""
    pw = wait_probability(c, lam, mu)
    return pw / (c * mu - lam)


def agents_for_service_level(lam: float, mu: float, t: float, target: float,
                             max_agents: int = 100_000) -> int:
    """The fewest agents giving P(wait ≤ t) ≥ target (the classic staffing question)."""
    if not 0 < target < 1:
        raise ValueError("target is a fraction between 0 and 1")
    c = max(1, math.floor(_load(1, lam, mu)) + 1)
    while c <= max_agents:
        if service_level(c, lam, mu, t) >= target:
            return c
        c += 1
    raise ValueError(f"no staffing up to {max_agents} agents reaches the target")
