"""`adapt memory` (what a run needs, and the smallest GPU plan per GPU type) and
`adapt plan` (the launch files of the production run). Part of cli.py's `adapt`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.scenario import InputError
from costmodels.assumptions import CostAssumptions
from costmodels.compute import LINEAR_TARGETS

PER_TOKENS = 1e8  # plans are priced per 100M training tokens when none are given


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _targets(text: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in (text or "").split(",") if t.strip())


def model_shape_of(model: str, config: str | None = None, flag: str = "--model"):
    """The shape of a config.json, a local model folder, a model the pilots know, or a
    well-known open model by name (meta-llama/Llama-3.1-8B)."""
    from costmodels import load_shape
    from costmodels.plan import reference_shapes
    from trainers.preflight import model_shape

    if config or Path(model).expanduser().exists():
        return load_shape(config or model)
    if shape := model_shape(model):
        return shape
    known = {k.lower(): v for k, v in reference_shapes().items()}
    if shape := known.get(model.rsplit("/", 1)[-1].lower()):
        return shape
    fix = "give --model-config path/to/config.json" if flag == "--model" else "give its config.json"
    raise InputError(
        f"{flag} {model}: no config.json to read its shape from; {fix} "
        f"(known by name: {', '.join(reference_shapes())})"
    )


def _plans(args, shape, catalog) -> list:
    from costmodels.plan import plan_training

    gpus = [catalog.gpu(args.gpu, "--gpu")] if args.gpu else catalog.gpus
    targets = _targets(args.lora_targets) or LINEAR_TARGETS
    return [
        plan_training(
            shape,
            args.method,
            g,
            batch=args.batch,
            seq_len=args.seq_len,
            grad_checkpointing=args.grad_checkpointing,
            lora_rank=args.lora_rank or 16,
            lora_targets=targets,
            train_tokens=args.train_tokens or PER_TOKENS,
            gpus=args.gpus,
            sharding=args.sharding,
        )
        for g in gpus
    ]


def _print_plans(plans, per: str) -> None:
    print(f"\nTraining plan: the fewest GPUs that hold the run ({per}):")
    for p in plans:
        print(f"  {p.headline()}")
    print(
        f"\n{'GPU':<10} {'GPUs':>5} {'GiB/GPU':>8} {'wall hours':>20} {'GPU-hours':>10} "
        f"{'$':>12} {'scaling':>8}"
    )
    for p in plans:
        hours = f"{p.wall_hours:.2f} ({p.wall_hours_low:.2f}-{p.wall_hours_high:.2f})"
        print(
            f"{p.gpu:<10} {p.gpus:>5} {p.memory.total_gib:>8.1f} {hours:>20} "
            f"{p.gpu_hours:>10.2f} {p.usd:>12,.2f} {p.scaling_efficiency:>8.2f}"
        )
    parts = [k for k in type(plans[0].memory).model_fields if k != "total_gib"]
    print("\nPer GPU, GiB      " + "".join(f"{p.gpu:>11}" for p in plans))
    for k in parts:
        print(f"  {k[:-4]:<16}" + "".join(f"{getattr(p.memory, k):>11.2f}" for p in plans))
    a = CostAssumptions()
    m, e, x = a.training_mfu, a.multi_gpu_scaling_efficiency, a.multi_node_scaling_efficiency
    print(
        f"(10% of each GPU kept free; wall hours at MFU {m.nominal:g} and the scaling "
        f"efficiency shown, range over MFU {m.low:g}-{m.high:g}, scaling {e.low:g}-{e.high:g} "
        f"in a node and x{x.low:g}-{x.high:g} across nodes: costmodels/assumptions.py)"
    )


def cmd_memory(args: argparse.Namespace) -> int:
    from costmodels import estimate_memory, load_catalog
    from costmodels.compute import gpu_table

    shape = model_shape_of(args.config, flag="--config")
    targets = _targets(args.lora_targets) or LINEAR_TARGETS
    est = estimate_memory(
        shape,
        args.method,
        lora_rank=args.lora_rank or 16,
        lora_targets=targets,
        batch=args.batch,
        seq_len=args.seq_len,
        grad_checkpointing=args.grad_checkpointing,
    )
    catalog = load_catalog()
    if args.gpu:
        catalog.gpu(args.gpu, "--gpu")  # an unknown GPU is refused before anything prints
    table = gpu_table(est, catalog.gpus, train_tokens=args.train_tokens)
    plans = [] if args.method == "inference" else _plans(args, shape, catalog)
    if args.json:
        out = est.model_dump() | {"gpus": [g.model_dump() for g in table]}
        out["plans"] = [p.model_dump() | {"headline": p.headline()} for p in plans]
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"{shape.model_type}: {est.params / 1e9:.3f}B parameters, method {est.method}, "
        f"{est.trainable_params:,} trainable; the whole run on one device:"
    )
    for k, v in est.model_dump().items():
        if k.endswith("_gib"):
            print(f"  {k[:-4]:<18} {v:>10.3f} GiB")
    print(f"\n{'GPU':<10} {'fits':<5} {'free GiB':>9} {'decode tok/s ceiling':>21} {'$/1M tok':>9}")
    for g in table:
        print(
            f"{g.gpu:<10} {'yes' if g.fits else 'no':<5} {g.free_gib:>9.2f} "
            f"{g.decode_tokens_per_second_ceiling:>21,.0f} "
            f"{g.serving_usd_per_1m_tokens_at_ceiling:>9.4f}"
        )
    if plans:
        per = (
            f"{args.train_tokens:,.0f} training tokens"
            if args.train_tokens
            else ("per 100M training tokens; --train-tokens sets the run's")
        )
        _print_plans(plans, per)
    return 0


def _common(p: argparse.ArgumentParser, from_run: bool = False) -> None:
    """Flags of both commands; `adapt plan` defaults the LoRA ones to the pilot run's."""
    p.add_argument(
        "--lora-rank",
        type=_positive,
        default=None if from_run else 16,
        help="default: the run's, else 16" if from_run else None,
    )
    p.add_argument(
        "--lora-targets",
        default=None if from_run else ",".join(LINEAR_TARGETS),
        help="linear layers with adapters, comma-separated (default: "
        + ("the run's, else " if from_run else "")
        + "all seven, as pilots train)",
    )
    p.add_argument("--gpu", help="plan for this catalog GPU only (default: every GPU type)")
    p.add_argument("--gpus", type=_positive, help="this many GPUs (default: the fewest that fit)")
    p.add_argument(
        "--sharding",
        choices=["auto", "none", "full_shard"],
        default="auto",
        help="auto: one GPU if it fits, else FSDP full shard (QLoRA is never sharded); "
        "none: one copy per GPU (DDP)",
    )


def add_parsers(sub, handlers) -> None:
    p = sub.add_parser("memory", help="memory of a training run, and the GPUs it needs")
    p.add_argument(
        "--config",
        required=True,
        help="config.json, a local model folder, or a model name the pilots know "
        "(smollm2-135m-instruct) or a well-known open model (Llama-3.1-8B)",
    )
    p.add_argument("--method", choices=["full", "lora", "qlora", "inference"], required=True)
    p.add_argument("--batch", type=_positive, default=1, help="sequences per GPU per step")
    p.add_argument("--seq-len", type=_positive, default=512)
    p.add_argument("--grad-checkpointing", action="store_true")
    p.add_argument(
        "--train-tokens",
        type=float,
        default=0.0,
        help="training tokens (examples x tokens x epochs) for the time and cost",
    )
    _common(p)
    p.add_argument("--json", action="store_true")
    handlers["memory"] = cmd_memory

    p = sub.add_parser("plan", help="write the launch files of the production fine-tuning run")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="a finished pilot run: its data split and hyperparameters")
    src.add_argument("--data", help="a data file (split as a pilot would split it)")
    p.add_argument("--model", required=True, help="the model to fine-tune (Hub name or folder)")
    p.add_argument("--model-config", help="its config.json, when --model is not a local folder")
    p.add_argument(
        "--method", choices=["full", "lora", "qlora"], help="default: the run's, or lora"
    )
    p.add_argument("--epochs", type=float, help="default: the run's")
    p.add_argument("--lr", type=float, help="default: the run's, for the same method")
    p.add_argument("--batch-per-gpu", type=_positive, default=4)
    p.add_argument("--max-seq-len", type=_positive, help="default: the run's")
    p.add_argument("--out", required=True, help="a new folder for the files")
    _common(p, from_run=True)
    p.set_defaults(gpu="H100")
    handlers["plan"] = cmd_plan


def _source(args):
    """(train, holdout, the pilot's config or None) from --run or --data."""
    from core.vocab import METHODS
    from trainers.config import PilotConfig, load_config
    from trainers.runs import find_run
    from trainers.splits import make_splits, read_frozen

    if args.run:
        run = find_run(args.run)
        cfg = load_config(run)
        spec = METHODS[cfg.method]
        if spec.passages_in_training or spec.unlabelled_inputs:
            why = "its passages" if spec.passages_in_training else "the teacher's labels"
            raise InputError(
                f"--run {args.run}: a {cfg.method} run trains on {why}, which the written "
                "SFT data cannot hold yet; plan from --data with labelled rows instead"
            )
        if (run / "train.json").exists():  # the split the pilot froze
            return read_frozen(run / "train.json"), read_frozen(run / "holdout.json"), cfg
        return (*make_splits(cfg), cfg)  # a prepared run: the same split, from its seed
    train, hold = make_splits(PilotConfig(method="lora", data=args.data))
    return train, hold, None


def launch_spec(args, cfg):
    """The production run's settings: the flags, else the pilot's, else the defaults."""
    from trainers.config import TrainSettings
    from trainers.production import DEFAULT_LR, LaunchSpec

    t = cfg.train if cfg else TrainSettings()
    pilot_method = cfg.method if cfg and cfg.method in ("full", "lora", "qlora") else None
    method = args.method or pilot_method or "lora"
    lr = args.lr or (t.learning_rate if method == pilot_method else None) or DEFAULT_LR[method]
    targets = _targets(args.lora_targets) or t.lora_targets
    return LaunchSpec(
        model=args.model,
        method=method,
        gpu=args.gpu,
        gpus=args.gpus,
        sharding=args.sharding,
        epochs=args.epochs or t.epochs,
        batch_per_gpu=args.batch_per_gpu,
        effective_batch=t.batch_size,
        learning_rate=lr,
        warmup_ratio=t.warmup_ratio,
        max_seq_len=args.max_seq_len or t.max_seq_len,
        lora_rank=args.lora_rank or t.lora_rank,
        lora_alpha=t.lora_alpha,
        lora_dropout=t.lora_dropout,
        lora_targets=targets,
        grad_checkpointing=True,
        seed=cfg.seed if cfg else 0,
    )


def cmd_plan(args: argparse.Namespace) -> int:
    from costmodels import load_catalog
    from trainers.production import write_launch

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"--out {out}: the folder is not empty; name a new one")
    gpu = load_catalog().gpu(args.gpu, "--gpu")
    shape = model_shape_of(args.model, args.model_config)
    train, hold, cfg = _source(args)
    spec = launch_spec(args, cfg)
    plan = write_launch(spec, train, hold, shape, gpu, out)
    print(
        f"{plan.headline()}; {plan.wall_hours:.2f} h wall, {plan.gpu_hours:.2f} GPU-hours, "
        f"${plan.usd:,.2f} for {plan.train_tokens:,.0f} training tokens"
    )
    if not plan.fits:
        print("warning: the plan does not fit; the files are written for the layout tried")
    print(
        f"wrote {out}/: sft.yaml accelerate.yaml train.py launch.sh smoke_test.sh "
        "slurm.sbatch data/ plan.json"
    )
    print(
        f"run it: bash {out}/launch.sh"
        + (f"   (or: sbatch {out}/slurm.sbatch)" if plan.nodes > 1 else "")
    )
    return 0
