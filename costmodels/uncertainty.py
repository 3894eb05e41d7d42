"""Uncertainty: Monte Carlo over every input given as a range (numpy, seeded), and a
one-at-a-time sensitivity ranking of the inputs that move the decision (a tornado)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from core.scenario import Scenario
from core.vocab import ADAPTED, STRATEGIES
from costmodels.amortize import volumes
from costmodels.assumptions import BOUNDS, CostAssumptions, Range, nominal
from costmodels.paths import priced_components
from costmodels.prices import PriceCatalog, load_catalog
from costmodels.strategies import Components

UNCERTAIN_FIELDS = tuple(BOUNDS)  # every field typed `Uncertain`
FIXED_SWING = 0.5  # a single-valued input is swung +-50% in the tornado


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StrategyDistribution(_Frozen):
    strategy: str
    p10_tco_usd: float
    p50_tco_usd: float
    p90_tco_usd: float
    probability_cheapest: float
    """Share of draws in which it is the cheapest of the candidates (0 for the others)."""


class TornadoBar(_Frozen):
    input: str
    low_value: float
    """The input at its P10 (a ranged input) or at -50% (a single value)."""
    high_value: float
    """The input at its P90, or at +50%."""
    low_margin_usd: float
    high_margin_usd: float
    swing_usd: float
    flips_decision: bool


class Uncertainty(_Frozen):
    draws: int
    seed: int
    distributions: tuple[StrategyDistribution, ...]
    cheapest: str
    alternative: str
    """The cheapest strategy on the other side of the adapt-or-not decision."""
    nominal_margin_usd: float
    """How much cheaper the cheapest strategy is than the alternative, at nominal inputs."""
    margin_p10_usd: float
    margin_p90_usd: float
    """P10 and P90 of that margin over the draws (below 0: the alternative was cheaper)."""
    tornado: tuple[TornadoBar, ...]


def _sum_of_max(floor: float, slope, vol: np.ndarray):
    """sum over months of max(floor, slope * vol[m]), for each draw of slope, in
    O(D log H): months below floor / slope pay the floor, the rest pay slope * volume."""
    vs = np.sort(vol)  # (H,)
    suffix = np.append(np.cumsum(vs[::-1])[::-1], 0.0)  # suffix[k] = sum(vs[k:])
    slope = np.asarray(slope, dtype=float)
    threshold = np.divide(floor, slope, out=np.full(slope.shape, np.inf), where=slope > 0)
    k = np.searchsorted(vs, threshold)  # months that pay the floor
    return k * floor + slope * suffix[k]


def _running_total(c: Components, vol: np.ndarray, multiplier, months: range):
    """Running cost of `months` plus their retrains, summed without building the (D, H)
    series for the terms that are linear in volume (the hot path of the simulation)."""
    v = vol[months.start : months.stop]
    total = c.fixed_monthly * len(v) + c.api_per_request * multiplier * v.sum()
    if np.any(c.gpu_floor_monthly) or np.any(c.gpu_per_request):
        total = total + _sum_of_max(c.gpu_floor_monthly, c.gpu_per_request * multiplier, v)
    if k := c.retrain_every_months:
        total = total + c.retrain_cost * sum(1 for m in months if m > 0 and m % k == 0)
    return total


def total_cost(c: Components, vol: np.ndarray, multiplier=1.0):
    """Sum of monthly_series(c, vol * multiplier) over the horizon; a closing path's
    months from `after_month` on priced by the open path's components."""
    h = vol.shape[-1]
    if c.after is None:
        return c.one_time + _running_total(c, vol, multiplier, range(h))
    m = c.after_month
    return (
        c.one_time
        + _running_total(c, vol, multiplier, range(m))
        + _running_total(c.after, vol, multiplier, range(m, h))
    )


def _tco(s: Scenario, a: CostAssumptions, cat: PriceCatalog, v: dict) -> np.ndarray:
    """Total cost of each strategy: (S,) for scalar inputs, (S, D) for draws of shape (D, 1)."""
    comps = priced_components(s, a, cat, v)
    vm = v.get("volume_multiplier", nominal(a.volume_multiplier))
    vol = volumes(s)  # (H,)
    totals = [np.asarray(total_cost(comps[k], vol, vm)).reshape(-1) for k in STRATEGIES]
    return np.stack(np.broadcast_arrays(*totals))


def _decision_pair(tco: np.ndarray, among: list[int]) -> tuple[int, int]:
    """(cheapest, cheapest on the other side of adapt-or-not), both among the candidates;
    with no candidate on the other side, the next cheapest candidate."""
    order = [int(i) for i in np.argsort(tco, kind="stable") if int(i) in among]
    adapted = lambda i: STRATEGIES[i] in ADAPTED  # noqa: E731
    first = order[0]
    other = [i for i in order if adapted(i) != adapted(first)] or order[1:] or order
    return first, other[0]


def draw_inputs(a: CostAssumptions, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for name, r in a.uncertain_fields().items():
        if r.low == r.high:
            out[name] = np.full((n, 1), r.low)
        else:
            out[name] = rng.triangular(r.low, r.nominal, r.high, size=(n, 1))
    return out


def triangular_quantile(r: Range, u: float) -> float:
    """The u-quantile of the triangular distribution the Monte Carlo draws r from."""
    lo, hi, mode = r.low, r.high, r.nominal
    if hi == lo:
        return lo
    c = (mode - lo) / (hi - lo)
    if u < c:
        return lo + ((u * (hi - lo) * (mode - lo)) ** 0.5)
    return hi - (((1 - u) * (hi - lo) * (hi - mode)) ** 0.5)


def _ends(a: CostAssumptions, name: str) -> tuple[float, float]:
    """A ranged input swings between its own P10 and P90, the band the simulation reports
    for the totals; a single-valued one by +-50% within its bounds."""
    value = getattr(a, name)
    if isinstance(value, Range):
        return triangular_quantile(value, 0.1), triangular_quantile(value, 0.9)
    lo, hi = BOUNDS[name]
    return max(lo, value * (1 - FIXED_SWING)), min(hi, value * (1 + FIXED_SWING))


def simulate(
    s: Scenario,
    a: CostAssumptions | None = None,
    catalog: PriceCatalog | None = None,
    draws: int = 10_000,
    seed: int = 0,
    among: tuple[str, ...] | None = None,
) -> Uncertainty:
    """Monte Carlo of every strategy's total cost, and a tornado of the inputs that move the
    decision. `among`: the strategies that meet the scenario's needs (the advisor's
    candidates); P(cheapest) and the decision pair are counted among them only."""
    a = a or CostAssumptions()
    candidates = [STRATEGIES.index(k) for k in (among or STRATEGIES)]
    cat = catalog or load_catalog()
    rng = np.random.default_rng(seed)
    tco = _tco(s, a, cat, draw_inputs(a, draws, rng))  # (S, D), or (S,) with no ranges
    tco = np.broadcast_to(tco, (len(STRATEGIES), draws))
    p10, p50, p90 = np.percentile(tco, [10, 50, 90], axis=1)
    masked = np.full_like(tco, np.inf)
    masked[candidates] = tco[candidates]
    wins = np.bincount(masked.argmin(axis=0), minlength=len(STRATEGIES)) / draws
    dists = tuple(
        StrategyDistribution(
            strategy=k,
            p10_tco_usd=round(float(p10[i]), 2),
            p50_tco_usd=round(float(p50[i]), 2),
            p90_tco_usd=round(float(p90[i]), 2),
            probability_cheapest=round(float(wins[i]), 4),
        )
        for i, k in enumerate(STRATEGIES)
    )
    base = _tco(s, a, cat, {})[:, 0]
    first, second = _decision_pair(base, candidates)
    margin = lambda t: float(t[second] - t[first])  # noqa: E731  (<0: the decision flips)
    bars = []
    for name in UNCERTAIN_FIELDS:
        if getattr(a, name) is None:  # optional and not set (no classifier measured)
            continue
        lo, hi = _ends(a, name)
        m_lo, m_hi = (margin(_tco(s, a, cat, {name: x})[:, 0]) for x in (lo, hi))
        bars.append(
            TornadoBar(
                input=name,
                low_value=lo,
                high_value=hi,
                low_margin_usd=round(m_lo, 2),
                high_margin_usd=round(m_hi, 2),
                swing_usd=round(abs(m_hi - m_lo), 2),
                flips_decision=min(m_lo, m_hi) < 0,
            )
        )
    bars.sort(key=lambda b: -b.swing_usd)
    return Uncertainty(
        draws=draws,
        seed=seed,
        distributions=dists,
        cheapest=STRATEGIES[first],
        alternative=STRATEGIES[second],
        nominal_margin_usd=round(margin(base), 2),
        margin_p10_usd=round(float(np.percentile(tco[second] - tco[first], 10)), 2),
        margin_p90_usd=round(float(np.percentile(tco[second] - tco[first], 90)), 2),
        tornado=tuple(bars),
    )
