"""Rules made from pilot measurements: a measured number outranks the prior.

A trained method whose whole 95% interval lies below the quality bar rules its family
out; one whose interval lies above it gets a bonus; one that straddles the bar is quoted
for information (a larger holdout would decide). Incomplete evidence (a pilot that ran
less than a quarter of its planned steps, or was scored on fewer than MIN_HOLDOUT rows)
is quoted with what a complete pilot would need and never changes the advice by itself.
Prompt and retrieval baselines are measured on the small pilot model, a lower bound for
a capable model: meeting the bar counts for them, missing it is only quoted. The linear
probe on frozen embeddings is a small classifier, so it speaks for fine-tuning. Every
reason quotes the numbers.
"""

from __future__ import annotations

from advisor.rules import Rule
from core.measurement import MIN_HOLDOUT, Measurement, QualityMeasure
from core.scenario import Scenario
from core.vocab import BASELINE_FOR, ENDPOINT_MEASURES, METHODS
from costmodels.assumptions import CostAssumptions, nominal

SOURCE = "adapt pilot: measured on a frozen holdout"
MET_BONUS = 3.0
BEATS_TRAINED_BONUS = 1.0  # a baseline measured better than every trained pilot
MIN_STEP_SHARE = 0.25  # a pilot that ran less of its plan than this is incomplete evidence


def evidence_gaps(m: Measurement) -> list[str]:
    """Why a measurement is not complete evidence (empty: it is)."""
    gaps = []
    if m.planned_steps and m.train_steps < MIN_STEP_SHARE * m.planned_steps:
        why = {"minutes": "its time limit", "steps": "its step limit"}.get(
            m.stopped_by or "", "an early stop"
        )
        gaps.append(
            f"training stopped by {why} after {m.train_steps} of {m.planned_steps} planned "
            f"steps; a complete pilot runs all {m.planned_steps}"
        )
    if m.holdout_examples < MIN_HOLDOUT:
        gaps.append(
            f"it was scored on {m.holdout_examples} holdout rows; a complete pilot scores at "
            f"least {MIN_HOLDOUT}"
        )
    return gaps


def _trained_rule(method: str, run: str, q: QualityMeasure, bar: float, m) -> Rule:
    family = METHODS[method].measures
    label = METHODS[method].label
    text = (
        f"The {label} pilot ({run}) reached {q.text()} {q.metric} against a quality bar "
        f"of {bar:.0%}"
    )
    if m.distill is not None:
        text += f" ({_distilled(m)})"
    if m.extract is not None:
        text += f" ({_extracted(m)})"
    effects: dict[str, float] = {}
    vetoes: frozenset[str] = frozenset()
    gaps = evidence_gaps(m)
    if gaps:
        text += (
            f". This is not complete evidence, so it does not change the advice: {'; '.join(gaps)}."
        )
    elif q.ci_high < bar:
        text += ": below the bar even at the top of its interval."
        if m.examples_needed:
            text += f" The learning curve says about {m.examples_needed:,} examples would reach it."
        vetoes = family
    elif q.ci_low >= bar:
        text += ": it meets the bar."
        effects = dict.fromkeys(family, MET_BONUS)
    else:
        text += ": the interval straddles the bar; a larger holdout would decide."
    return _rule(f"measured_{method}", f"Measured quality of {label}", text, effects, vetoes)


def _distilled(m: Measurement) -> str:
    """What a distillation pilot's student is measured against, in one clause."""
    d = m.distill
    against = "gold labels" if d.gold_holdout else "the teacher's labels (no gold holdout)"
    teacher = f", the teacher {d.teacher_accuracy.text()}" if d.teacher_accuracy else ""
    needed = (
        f"about {d.inputs_needed:,} teacher-labelled inputs reach {d.agreement_bar:.0%} agreement"
        if d.inputs_needed is not None
        else f"{d.agreement_bar:.0%} agreement is out of this student's reach"
    )
    return (
        f"the {d.student} student trained on {d.kept:,} labels from {d.teacher}, scored on "
        f"{against}{teacher}; agreement {d.agreement.text()}; {needed}"
    )


def _extracted(m: Measurement) -> str:
    """An extraction pilot's format and serving evidence, in one clause."""
    e = m.extract
    s = e.scores
    parts = [f"exact match {s.exact.text()}", f"schema-valid {s.valid.value:.1%}"]
    if (held := e.methods.get(f"{e.result} + schema")) is not None:
        parts.append(
            f"held to the schema by {e.constrained_library}: {held.valid.value:.1%} valid, "
            f"field F1 {held.f1.value:.1%}"
        )
    if e.out_of_reach:
        parts.append(f"{e.out_of_reach:.1%} of expected values are not spans of the text")
    if m.serving is not None:  # a span tagger on CPU cores
        a = CostAssumptions()
        busy = nominal(a.gpu_utilization)  # the share of paid time doing work, as priced
        per_1m = a.cpu_core_usd_per_hour / 3600 / m.serving.requests_per_second_per_core
        parts.append(
            f"it serves {m.serving.requests_per_second:,.0f} requests/s on "
            f"{m.serving.threads} CPU threads, about ${per_1m / busy * 1e6:,.2f} per million "
            f"requests at ${a.cpu_core_usd_per_hour:g} a core-hour and {busy:.0%} utilisation"
        )
    return "; ".join(parts)


def _baseline_rule(
    name: str, q: QualityMeasure, bar: float, model: str, trained: QualityMeasure | None
) -> Rule:
    strategy = BASELINE_FOR[name]
    what = {
        "few_shot": f"Few-shot prompting of the small pilot model ({model})",
        "retrieval_few_shot": f"Retrieval with the small pilot model ({model})",
        "nearest_neighbour_label": "The nearest training example's label (retrieval alone)",
        "linear_probe": "A linear probe on frozen sentence embeddings (a small classifier "
        "trained in seconds)",
        "rag": f"The small pilot model ({model}) answering from passages retrieved from your "
        "documents",
    }[name]
    text = f"{what} reached {q.text()} {q.metric}"
    effects: dict[str, float] = {}
    if q.ci_low >= bar:
        text += f", meeting the bar of {bar:.0%}" + (
            ": a small classifier is enough."
            if strategy == "fine_tune"
            else " even before a capable model is used."
        )
        effects = {strategy: MET_BONUS}
    elif strategy == "fine_tune":  # a small classifier is a fine-tune: no stronger stand-in
        text += f" (bar {bar:.0%})."
        if trained is not None and q.ci_low > trained.ci_high:
            text += f" It beats the trained pilot ({trained.value:.1%}): train a classifier."
    else:
        text += f" (bar {bar:.0%}); a capable model would do at least as well."
        if trained is not None and q.ci_low > trained.ci_high:
            text += f" It beats the trained pilot ({trained.value:.1%}) outright."
            effects = {strategy: BEATS_TRAINED_BONUS}
    return _rule(f"measured_{name}", "Measured on your holdout", text, effects)


def _endpoint_rule(m: Measurement, bar: float) -> Rule:
    """The capable model itself, prompted (or with retrieved examples) on the holdout."""
    strategy, e, q = ENDPOINT_MEASURES[m.method], m.endpoint, m.quality
    text = (
        f"The capable model {e.model}, asked by the {METHODS[m.method].label} pilot "
        f"({m.run_id}), reached {q.text()} {q.metric} at ${e.usd_per_request:.5f} a request, "
        f"against a bar of {bar:.0%}"
    )
    effects: dict[str, float] = {}
    vetoes: frozenset[str] = frozenset()
    if m.holdout_examples < MIN_HOLDOUT:
        text += f"; scored on {m.holdout_examples} holdout rows, too few to act on."
    elif q.ci_high < bar:
        text += ": below the bar even at the top of its interval."
        vetoes = frozenset({strategy})
    elif q.ci_low >= bar:
        text += ": it meets the bar."
        effects = {strategy: MET_BONUS}
    else:
        text += ": the interval straddles the bar; a larger holdout would decide."
    return _rule(f"measured_endpoint_{m.method}", f"Measured: {e.model}", text, effects, vetoes)


def _rule(id_: str, situation: str, text: str, effects, vetoes=frozenset()) -> Rule:
    return Rule(
        id=id_,
        kind="measured",
        situation=situation,
        rationale=text,
        source=SOURCE,
        when=lambda s: True,
        effects=effects,
        vetoes=vetoes,
    )


def measurement_rules(scenario: Scenario, measurements: list[Measurement]) -> tuple[Rule, ...]:
    """One rule per measured method (its best run) and per measured baseline kind."""
    bar = scenario.quality_bar_pct / 100
    rules, trained = [], None
    for method in (name for name, spec in METHODS.items() if spec.trains):
        runs = [m for m in measurements if m.method == method]
        # complete evidence first, then the best quality
        best = max(runs, key=lambda m: (not evidence_gaps(m), m.quality.value), default=None)
        if best is not None:
            rules.append(_trained_rule(method, best.run_id, best.quality, bar, best))
            complete = not evidence_gaps(best)
            if complete and (trained is None or best.quality.ci_high > trained.ci_high):
                trained = best.quality
    for method in ENDPOINT_MEASURES:  # the capable model itself: its best run per method
        asked = [m for m in measurements if m.method == method and m.endpoint is not None]
        if asked:
            rules.append(_endpoint_rule(max(asked, key=lambda m: m.quality.value), bar))
    for strategy in ("prompt", "rag", "fine_tune"):
        found = [
            (q.value, name, q, m.model)
            for m in measurements
            for name, q in m.baselines.items()
            if BASELINE_FOR.get(name) == strategy
        ]
        if found:
            _, name, q, model = max(found, key=lambda x: x[0])
            rule = _baseline_rule(name, q, bar, model, trained)
            source = next(m for m in measurements if q in m.baselines.values())
            holdout = source.holdout_examples
            if name == "rag" and source.rag and (note := source.rag.reader_limit()):
                rule = _rule(rule.id, rule.situation, f"{rule.rationale} {note}", rule.effects)
            if holdout < MIN_HOLDOUT:  # quoted, never acted on
                text = f"{rule.rationale} Scored on {holdout} holdout rows, too few to act on."
                rule = _rule(rule.id, rule.situation, text, {})
            rules.append(rule)
    return tuple(rules)
