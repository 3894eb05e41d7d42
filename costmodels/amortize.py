"""Amortization: the monthly series over the horizon, total cost of ownership, cost per
request, break-even volumes and months, and the volume ranges where each strategy is
cheapest. `estimate(scenario, assumptions) -> CostReport` is the one public entry.

Money is summed in integer micro-dollars, so totals are exact and reproducible.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import numpy as np
from pydantic import BaseModel, ConfigDict

from core.scenario import Scenario
from core.vocab import STRATEGIES
from costmodels.assumptions import CostAssumptions
from costmodels.prices import PriceCatalog, load_catalog
from costmodels.strategies import Components, strategy_components

MICRO = 1_000_000
BASELINE = {"fine_tune_rag": "rag", "distill_rag": "rag"}  # the rest are compared to prompt
VOLUME_GRID = np.logspace(0, 11, 1101)  # 1 .. 1e11 requests/month, for the cheapest envelope


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StrategyCost(_Frozen):
    strategy: str
    one_time_usd: Decimal
    one_time_breakdown_usd: dict[str, Decimal]
    """One-time cost by part: people, training, teacher, labelling."""
    monthly_usd: Decimal
    """Steady-state monthly cost at today's volume, upkeep included."""
    per_request_usd: Decimal
    """Steady-state monthly cost divided by today's monthly requests (no one-time cost)."""
    all_in_per_request_usd: Decimal
    """Total cost of ownership divided by all requests over the horizon."""
    tco_usd: Decimal
    baseline: str | None
    break_even_month: float | None
    """Month (from 0) when cumulative cost falls below the baseline's; None if never."""


class BreakEven(_Frozen):
    a: str
    b: str
    requests_per_month: float | None
    """Monthly volume (one-time cost spread over the horizon) where a and b cost the same."""


class CheapestRange(_Frozen):
    strategy: str
    from_requests_per_month: float
    to_requests_per_month: float | None


class MonthRow(_Frozen):
    month: int
    strategy: str
    requests: float
    cost_usd: Decimal
    cumulative_usd: Decimal


class CostReport(_Frozen):
    horizon_months: int
    requests_per_month: int
    strategies: tuple[StrategyCost, ...]
    break_even: tuple[BreakEven, ...]
    cheapest: tuple[CheapestRange, ...]
    monthly: tuple[MonthRow, ...]
    assumptions: CostAssumptions
    price_sources: tuple[str, ...]
    warnings: tuple[str, ...]

    def cost(self, strategy: str) -> StrategyCost:
        return next(c for c in self.strategies if c.strategy == strategy)

    def break_even_volume(self, a: str, b: str) -> float | None:
        """The monthly volume where a and b cost the same (one of the break_even rows)."""
        return next((x.requests_per_month for x in self.break_even if {x.a, x.b} == {a, b}), None)

    def payback_month(self, a: str, b: str) -> float | None:
        """First (fractional) month when a's cumulative cost falls to b's or below, from
        the monthly rows; None if never within the horizon."""
        cum = {
            k: [float(m.cumulative_usd) for m in self.monthly if m.strategy == k] for k in (a, b)
        }
        gap = [x - y for x, y in zip(cum[a], cum[b], strict=True)]  # (H,) a minus b, cumulated
        for m, g in enumerate(gap):
            if g <= 0:
                before = gap[m - 1] if m else None
                return float(m) if before is None else round(m - 1 + before / (before - g), 2)
        return None


def volumes(s: Scenario, multiplier=1.0) -> np.ndarray:
    """Requests in each month 0..H-1, compounding the monthly growth."""
    months = np.arange(s.horizon_months)
    return s.requests_per_month * multiplier * (1 + s.monthly_growth_pct / 100) ** months


def monthly_series(c: Components, vol: np.ndarray) -> np.ndarray:
    """Cost of each month: one-time in month 0, retrains every K months after it.
    vol is (H,) or (D, H); component values are scalars or (D, 1) draws."""
    months = np.arange(vol.shape[-1])
    cost = c.monthly(vol, include_upkeep=False) + c.one_time * (months == 0)
    if c.retrain_every_months:
        k = c.retrain_every_months
        cost = cost + c.retrain_cost * ((months % k == 0) & (months > 0))
    return np.broadcast_to(cost, np.broadcast_shapes(np.shape(cost), vol.shape))


def to_micro(x: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(x, dtype=float) * MICRO).astype(np.int64)


def usd(micro: int) -> Decimal:
    return Decimal(int(micro)) / MICRO


def _line(c: Components, horizon: int) -> tuple[float, float, float, float]:
    """(intercept, api slope, gpu slope, gpu floor) of steady monthly cost vs volume, with
    the one-time cost spread over the horizon."""
    upkeep = c.retrain_cost / c.retrain_every_months if c.retrain_every_months else 0.0
    return (
        float(c.fixed_monthly + c.one_time / horizon + upkeep),
        float(c.api_per_request),
        float(c.gpu_per_request),
        float(c.gpu_floor_monthly),
    )


def break_even_volume(ca: Components, cb: Components, horizon: int) -> float | None:
    """Smallest volume > 0 where the two steady monthly costs are equal.

    Each cost is linear in volume except at its GPU floor's kink (floor / gpu slope), so
    the difference is linear on each segment between kinks: solve each segment in closed
    form and return the first root that lies inside its segment."""
    la, lb = _line(ca, horizon), _line(cb, horizon)
    kinks = sorted({ln[3] / ln[2] for ln in (la, lb) if ln[2] > 0 and ln[3] > 0})
    edges = [0.0, *kinks, float("inf")]
    for lo, hi in itertools.pairwise(edges):
        probe = lo + 1.0 if hi == float("inf") else (lo + hi) / 2
        # on this segment each cost is c0 + c1 * v
        coef = []
        for a, api, g, floor in (la, lb):
            on_floor = g * probe < floor
            coef.append((a + (floor if on_floor else 0.0), api + (0.0 if on_floor else g)))
        d0, d1 = coef[0][0] - coef[1][0], coef[0][1] - coef[1][1]
        if d1 == 0:
            continue
        root = -d0 / d1
        if lo < root <= hi and root > 0:
            return float(root)
    return None


def break_even_month(ca: Components, cb: Components, vol: np.ndarray) -> float | None:
    """First (fractional) month when a's cumulative cost falls to b's or below.

    One-time costs land at the start; monthly costs accrue evenly within each month."""
    start = float(ca.one_time - cb.one_time)
    if start <= 0:
        return 0.0
    recurring = (
        monthly_series(ca, vol) - monthly_series(cb, vol) - start * (np.arange(len(vol)) == 0)
    )  # (H,) month-by-month difference without the one-time
    end = start + np.cumsum(recurring)
    below = np.nonzero(end <= 0)[0]
    if below.size == 0:
        return None
    m = int(below[0])
    before = start if m == 0 else float(end[m - 1])
    return round(m + before / (before - float(end[m])), 2)


def cheapest_ranges(comps: dict[str, Components], horizon: int) -> tuple[CheapestRange, ...]:
    lines = [_line(comps[k], horizon) for k in STRATEGIES]
    costs = np.array(
        [a + api * VOLUME_GRID + np.maximum(floor, g * VOLUME_GRID) for a, api, g, floor in lines]
    )  # (S, grid)
    winners = [STRATEGIES[i] for i in costs.argmin(axis=0)]
    out, start = [], float(VOLUME_GRID[0])
    for i in range(1, len(winners) + 1):
        if i == len(winners) or winners[i] != winners[i - 1]:
            end = None
            if i < len(winners):  # refine the boundary exactly with the break-even solver
                be = break_even_volume(comps[winners[i - 1]], comps[winners[i]], horizon)
                lo, hi = VOLUME_GRID[i - 1], VOLUME_GRID[i]
                end = be if be is not None and lo <= be <= hi else float(hi)
            out.append(
                CheapestRange(
                    strategy=winners[i - 1],
                    from_requests_per_month=start,
                    to_requests_per_month=end,
                )
            )
            start = end if end is not None else start
    return tuple(out)


def estimate(
    scenario: Scenario,
    assumptions: CostAssumptions | None = None,
    catalog: PriceCatalog | None = None,
    today: dt.date | None = None,
) -> CostReport:
    """The cost report of every strategy for this scenario."""
    a = assumptions or CostAssumptions()
    cat = catalog or load_catalog()
    comps = strategy_components(scenario, a, cat)
    vol, h = volumes(scenario), scenario.horizon_months
    series = {k: monthly_series(c, vol) for k, c in comps.items()}
    micro = {k: to_micro(v) for k, v in series.items()}
    total_requests = float(vol.sum())
    rows, strategies = [], []
    for k in STRATEGIES:
        c, cum = comps[k], np.cumsum(micro[k])
        base = None if k in ("prompt", "rag") else BASELINE.get(k, "prompt")
        v0 = scenario.requests_per_month
        strategies.append(
            StrategyCost(
                strategy=k,
                one_time_usd=usd(to_micro(c.one_time)),
                one_time_breakdown_usd={p: usd(to_micro(x)) for p, x in c.one_time_parts.items()},
                monthly_usd=usd(to_micro(c.monthly(v0))),
                per_request_usd=Decimal(f"{float(c.monthly(v0)) / max(v0, 1):.8f}"),
                all_in_per_request_usd=Decimal(f"{cum[-1] / MICRO / max(total_requests, 1):.8f}"),
                tco_usd=usd(cum[-1]),
                baseline=base,
                break_even_month=break_even_month(c, comps[base], vol) if base else None,
            )
        )
        rows += [
            MonthRow(
                month=m,
                strategy=k,
                requests=round(float(vol[m]), 1),
                cost_usd=usd(micro[k][m]),
                cumulative_usd=usd(cum[m]),
            )
            for m in range(h)
        ]
    pairs = itertools.combinations(STRATEGIES, 2)
    return CostReport(
        horizon_months=h,
        requests_per_month=scenario.requests_per_month,
        strategies=tuple(strategies),
        break_even=tuple(
            BreakEven(a=x, b=y, requests_per_month=break_even_volume(comps[x], comps[y], h))
            for x, y in pairs
        ),
        cheapest=cheapest_ranges(comps, h),
        monthly=tuple(rows),
        assumptions=a,
        price_sources=_sources(cat, a),
        warnings=_warnings(cat, today),
    )


def _sources(cat: PriceCatalog, a: CostAssumptions) -> tuple[str, ...]:
    gpu = cat.gpu(a.gpu)
    ft = cat.fine_tune_price(a.small_vendor_model)
    out = [
        f"API prices: {cat.snapshot.source}, taken {cat.snapshot.taken_on}",
        f"GPU {gpu.name} ${gpu.usd_per_hour}/hour: {gpu.source}, as of {gpu.as_of}",
    ]
    if ft:
        out.append(
            f"Fine-tuning {ft.model} ${ft.usd_per_1m_training_tokens}/1M training tokens:"
            f" {ft.source}, as of {ft.as_of}"
        )
    out += [f"{p.platform}: {p.status} ({p.source})" for p in cat.platforms]
    return tuple(out)


def _warnings(cat: PriceCatalog, today: dt.date | None) -> tuple[str, ...]:
    w = cat.stale_warning(today)
    return (w,) if w else ()


def per_request_curves(
    scenario: Scenario,
    assumptions: CostAssumptions | None = None,
    catalog: PriceCatalog | None = None,
    points: int = 120,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """USD per request of each strategy at steady state (one-time cost spread over the
    horizon) across monthly volumes from 100 to 1e9: the curves of the Costs chart."""
    comps = strategy_components(
        scenario, assumptions or CostAssumptions(), catalog or load_catalog()
    )
    grid = np.logspace(2, 9, points)
    out = {}
    for k, c in comps.items():
        a, api, g, floor = _line(c, scenario.horizon_months)
        out[k] = (grid, (a + api * grid + np.maximum(floor, g * grid)) / grid)
    return out
