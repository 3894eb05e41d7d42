"""What `adapt pilot` and `adapt runs show` print about a run: its result in a few lines,
or as JSON, or the error that ended it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from trainers import runs


def report(run_dir: Path, as_json: bool) -> int:
    from trainers.metrics import read_metrics

    st = runs.status(run_dir)
    if st == "done":
        m = read_metrics(run_dir)
        if as_json:
            print(m.model_dump_json(indent=2, exclude={"samples"}))
            return 0
        q, z, meas = m.quality, m.measurement.baseline, m.measurement
        cut = f" (training stopped by its {m.training.stopped_by} limit)" if m.stopped_early else ""
        print(
            f"{meas.method} on {meas.model} ({meas.device}): {q.metric} {q.text()}"
            + (f" vs zero-shot {z.value:.3f}" if z else "")
            + f"; {meas.wall_seconds:.0f}s, {meas.tokens_per_second:.0f} tok/s, peak "
            f"{meas.peak_memory_mib:.0f} MiB{cut}\nrun: {run_dir}"
        )
        if meas.hardware:
            trained = f"; {m.training.path()}" if m.training else ""
            print(f"on {meas.hardware.text()}{trained}")
        if meas.endpoint:
            print(endpoint_line(meas.endpoint))
        if meas.rag:
            print(rag_lines(meas.rag))
        if meas.distill:
            print(distill_lines(meas.distill))
        return 0
    err = next(
        (e.get("message") for e in reversed(runs.read_events(run_dir)) if e["event"] == "error"),
        None,
    )
    if as_json:
        print(json.dumps({"status": st, "run_dir": str(run_dir), "error": err}, indent=2))
    else:
        print(f"run {run_dir.name} {st}: {err or 'see log.txt'}", file=sys.stderr)
    return 1


def endpoint_line(e) -> str:
    """The endpoint's cost and speed in one line of text."""
    instr = (
        f", of which the instruction {e.instruction_tokens:,}"
        if e.instruction_tokens is not None
        else ""
    )
    return (
        f"endpoint {e.model}: ${e.usd_per_request:.5f} a request, "
        f"{e.input_tokens_per_request:,.0f} input tokens{instr} and "
        f"{e.output_tokens_per_request:,.0f} output; latency p50 {e.latency_ms_p50:,.0f} ms, "
        f"p95 {e.latency_ms_p95:,.0f} ms; {e.requests} requests, {e.errors} failed, "
        f"{e.cached} from the cache; paid ${e.usd_spent:.4f}"
    )


def distill_lines(d) -> str:
    """A distillation pilot in a few lines of text."""
    from reports.distill_tables import headline, student_rows, teacher_row

    t = teacher_row(d)
    out = [
        f"teacher {t['Teacher']}: {t['Inputs labelled']} inputs labelled, {t['Kept']} kept "
        f"(dropped: {t['Dropped by the filter']}); on gold: {t['Teacher on gold']}"
    ]
    out += [
        f"{r['Student']} on {r['Teacher labels']}: agreement {r['Agreement with the teacher']}"
        f", accuracy {r['Accuracy on gold']}"
        for r in student_rows(d)
    ]
    return "\n".join([*out, headline(d)])


def rag_lines(r) -> str:
    """A pilot over documents in a few lines of text."""
    out = [
        f"index: {r.documents} documents, {r.chunks} passages, built in "
        f"{r.index_build_seconds:.1f} s ({r.documents_per_second:,.0f} documents/s once the "
        f"encoder was loaded); {r.context_tokens_per_request:,.0f} context tokens a request"
    ]
    if r.retrieval and r.retrieval.hit_at_1 is not None:
        t = r.retrieval
        out.append(
            f"retrieval ({t.mode}, {t.questions} answerable questions): hit@1 {t.hit_at_1:.1%}, "
            f"hit@5 {t.hit_at_5:.1%}, MRR@10 {t.mrr_at_10:.3f}, answer in the passages "
            f"{t.answer_in_context:.1%}"
        )
    for name, a in r.answers.items():
        no = a.abstained_when_unanswerable
        said = f"; said 'not in the documents' on {no.value:.0%} of unanswerable" if no else ""
        out.append(f"{name}: F1 {a.f1.text()}, exact match {a.exact_match.value:.1%}{said}")
    out += [f"F1 {k}: {d.text()}" for k, d in r.f1_gain.items()]
    out += [f"skipped {s}" for s in r.skipped_files]
    return "\n".join(out)
