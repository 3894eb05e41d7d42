"""Property tests: all else equal, faster-changing facts and fewer examples never move
the pick toward fine-tuning."""

from typing import get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from advisor import Scenario
from advisor.recommend import pick
from advisor.rules import FINE_TUNE_FAMILY
from core.scenario import TaskKind

GAPS = ["missing_knowledge", "behaviour_format_style", "cost_latency_at_volume"]

scenarios = st.builds(
    Scenario,
    task_kind=st.sampled_from(get_args(TaskKind)),
    gaps=st.lists(st.sampled_from(GAPS), min_size=1, max_size=3, unique=True).map(tuple),
    task_definition=st.sampled_from(["stable", "evolving", "one_off"]),
    facts_change_interval_days=st.floats(1, 36500),
    labelled_examples_available=st.integers(0, 100_000),
    labelled_examples_obtainable=st.integers(0, 10_000),
    label_classes=st.sampled_from([0, 2, 5, 77, 500]),
    frontier_outputs_good=st.booleans(),
    requests_per_month=st.integers(0, 50_000_000),
    quality_bar_pct=st.floats(0, 100),
    deployment=st.sampled_from(["vendor_api", "own_cloud_gpu", "on_prem_private", "edge_offline"]),
    strict_output_format=st.booleans(),
    base_model_is_distilled=st.booleans(),
    horizon_months=st.integers(1, 120),
)


def toward_fine_tuning(before: str, after: str) -> bool:
    return before not in FINE_TUNE_FAMILY and after in FINE_TUNE_FAMILY


@settings(max_examples=400, deadline=None)
@given(scenarios, st.floats(0.01, 1.0))
def test_faster_changing_facts_never_move_toward_fine_tuning(s, factor):
    faster = s.model_copy(
        update={"facts_change_interval_days": max(1.0, s.facts_change_interval_days * factor)}
    )
    before, after = pick(s), pick(faster)
    assert not toward_fine_tuning(before, after), (before, after)


@settings(max_examples=400, deadline=None)
@given(scenarios, st.floats(0.0, 1.0))
def test_fewer_examples_never_move_toward_fine_tuning(s, factor):
    fewer = s.model_copy(
        update={
            "labelled_examples_available": int(s.labelled_examples_available * factor),
            "labelled_examples_obtainable": int(s.labelled_examples_obtainable * factor),
        }
    )
    assert not toward_fine_tuning(pick(s), pick(fewer))
