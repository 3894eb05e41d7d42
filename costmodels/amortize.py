"""Amortization: the monthly series over the horizon, total cost of ownership, cost per
request, break-even volumes and months, and the volume ranges where each strategy is
cheapest. `estimate(scenario, assumptions) -> CostReport` is the one public entry.

Money is rounded to the cent once per part and month and summed in integer cents, so
every total is exactly the sum of the figures shown beside it.
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
from costmodels.paths import priced_components
from costmodels.plan import PlannedTraining
from costmodels.prices import PriceCatalog, load_catalog
from costmodels.prices import today as today_
from costmodels.strategies import Components, training_plans

CENTS = 100
BASELINE = {"fine_tune_rag": "rag", "distill_rag": "rag"}  # the rest are compared to prompt
VOLUME_GRID = np.logspace(0, 11, 1101)  # 1 .. 1e11 requests/month, for the cheapest envelope


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StrategyCost(_Frozen):
    strategy: str
    one_time_usd: Decimal
    """Paid once at the start: people, training, teacher labels, labelling."""
    one_time_breakdown_usd: dict[str, Decimal]
    """One-time cost by part: people, training, teacher, labelling (they add up to it)."""
    running_usd: Decimal
    """Running costs summed over the horizon (API calls, serving, fixed monthly costs),
    growth included, retrains excluded."""
    retrains_usd: Decimal
    """Every retrain over the horizon (people hours, training, teacher labels)."""
    monthly_usd: Decimal
    """Running cost of the first month at today's volume (retrains excluded)."""
    per_request_usd: Decimal
    """First month's running cost divided by its requests (no one-time cost)."""
    all_in_per_request_usd: Decimal
    """Total cost of ownership divided by all requests over the horizon."""
    tco_usd: Decimal
    """One-time + running + retrains: the total over the horizon, to the cent."""
    baseline: str | None
    break_even_month: float | None
    """Month (from 0) when cumulative cost falls below the baseline's; None if never."""
    path_note: str | None = None
    """When the strategy is priced through another path than the scenario's deployment
    (a vendor path that closes), which and why."""


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
    one_time_usd: Decimal
    """Paid in month 0 only."""
    running_usd: Decimal
    retrain_usd: Decimal
    cost_usd: Decimal
    """One-time + running + retrain of this month."""
    cumulative_usd: Decimal


class CostReport(_Frozen):
    horizon_months: int
    requests_per_month: int
    capable_model: str
    """The model prompting and retrieval are priced as (the one called today, or the
    one a prompt pilot asked)."""
    teacher_model: str
    """The model that labels inputs for distillation and answers a cascade's escalations."""
    starts_on: dt.date
    """The date month 0 starts: the day the estimate was made (paths close by date)."""
    strategies: tuple[StrategyCost, ...]
    break_even: tuple[BreakEven, ...]
    cheapest: tuple[CheapestRange, ...]
    monthly: tuple[MonthRow, ...]
    assumptions: CostAssumptions
    price_sources: tuple[str, ...]
    warnings: tuple[str, ...]
    training_plans: tuple[PlannedTraining, ...] = ()
    """The self-hosted training runs priced (fewest GPUs that hold each, hours, dollars);
    empty when every training goes through a vendor's API."""

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


def _retrain_months(c: Components, h: int) -> np.ndarray:
    """(H,) bool: months with a retrain (every K months after month 0)."""
    months = np.arange(h)
    k = c.retrain_every_months
    return (months % k == 0) & (months > 0) if k else np.zeros(h, dtype=bool)


def series_parts(c: Components, vol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(running, retrains) cost of each month, without the one-time cost. vol is (H,) or
    (D, H); component values are scalars or (D, 1) draws. A closing path hands its months
    from `after_month` on to the open path's components."""
    h = vol.shape[-1]
    late = np.arange(h) >= c.after_month if c.after is not None else np.zeros(h, dtype=bool)
    run = c.monthly(vol, include_upkeep=False)
    retrain = c.retrain_cost * _retrain_months(c, h)
    if c.after is not None:
        run = np.where(late, c.after.monthly(vol, include_upkeep=False), run)
        retrain = np.where(late, c.after.retrain_cost * _retrain_months(c.after, h), retrain)
    shape = np.broadcast_shapes(np.shape(run), np.shape(retrain), vol.shape)
    return np.broadcast_to(run, shape), np.broadcast_to(retrain, shape)


def monthly_series(c: Components, vol: np.ndarray) -> np.ndarray:
    """Cost of each month: one-time in month 0, running costs, retrains every K months."""
    run, retrain = series_parts(c, vol)
    return run + retrain + c.one_time * (np.arange(vol.shape[-1]) == 0)


def to_cents(x) -> np.ndarray:
    return np.rint(np.asarray(x, dtype=float) * CENTS).astype(np.int64)


def usd(cents: int) -> Decimal:
    return Decimal(int(cents)) / CENTS


def _line(c: Components, horizon: int) -> tuple[float, float, float, float]:
    """(intercept, api slope, gpu slope, gpu floor) of steady monthly cost vs volume, with
    the one-time cost spread over the horizon."""
    one_time = c.one_time
    c = c.after or c  # the steady state is the open path's once a closing one is left
    upkeep = c.retrain_cost / c.retrain_every_months if c.retrain_every_months else 0.0
    return (
        float(c.fixed_monthly + one_time / horizon + upkeep),
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
    """The cost report of every strategy for this scenario, planned from `today`
    (default: costmodels.prices.today())."""
    a = assumptions or CostAssumptions()
    cat = catalog or load_catalog()
    start = today or today_()
    comps = priced_components(scenario, a, cat, start=start)
    vol, h = volumes(scenario), scenario.horizon_months
    rows, strategies = [], []
    for k in STRATEGIES:
        cost, month_rows = _strategy_cost(k, comps, vol)
        strategies.append(cost)
        rows += month_rows
    pairs = itertools.combinations(STRATEGIES, 2)
    prompted = a.measured_prompt_model or scenario.prompted_model
    return CostReport(
        horizon_months=h,
        requests_per_month=scenario.requests_per_month,
        capable_model=prompted,
        teacher_model=a.teacher_model or prompted,
        starts_on=start,
        strategies=tuple(strategies),
        break_even=tuple(
            BreakEven(a=x, b=y, requests_per_month=break_even_volume(comps[x], comps[y], h))
            for x, y in pairs
        ),
        cheapest=cheapest_ranges(comps, h),
        monthly=tuple(rows),
        assumptions=a,
        price_sources=_sources(cat, a),
        warnings=_warnings(cat, start),
        training_plans=_plans(scenario, a, cat, comps),
    )


def _plans(s: Scenario, a: CostAssumptions, cat: PriceCatalog, comps) -> tuple:
    """Training runs on rented GPUs: self-hosted deployments, or a vendor path that closes."""
    if s.deployment == "vendor_api" and not any(c.path_note for c in comps.values()):
        return ()
    return training_plans(s, a, cat)


def _strategy_cost(
    k: str, comps: dict[str, Components], vol: np.ndarray
) -> tuple[StrategyCost, list[MonthRow]]:
    """One strategy's summary and month rows, every part in whole cents, so that the
    one-time parts add up to the one-time cost and one-time + running + retrains to the
    total."""
    c = comps[k]
    parts = {p: int(to_cents(x)) for p, x in c.one_time_parts.items()}
    one_time = sum(parts.values())
    run, retrain = (to_cents(x) for x in series_parts(c, vol))  # (H,) cents each
    month_cost = run + retrain + one_time * (np.arange(len(vol)) == 0)
    cum = np.cumsum(month_cost)
    total = int(cum[-1])
    base = None if k in ("prompt", "rag") else BASELINE.get(k, "prompt")
    summary = StrategyCost(
        strategy=k,
        one_time_usd=usd(one_time),
        one_time_breakdown_usd={p: usd(x) for p, x in parts.items()},
        running_usd=usd(int(run.sum())),
        retrains_usd=usd(int(retrain.sum())),
        monthly_usd=usd(int(run[0])),
        per_request_usd=Decimal(f"{float(run[0]) / CENTS / max(float(vol[0]), 1):.8f}"),
        all_in_per_request_usd=Decimal(f"{total / CENTS / max(float(vol.sum()), 1):.8f}"),
        tco_usd=usd(total),
        baseline=base,
        break_even_month=break_even_month(c, comps[base], vol) if base else None,
        path_note=c.path_note or None,
    )
    rows = [
        MonthRow(
            month=m,
            strategy=k,
            requests=round(float(vol[m]), 1),
            one_time_usd=usd(one_time if m == 0 else 0),
            running_usd=usd(run[m]),
            retrain_usd=usd(retrain[m]),
            cost_usd=usd(month_cost[m]),
            cumulative_usd=usd(cum[m]),
        )
        for m in range(len(vol))
    ]
    return summary, rows


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
    comps = priced_components(scenario, assumptions or CostAssumptions(), catalog or load_catalog())
    grid = np.logspace(2, 9, points)
    out = {}
    for k, c in comps.items():
        a, api, g, floor = _line(c, scenario.horizon_months)
        out[k] = (grid, (a + api * grid + np.maximum(floor, g * grid)) / grid)
    return out
