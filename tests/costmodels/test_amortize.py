"""Break-even closed forms against a brute-force scan, the monthly series, exact sums,
and the Monte Carlo's agreement with the deterministic estimate."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor import Scenario, load_scenario
from costmodels import CostAssumptions, Range, estimate, simulate
from costmodels.amortize import _line, break_even_volume, monthly_series, volumes
from costmodels.prices import load_catalog
from costmodels.strategies import Components, strategy_components
from tests.conftest import EXAMPLES

STRATS = ["prompt", "rag", "fine_tune", "distill", "cascade", "fine_tune_rag"]


def steady(c: Components, v: float, horizon: int) -> float:
    a, api, g, floor = _line(c, horizon)
    return a + api * v + max(floor, g * v)


def brute_force_crossing(ca, cb, horizon):
    """First volume on a fine log grid where the sign of the cost difference changes,
    refined by bisection: an independent check of the closed form."""
    grid = np.logspace(-2, 12, 200_001)
    d = np.array([steady(ca, v, horizon) - steady(cb, v, horizon) for v in grid[::100]])
    idx = np.nonzero(np.sign(d[1:]) != np.sign(d[:-1]))[0]
    if idx.size == 0:
        return None
    lo, hi = grid[::100][idx[0]], grid[::100][idx[0] + 1]
    for _ in range(200):
        mid = (lo + hi) / 2
        same = np.sign(steady(ca, mid, horizon) - steady(cb, mid, horizon)) == np.sign(d[idx[0]])
        lo, hi = (mid, hi) if same else (lo, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_break_even_closed_form_agrees_with_brute_force(example):
    # priced as gpt-4o: dearer prompting crosses more of the trained strategies' lines
    s = load_scenario(EXAMPLES / example).model_copy(update={"capable_model": "gpt-4o"})
    comps = strategy_components(s, CostAssumptions(), load_catalog())
    checked = 0
    for i, a in enumerate(STRATS):
        for b in STRATS[i + 1 :]:
            closed = break_even_volume(comps[a], comps[b], s.horizon_months)
            brute = brute_force_crossing(comps[a], comps[b], s.horizon_months)
            if brute is None or closed is None:
                assert closed is None and brute is None, (a, b, closed, brute)
                continue
            assert closed == pytest.approx(brute, rel=1e-3), (a, b)
            checked += 1
    assert checked >= 3


def test_costs_are_equal_at_the_break_even_volume():
    s = load_scenario(EXAMPLES / "ticket_triage_distill.yaml")
    report = estimate(s)
    comps = strategy_components(s, CostAssumptions(), load_catalog())
    be = next(b for b in report.break_even if {b.a, b.b} == {"prompt", "distill"})
    v = be.requests_per_month
    assert steady(comps["prompt"], v, 24) == pytest.approx(steady(comps["distill"], v, 24))


def test_monthly_series_and_totals():
    s = Scenario(
        requests_per_month=100_000,
        monthly_growth_pct=10,
        horizon_months=12,
        deployment="own_cloud_gpu",
        labelled_examples_available=500,
    )
    report = estimate(s, CostAssumptions(retrain_every_months=4))
    vol = volumes(s)
    assert vol[0] == 100_000 and vol[1] == pytest.approx(110_000)
    ft = [m for m in report.monthly if m.strategy == "fine_tune"]
    assert len(ft) == 12
    # retrains land in months 4 and 8: those months cost more than their neighbours
    costs = [float(m.cost_usd) for m in ft]
    assert costs[4] > costs[3] and costs[8] > costs[7]
    # exact sums: the TCO is the Decimal sum of the monthly rows
    assert sum(m.cost_usd for m in ft) == report.cost("fine_tune").tco_usd


def test_cheapest_ranges_cover_the_volume_axis_in_order():
    report = estimate(load_scenario(EXAMPLES / "chat_cascade.yaml"))
    r = report.cheapest
    assert r[0].from_requests_per_month == 1.0 and r[-1].to_requests_per_month is None
    for x, y in itertools.pairwise(r):
        assert x.to_requests_per_month == y.from_requests_per_month


def test_monte_carlo_with_point_ranges_equals_the_estimate():
    s = load_scenario(EXAMPLES / "ticket_triage_distill.yaml")
    point = {
        n: Range(low=v, high=v)
        for n, v in (
            ("serving_tokens_per_second", 1500.0),
            ("gpu_utilization", 0.5),
            ("training_mfu", 0.35),
            ("retrieved_context_tokens", 1000.0),
            ("escalation_rate", 0.15),
            ("volume_multiplier", 1.0),
            ("price_multiplier", 1.0),
        )
    }
    a = CostAssumptions(**point)
    sim = simulate(s, a, draws=50, seed=1)
    det = estimate(s, a)
    # the estimate rounds each month's part to the cent: at most half a cent each
    cents = 0.005 * (2 * s.horizon_months + 4)
    for d in sim.distributions:
        assert d.p50_tco_usd == pytest.approx(float(det.cost(d.strategy).tco_usd), abs=cents)


def test_monte_carlo_is_seeded_and_sums_to_one():
    s = load_scenario(EXAMPLES / "chat_cascade.yaml")
    a, b = simulate(s, draws=2000, seed=7), simulate(s, draws=2000, seed=7)
    assert a == b
    assert sum(d.probability_cheapest for d in a.distributions) == pytest.approx(1.0)
    for d in a.distributions:
        assert d.p10_tco_usd <= d.p50_tco_usd <= d.p90_tco_usd
    cascade = next(d for d in a.distributions if d.strategy == "cascade")
    assert cascade.p90_tco_usd > cascade.p10_tco_usd  # escalation rate is uncertain


def test_tornado_ranks_by_swing_and_flags_flips():
    s = load_scenario(EXAMPLES / "chat_cascade.yaml")
    t = simulate(s, draws=100).tornado
    swings = [b.swing_usd for b in t]
    assert swings == sorted(swings, reverse=True) and swings[0] > 0
    # a scenario near break-even: the volume forecast flips the decision
    near = s.model_copy(update={"requests_per_month": 250_000})
    bars = {b.input: b for b in simulate(near, draws=100).tornado}
    assert bars["volume_multiplier"].flips_decision


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 5_000_000), st.floats(-5, 20), st.integers(1, 60))
def test_series_matches_the_simulation_total(volume, growth, horizon):
    from costmodels.uncertainty import total_cost

    s = Scenario(
        requests_per_month=volume,
        monthly_growth_pct=growth,
        horizon_months=horizon,
        deployment="own_cloud_gpu",
        labelled_examples_available=300,
    )
    comps = strategy_components(s, CostAssumptions(), load_catalog())
    vol = volumes(s)
    for c in comps.values():
        assert float(np.sum(monthly_series(c, vol))) == pytest.approx(
            float(np.sum(total_cost(c, vol))), rel=1e-9, abs=1e-6
        )


def test_volume_and_price_are_sampled_by_default_and_the_band_is_as_wide_as_the_tornado():
    """Issue 13: the P10-P90 band of the decision margin is at least the tornado's swing of
    volume and price, because both are drawn by default (the tornado swings each input
    between its own P10 and P90)."""
    from advisor import recommend

    s = load_scenario(EXAMPLES / "ticket_triage_distill.yaml")
    a = CostAssumptions()
    assert {"volume_multiplier", "price_multiplier"} <= set(a.uncertain_fields())
    rec = recommend(s, estimate(s, a))
    among = rec.candidates
    unc = simulate(s, a, draws=5000, among=among)
    assert unc.cheapest == rec.recommended
    swings = {b.input: b.swing_usd for b in unc.tornado}
    band = unc.margin_p90_usd - unc.margin_p10_usd
    assert band >= max(swings["volume_multiplier"], swings["price_multiplier"]) > 0
    alternative = next(d for d in unc.distributions if d.strategy == unc.alternative)
    assert alternative.p90_tco_usd - alternative.p10_tco_usd >= swings["volume_multiplier"]
    # P(cheapest) is counted among the strategies that meet the needs only
    assert sum(d.probability_cheapest for d in unc.distributions if d.strategy in among) == 1
