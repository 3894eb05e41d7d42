"""The one way a pilot starts, for the CLI and the app alike: validate the inputs, run the
preflight, refuse what will not fit, write the run directory (config.yaml, preflight.json,
and, for a re-run, the original's frozen splits), enter it in the index as queued, and
start it detached with any secrets in the child's environment only."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from core.scenario import InputError
from core.vocab import METHODS, curve_applies
from rag.documents import read_documents
from trainers import runs
from trainers.config import PilotConfig, load_config, save_config
from trainers.data import load_dataset
from trainers.fields import EXTRACT_DATA, run_schema
from trainers.instruction import read_label_descriptions
from trainers.labelcheck import check_training_labels, data_warnings
from trainers.models import resolve_model
from trainers.preflight import Preflight, estimate_pilot

SPLIT_FIELDS = ("data", "holdout_data", "holdout_fraction", "holdout_max", "seed")


@dataclass(frozen=True)
class Launched:
    run_dir: Path
    preflight: Preflight


def validate_inputs(cfg: PilotConfig) -> list[str]:
    """Every bad data row (with its line number) and an unsafe model folder, before any
    process starts; returns warnings about data that look like noise."""
    spec = METHODS[cfg.method]
    if spec.unlabelled_inputs:
        return validate_distillation(cfg)
    ds = load_dataset(cfg.data, drop_repeats=bool(cfg.holdout_data))
    check_training_labels(ds, cfg.data)
    if spec.flow == "classifier" and ds.task != "classify":
        raise InputError(
            f"{cfg.data}: the classifier method needs classification data (CSV text,label); "
            "for generation use method=lora"
        )
    if spec.flow == "extract" and ds.task != "extract":
        raise InputError(EXTRACT_DATA.format(data=cfg.data, method=cfg.method))
    if ds.task == "extract":
        run_schema(cfg.output_schema, [e.fields or {} for e in ds.examples])
    elif cfg.output_schema:
        raise InputError(
            f"output_schema: a schema applies to extraction data (JSONL of text and fields); "
            f"{cfg.data} is {ds.task} data"
        )
    warnings = data_warnings(ds)
    if spec.documents and ds.format != "qa":
        raise InputError(
            f"{cfg.data}: method {cfg.method} needs questions JSONL "
            '(one {"question": ..., "answers": [...], "answerable": true} per line)'
        )
    if cfg.curve and not curve_applies(cfg.method, ds.format):
        raise InputError(
            f"curve: a learning curve is trained for {spec.label} on examples, not on "
            "questions JSONL; leave --curve out"
        )
    if cfg.docs:  # every unreadable file is named now; the run indexes the rest
        _, skipped = read_documents(cfg.docs)
        warnings += [f"docs: skipped {s.file}: {s.reason}" for s in skipped]
    if cfg.label_descriptions:
        read_label_descriptions(cfg.label_descriptions, ds.labels)
    if cfg.holdout_data:
        load_dataset(cfg.holdout_data, drop_repeats=True)
    if Path(cfg.model).expanduser().exists():
        resolve_model(cfg.model)  # safetensors only
    if spec.teacher_endpoint and not cfg.teacher_url:
        from trainers.teacher import resolve_teacher

        if resolve_teacher(cfg).kind != "causal_model":
            raise InputError(
                f"teacher: {cfg.teacher} is a classifier; it can teach distill_classifier, "
                f"not {cfg.method} (which needs a model that writes answers)"
            )
    return warnings


def validate_distillation(cfg: PilotConfig) -> list[str]:
    """The inputs, the holdout, the teacher and its label set, before anything starts:
    every problem is one line naming it (the run itself would only find it later)."""
    from trainers.splits import make_splits
    from trainers.teacher import check_endpoint_teacher, label_set, resolve_teacher

    inputs, hold = make_splits(cfg)  # the inputs file and the holdout, read and checked
    if hold.task == "generate":
        raise InputError(
            f"{cfg.holdout_data}: distillation into a classifier scores a classification "
            "holdout (CSV text,label), or none (the teacher then labels a share of the inputs)"
        )
    teacher = resolve_teacher(cfg)
    labels = label_set(cfg, teacher, hold.labels)
    warnings = []
    if teacher.labels and (unknown := sorted(set(hold.labels) - set(teacher.labels))):
        warnings.append(
            f"{len(unknown)} holdout label(s) the teacher cannot answer (e.g. {unknown[0]!r}): "
            "no student trained on its labels can get those rows right"
        )
    if cfg.label_descriptions:
        read_label_descriptions(cfg.label_descriptions, labels)
    check_endpoint_teacher(cfg, inputs, labels)
    if n := inputs.dropped.get("repeats"):
        warnings.append(f"{n:,} repeated input(s) dropped (each kept once)")
    return warnings


def start_pilot(
    cfg: PilotConfig,
    *,
    run_dir: Path | None = None,
    probe: bool = True,
    preflight: Preflight | None = None,
    secrets: dict[str, str] | None = None,
    splits_from: Path | None = None,
    prepare: bool = False,
) -> Launched:
    """Start a pilot; `prepare` writes the run directory only (for torchrun). A given
    preflight (one the app already showed) is used as is. `splits_from`: a finished run
    whose frozen train/holdout split this run reuses when the split's fields agree."""
    validate_inputs(cfg)
    pre = preflight or estimate_pilot(cfg, probe=probe)
    if not pre.fits:
        raise InputError(f"refused: {pre.advice}")
    run_dir = Path(run_dir) if run_dir else runs.new_run_dir(cfg.method)
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / "config.yaml").exists():
        raise InputError(f"{run_dir} already holds a run; choose another --run-dir")
    save_config(cfg, run_dir)
    runs.write_json_atomic(run_dir / "preflight.json", pre.model_dump())  # for fidelity
    if splits_from is not None:
        _reuse_splits(cfg, Path(splits_from), run_dir)
    runs.index_upsert(run_dir, method=cfg.method, model=cfg.model, status_="queued")
    if not prepare:
        runs.launch(run_dir, extra_env=secrets)
    return Launched(run_dir=run_dir, preflight=pre)


def _reuse_splits(cfg: PilotConfig, source: Path, run_dir: Path) -> None:
    """A re-run scores on the very holdout the original froze (when nothing that decides
    the split changed)."""

    try:
        old = load_config(source)
    except InputError:
        return
    if any(getattr(old, f) != getattr(cfg, f) for f in SPLIT_FIELDS):
        return
    for name in ("train.json", "holdout.json"):
        if not (source / name).exists():
            return
    for name in ("train.json", "holdout.json"):
        shutil.copyfile(source / name, run_dir / name)
