"""What an extraction pilot changes in the costs: the measured share of a generative
student's free answers that break the schema becomes the retries its strategies pay for
(strategies.py asks the capable model again for each one); decoding held to the schema,
and a span tagger, have none."""

from __future__ import annotations

from core.measurement import Measurement
from core.scenario import Scenario
from costmodels.assumptions import Range


def invalid_outputs(s: Scenario, m: Measurement) -> tuple[dict, str | None]:
    """(assumption update, note) from a generative pilot on extraction data."""
    if m.extract is None or m.invalid_label_share is None or s.task_kind != "extract":
        return {}, None
    free = m.extract.scores.valid  # the free answers' schema-valid share, with its interval
    share = Range(low=1 - free.ci_high, high=1 - free.ci_low, mode=1 - free.value)
    held = m.extract.methods.get(f"{m.extract.result} + schema")
    after = (
        f"; held to the schema, {held.valid.value:.0%} were valid (field F1 "
        f"{held.f1.value:.1%} against {m.extract.scores.f1.value:.1%} free)"
        if held
        else ""
    )
    note = (
        f"Invalid outputs: {share.mode:.1%} [{share.low:.1%}, {share.high:.1%}] of the "
        f"{m.method} pilot {m.run_id}'s free answers did not parse or broke the schema"
        f"{after}. Strategies whose student decodes freely pay one more request to the "
        "capable model for each; the constrained fine-tune pays none."
    )
    return {"invalid_output_share": share}, note
