"""The prompt and retrieval pilots through an endpoint: the capable model itself, asked
the way a team would ask it, on the frozen holdout. prompt: zero-shot and few-shot (the
method's result); retrieval: zero-shot and the nearest training examples as shots (the
result), plus, for classification, the nearest-neighbour label and the linear probe on
frozen embeddings, computed locally. For classification the system prompt lists every
label (with the team's descriptions when given), as a team would write it for a capable
model, and the instruction's own token count is measured at the endpoint.

Rows that failed (after the retries) or were not sent (the spend cap) are listed with
their reason in metrics.json and left out of the score, never counted as answers.
"""

from __future__ import annotations

import time
from pathlib import Path

from core.measurement import Measurement
from costmodels.prices import load_catalog
from trainers import runs
from trainers.baselines import (
    FEW_SHOT_K,
    Retriever,
    few_shot_examples,
    linear_probe,
    with_shots,
)
from trainers.config import PilotConfig, freeze_splits
from trainers.data import Example, fingerprint, read_frozen
from trainers.endpoint import EndpointSpec, ResponseCache, ask_all, endpoint_stats
from trainers.evaluate import accuracy, hits, score
from trainers.instruction import (
    as_asked,
    classify_instruction,
    frozen_descriptions,
    instruction_tokens,
    read_label_descriptions,
)
from trainers.metrics import FailedRow, PilotMetrics, Sample, run_fidelity
from trainers.models import cache_dir


def spec_of(cfg: PilotConfig, teacher: bool = False) -> EndpointSpec:
    """The endpoint (the pilot's, or the distillation teacher's) with its price: given,
    else the catalog's for the model name, else 0 (a model you host)."""
    model = (cfg.teacher_model or "teacher") if teacher else cfg.endpoint_model
    listed = load_catalog().models.get(model or "")

    def price(given: float | None, kind: str) -> float:
        if given is not None:
            return given
        return float(getattr(listed, f"usd_per_1m_{kind}_tokens")) if listed else 0.0

    return EndpointSpec(
        url=cfg.teacher_url if teacher else cfg.endpoint_url,
        model=model,
        key_env=cfg.teacher_key_env if teacher else cfg.endpoint_key_env,
        usd_per_1m_input_tokens=price(cfg.usd_per_1m_input, "input"),
        usd_per_1m_output_tokens=price(cfg.usd_per_1m_output, "output"),
        concurrency=cfg.concurrency,
        timeout_s=cfg.endpoint_timeout_s,
        max_usd=cfg.max_usd,
    )


def predicted_usd(cfg: PilotConfig) -> float:
    """What the pilot's requests will cost before any is sent: the holdout rows times the
    variants asked, tokens estimated from characters (about 4 per token), few-shot and
    retrieval prompts carrying FEW_SHOT_K examples more."""
    from trainers.config import make_splits
    from trainers.endpoint import CHARS_PER_TOKEN

    train_ds, hold_ds = make_splits(cfg)
    spec = spec_of(cfg)
    ask = None
    if hold_ds.task == "classify":  # priced with the instruction the run will send
        labels = tuple(sorted({e.target for e in train_ds.examples}))
        path = cfg.label_descriptions
        ask = classify_instruction(labels, read_label_descriptions(path, labels) if path else {})
    train = [as_asked(e, ask) for e in train_ds.examples]
    hold = [as_asked(e, ask) for e in hold_ds.examples]

    def tokens(e: Example) -> float:
        return sum(len(m.content) for m in e.messages) / CHARS_PER_TOKEN

    per_row = sum(map(tokens, hold)) / max(1, len(hold))
    if cfg.method == "rag":  # closed-book, then with top_k passages of at most chunk_chars
        per_row += cfg.top_k * cfg.chunk_chars / CHARS_PER_TOKEN / 2
    shots = FEW_SHOT_K * sum(map(tokens, train)) / max(1, len(train))
    out = max(len(e.target) for e in train) / CHARS_PER_TOKEN + 1
    rows = len(hold)
    return spec.usd(rows * (2 * per_row + shots), 2 * rows * out)


def _prompts(cfg: PilotConfig, train, hold) -> dict[str, list]:
    """The prompts of each variant, in holdout order."""
    out = {"zero_shot": [e.messages for e in hold]}
    if cfg.method == "prompt":
        shots = few_shot_examples(train, FEW_SHOT_K, cfg.seed)
        out["few_shot"] = [with_shots(e, shots) for e in hold]
    return out


def run(cfg: PilotConfig, run_dir: Path, t0: float) -> PilotMetrics:
    train_ds, hold_ds = freeze_splits(cfg, run_dir)
    task = hold_ds.task
    instruction = None
    if task == "classify":  # the data's own template lists at most 20 labels: list all
        labels = tuple(sorted({e.target for e in train_ds.examples}))
        described = frozen_descriptions(cfg.label_descriptions, labels, run_dir)
        instruction = classify_instruction(labels, described)
    train = [as_asked(e, instruction) for e in train_ds.examples]
    hold = [as_asked(e, instruction) for e in hold_ds.examples]
    runs.emit(run_dir, "data", train=len(train), holdout=len(hold), task=task)
    spec = spec_of(cfg)
    cache = ResponseCache(cache_dir() / "endpoint_cache.sqlite")
    system = next((m.content for m in hold[0].messages if m.role == "system"), None)
    instr_tokens, spent = instruction_tokens(spec, cache, system) if system else (0, 0.0)
    budget = min(512, max(len(e.target) for e in train) // 2 + 16)  # tokens, generous
    prompts = _prompts(cfg, train, hold)
    local: dict[str, list[str]] = {}
    if cfg.method == "retrieval":
        retriever = Retriever(train)
        embedded = retriever.embed(hold)  # (Q, D)
        near = retriever.nearest(hold, FEW_SHOT_K, embedded)
        prompts["retrieval_few_shot"] = [
            with_shots(e, n[::-1]) for e, n in zip(hold, near, strict=True)
        ]
        if task == "classify":
            local["nearest_neighbour_label"] = [n[0].target for n in near]
            local["linear_probe"] = linear_probe(
                retriever.matrix, [e.target for e in train], embedded
            )
    replies = ask_variants(spec, prompts, budget, cache, run_dir, spent)
    stats = {"n_train": len(train), "task": task, "instruction_tokens": instr_tokens}
    return _metrics(cfg, run_dir, t0, spec, replies, local, hold, stats)


def ask_variants(spec, prompts: dict, max_tokens: int, cache, run_dir: Path, spent=0.0) -> dict:
    """Each variant's prompts asked in turn, the spend cap counting what earlier variants
    (and `spent`) already paid; progress goes to the run's events."""
    replies = {}
    for name, batch in prompts.items():
        runs.emit(run_dir, "eval", phase=f"endpoint {name}")
        replies[name] = ask_all(
            spec,
            batch,
            max_tokens=max_tokens,
            cache=cache,
            spent_usd=spent,
            progress=lambda done, total, n=name: runs.emit(
                run_dir, "eval", phase=n, rows=done, of=total
            ),
        )
        spent += endpoint_stats(spec, replies[name], 0).usd_spent
    return replies


def _metrics(cfg, run_dir, t0, spec, replies, local, hold, about: dict) -> PilotMetrics:
    task = about["task"]
    gold = [e.target for e in hold]
    result = "few_shot" if cfg.method == "prompt" else "retrieval_few_shot"
    scored, correct, failed = {}, {}, []
    for name, rs in replies.items():
        ok = [i for i, r in enumerate(rs) if r.error is None]
        preds = [rs[i].text for i in ok]
        scored[name] = score(task, preds, [gold[i] for i in ok])
        failed += [
            FailedRow(variant=name, line=hold[i].line, reason=r.error)
            for i, r in enumerate(rs)
            if r.error
        ]
        if task == "classify" and len(ok) == len(rs):  # a paired test needs every row
            correct[name] = hits(preds, gold)
    for name, preds in local.items():
        scored[name], correct[name] = accuracy(preds, gold), hits(preds, gold)
    q = scored[result]
    right = round(q.value * q.n) if task == "classify" else 0
    stats = endpoint_stats(spec, replies[result], right).model_copy(
        update={"instruction_tokens": about["instruction_tokens"]}
    )
    wall = time.perf_counter() - t0
    measurement = Measurement(
        run_id=run_dir.name,
        method=cfg.method,
        model=spec.model,
        model_params=0,
        device="endpoint",
        device_name=spec.url,
        train_examples=about["n_train"],
        holdout_examples=len(hold),
        train_tokens=0,
        tokens_per_second=0.0,
        generation_tokens_per_second=0.0,
        peak_memory_mib=0.0,
        wall_seconds=wall,
        quality=q,
        baseline=scored["zero_shot"],
        baselines={k: v for k, v in scored.items() if k != result},
        endpoint=stats,
    )
    return PilotMetrics(
        run_dir=str(run_dir),
        measurement=measurement,
        fidelity=run_fidelity(run_dir, wall, 0.0, 0.0),
        samples=tuple(
            Sample(
                input=e.messages[-1].content,
                gold=e.target,
                predicted=r.text or f"(failed: {r.error})",
            )
            for e, r in list(zip(hold, replies[result], strict=True))[:20]
        ),
        holdout_fingerprint=fingerprint(read_frozen(run_dir / "holdout.json")),
        correct=correct,
        failed_rows=tuple(failed),
    )
