"""Paths that close: a vendor's fine-tuning that stops taking new jobs on a known date.

`priced_components(scenario, assumptions, catalog, draws, today)` is what every cost
figure reads. Through a vendor's API a trained strategy is priced as the vendor's
fine-tuning while that path is open; a training or retrain that would fall after the
path's end date is priced through the next open path instead: an open-weight model
fine-tuned on rented GPUs and served on them, or, for classification and routing, a small
encoder classifier on CPU cores. From that retrain on, serving moves to the open path too
(the new model no longer lives at the vendor). The text of each such strategy says so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np

from core.scenario import Scenario
from core.vocab import ADAPTED, CLASSIFIER_TASKS, STRATEGIES
from costmodels.assumptions import CostAssumptions, Range
from costmodels.prices import PriceCatalog, today
from costmodels.strategies import RAG_STRATEGIES, Components, strategy_components

DAYS_PER_MONTH = 365.25 / 12
# A small sentence encoder classifier (all-MiniLM-L6-v2) served 183 requests/s on two
# cores of an AMD EPYC in bench/bench_classify.py (README): about 90 per core; the range
# allows longer inputs (slower) and faster cores.
ENCODER_REQUESTS_PER_SECOND_PER_CORE = Range(low=30, high=150, mode=90)


def closing_month(closes: dt.date, start: dt.date) -> int:
    """The first month index (month 0 starts on `start`) that begins after `closes`:
    0 when the path is already closed."""
    if closes < start:
        return 0
    return math.floor((closes - start).days / DAYS_PER_MONTH) + 1


def open_path(s: Scenario, strategy: str) -> str:
    """The next open path of a strategy, in words, for its text."""
    if s.task_kind in CLASSIFIER_TASKS and strategy not in RAG_STRATEGIES:
        return "a small encoder classifier trained and served on CPU cores"
    return "an open-weight model fine-tuned on rented GPUs and served on them"


def _open_components(s: Scenario, a: CostAssumptions, cat: PriceCatalog, v) -> dict:
    open_s = s.model_copy(update={"deployment": "own_cloud_gpu"})
    if s.task_kind in CLASSIFIER_TASKS and a.classifier_requests_per_second_per_core is None:
        a = a.model_copy(
            update={"classifier_requests_per_second_per_core": ENCODER_REQUESTS_PER_SECOND_PER_CORE}
        )
        v = {k: x for k, x in (v or {}).items() if k != "classifier_requests_per_second_per_core"}
    return strategy_components(open_s, a, cat, v)


def priced_components(
    s: Scenario,
    a: CostAssumptions,
    cat: PriceCatalog,
    v: dict[str, np.ndarray | float] | None = None,
    start: dt.date | None = None,
) -> dict[str, Components]:
    """Every strategy's components, a closed or closing vendor path replaced by the open
    one where its trainings fall after the end date (see the module's docstring)."""
    comps = strategy_components(s, a, cat, v)
    ft = cat.fine_tune_price(a.small_vendor_model)
    if s.deployment != "vendor_api" or ft is None or ft.takes_no_new_jobs_after is None:
        return comps
    start = start or today()
    end = ft.takes_no_new_jobs_after
    closed = closing_month(end, start)
    if closed >= s.horizon_months:
        return comps
    opened = _open_components(s, a, cat, v)
    out = dict(comps)
    for k in (k for k in STRATEGIES if k in ADAPTED):
        c, path = comps[k], open_path(s, k)
        if closed == 0:
            note = (
                f"Fine-tuning {ft.model} through the vendor takes no new jobs after {end} "
                f"({ft.closing_source or ft.source}), before {start}: priced as {path}."
            )
            out[k] = dataclasses.replace(opened[k], path_note=note)
            continue
        every = c.retrain_every_months
        switch = every * math.ceil(closed / every) if every else None
        if switch is None or switch >= s.horizon_months:
            continue
        note = (
            f"Fine-tuning {ft.model} through the vendor takes no new jobs after {end}: "
            f"the retrain of month {switch} and every month from it are priced as {path}."
        )
        out[k] = dataclasses.replace(c, after=opened[k], after_month=switch, path_note=note)
    return out
