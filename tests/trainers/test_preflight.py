"""Preflight: a probe of a few real steps predicts memory, time and cost; a run predicted
not to fit is refused with advice; the run records predicted against measured."""

import json
from pathlib import Path

import pytest

from cli import main
from tests.trainers.conftest import DEMO_CSV
from trainers import runs


def _argv(tiny_model, *extra):
    return [
        "pilot",
        "--method",
        "lora",
        "--data",
        str(DEMO_CSV),
        "--model",
        str(tiny_model),
        *extra,
    ]


def test_preflight_json_probes_and_starts_nothing(tiny_model, runs_dir, capsys):
    assert main(_argv(tiny_model, "--max-steps", "6", "--preflight", "--json")) == 0
    pre = json.loads(capsys.readouterr().out)
    assert pre["probed"] and pre["fits"] and pre["advice"] is None
    assert pre["peak_memory_mib"] > 100 and pre["wall_seconds"] > 0
    assert pre["tokens_per_second_source"] == "measured by the probe"
    assert set(pre["phases_seconds"]) >= {"load", "generation", "train"}
    assert runs.index_list() == []  # nothing was launched


def test_a_run_that_will_not_fit_is_refused_with_advice(tiny_model, runs_dir, capsys, monkeypatch):
    monkeypatch.setenv("ADAPT_MEMORY_LIMIT_MIB", "200")
    assert main(_argv(tiny_model, "--max-steps", "2", "--no-probe", "--json")) == 2
    err = capsys.readouterr().err
    assert "refused: will not fit: try" in err and "MiB free" in err
    assert runs.index_list() == []
    assert main(_argv(tiny_model, "--preflight", "--no-probe", "--json")) == 0
    assert json.loads(capsys.readouterr().out)["fits"] is False


@pytest.mark.slow
def test_the_run_records_predicted_against_measured(tiny_model, runs_dir, capsys):
    assert main(_argv(tiny_model, "--max-steps", "6", "--json")) == 0
    out = json.loads(capsys.readouterr().out)
    fid = out["fidelity"]
    assert fid["probed"] is True
    for key in ("wall_seconds", "peak_memory_mib", "tokens_per_second"):
        measured = out["measurement"][key]
        assert fid[key]["measured"] == pytest.approx(measured, rel=0.01, abs=0.1)
        assert fid[key]["predicted"] > 0 and "error_pct" in fid[key]
    (row,) = runs.index_list()
    assert row["metrics"]["fidelity"] == fid  # and in the run index


PROBED = dict(
    device="cpu",
    load_s=3.0,
    holdout=16,
    holdout_available=16,
    zero_shot_batch_s=1.0,
    tuned_batch_s=1.0,
    train_tokens_per_epoch=2000,
    steps_per_epoch=4,
    peak_memory_mib=1500.0,
)


@pytest.mark.parametrize(
    ("qlora_tps", "lora_tps", "refused"),
    [(7.0, 208.0, True), (281.0, 415.0, False)],  # AVX2-only vs AVX-512 BF16, measured
)
def test_qlora_far_slower_than_lora_is_refused_and_lora_named(
    tiny_model, runs_dir, capsys, monkeypatch, qlora_tps, lora_tps, refused
):
    """The probe's two rates decide: over 2x slower than LoRA (which the probe trained,
    so it fits) refuses the pilot with both rates; within 2x goes ahead."""
    from trainers.preflight import predict
    from trainers.preflight.job import ProbeResult

    probed = ProbeResult(
        **PROBED, train_tokens_per_second=qlora_tps, lora_tokens_per_second=lora_tps
    )
    monkeypatch.setattr(predict, "run_probe", lambda cfg: probed)
    argv = [
        "pilot",
        "--foreground",
        "--method",
        "qlora",
        "--data",
        str(DEMO_CSV),
        "--model",
        str(tiny_model),
    ]
    assert main([*argv, "--device", "cpu", "--preflight", "--json"]) == 0
    pre = json.loads(capsys.readouterr().out)
    assert pre["fits"] is not refused
    if refused:
        assert "QLoRA on this CPU: 7 tokens/s against 208 for LoRA" in pre["advice"]
        assert "use --method lora" in pre["advice"]
        assert main([*argv, "--device", "cpu", "--max-steps", "2"]) == 2  # never started
        assert "use --method lora" in capsys.readouterr().err and runs.index_list() == []
    else:
        assert pre["advice"] is None


def test_without_a_probe_an_avx2_cpu_is_warned_about_qlora(tiny_model, runs_dir, monkeypatch):
    from core.measurement import Hardware
    from trainers import hardware
    from trainers.config import PilotConfig
    from trainers.preflight import estimate_pilot

    avx2 = Hardware(cpu_model="AMD EPYC", cpu_cores=2, cpu_flags=("avx2",))
    monkeypatch.setattr(hardware, "detect", lambda: avx2)
    cfg = PilotConfig(method="qlora", data=str(DEMO_CSV), model=str(tiny_model), device="cpu")
    pre = estimate_pilot(cfg, probe=False)
    assert pre.tokens_per_second == 7.0 and "without AVX-512" in pre.advice
    lora = estimate_pilot(cfg.model_copy(update={"method": "lora"}), probe=False)
    assert lora.tokens_per_second == 208.0 and lora.advice is None  # fp32 without bf16
    # the probe times QLoRA on 2-row steps there: it announces minutes, not the half hour
    # full QLoRA batches at 7 tokens/s would take
    from trainers.preflight import estimate, probe, probe_seconds

    assert estimate.PROBE_TIMED_STEPS == probe.TIMED_STEPS
    assert estimate.PROBE_QLORA_ROWS == probe.QLORA_TIMING_ROWS
    assert probe_seconds(cfg, "cpu") < 300


@pytest.mark.slow
def test_a_qlora_probe_on_the_cpu_times_lora_too(tiny_model, runs_dir):
    from trainers.config import PilotConfig
    from trainers.preflight.job import run_probe

    cfg = PilotConfig(method="qlora", data=str(DEMO_CSV), model=str(tiny_model), device="cpu")
    r = run_probe(cfg)
    assert r.ok, r.error
    assert r.train_tokens_per_second > 0 and r.lora_tokens_per_second > 0


def test_an_avx512_cpu_with_its_kernels_limited_to_avx2_is_treated_as_one():
    """ATEN_CPU_CAPABILITY=avx2 makes PyTorch (and bitsandbytes, which asks it) use AVX2
    kernels only: bf16 autocast and the 4-bit path are then not fast, whatever the flags."""
    from core.measurement import Hardware

    flags = ("avx2", "avx512f", "avx512_bf16")
    full = Hardware(cpu_model="AMD EPYC", cpu_cores=2, cpu_flags=flags, torch_cpu_kernels="AVX512")
    limited = full.model_copy(
        update={"torch_cpu_kernels": "AVX2", "isa_limits": ("ATEN_CPU_CAPABILITY=avx2",)}
    )
    assert full.bf16_autocast_fast() and full.usable_flags() == flags
    assert not limited.bf16_autocast_fast() and limited.usable_flags() == ("avx2",)
    assert "kernels limited to AVX2 by ATEN_CPU_CAPABILITY=avx2" in limited.text()
    at_avx512 = full.model_copy(update={"isa_limits": ("ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16",)})
    assert at_avx512.bf16_autocast_fast()  # a cap at AVX-512 takes nothing away


@pytest.mark.slow
def test_a_run_under_avx2_kernels_records_them_and_trains_in_fp32(
    tiny_model, runs_dir, capsys, monkeypatch
):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")  # the pilot's process inherits it
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)  # only the two set here
    argv = ["pilot", "--method", "lora", "--data", str(DEMO_CSV), "--model", str(tiny_model)]
    assert main([*argv, "--max-steps", "2", "--holdout-max", "8", "--no-probe", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    hw = out["measurement"]["hardware"]
    assert hw["torch_cpu_kernels"] == "AVX2"
    assert hw["isa_limits"] == ["ATEN_CPU_CAPABILITY=avx2", "MKL_ENABLE_INSTRUCTIONS=AVX2"]
    assert out["training"]["bf16"] is False and out["training"]["threads"] >= 1
    assert out["training"]["attention"] == "sdpa"  # flash attention is faster with AVX2 only
    assert main(["runs", "show", Path(out["run_dir"]).name]) == 0
    assert "kernels limited to AVX2" in capsys.readouterr().out
    # its speed is "measured by an earlier run" only for hardware of the same kind
    from core.measurement import Hardware
    from trainers import hardware
    from trainers.preflight import measured_throughput

    m = out["measurement"]
    if "avx512f" in hardware.detect().usable_flags():  # this process is of another kind
        assert measured_throughput("lora", m["model"], "cpu") is None
    monkeypatch.setattr(hardware, "detect", lambda: Hardware.model_validate(hw))
    assert measured_throughput("lora", m["model"], "cpu") == m["tokens_per_second"]
