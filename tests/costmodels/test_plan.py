"""Training plans (issue 28): the sharded arithmetic against hand-computed values, the
smallest GPU count, multi-node plans, and what the engine cannot express."""

import json

import pytest

from cli import main
from core.scenario import InputError
from costmodels import load_catalog
from costmodels.compute import shape_from_config
from costmodels.plan import plan_training, reference_shapes, scaling_efficiency, shape_for_params

GIB = 2**30
LLAMA2_7B = {
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 32000,
    "tie_word_embeddings": False,
}
RUN = {"batch": 4, "seq_len": 512, "grad_checkpointing": True}


def _gpu(name):
    return load_catalog().gpu(name)


def test_a_7b_full_fine_tune_takes_two_a100s_sharded_as_computed_by_hand():
    plan = plan_training(shape_from_config(LLAMA2_7B), "full", _gpu("A100-80GB"), **RUN)
    n = 6_738_415_616  # 32 x (4 x 4096^2 + 3 x 4096 x 11008 + 2 x 4096) + 2 x 32000 x 4096 + 4096
    layer, root = 202_383_360, 2 * 32000 * 4096 + 4096
    m = plan.memory
    assert (plan.gpus, plan.nodes, plan.sharding, plan.fits) == (2, 1, "full_shard", True)
    assert m.weights_gib == pytest.approx(2 * n / 2 / GIB, abs=1e-3)  # bf16, halved
    assert m.gradients_gib == pytest.approx(2 * n / 2 / GIB, abs=1e-3)
    assert m.optimizer_gib == pytest.approx(12 * n / 2 / GIB, abs=1e-3)  # fp32 master + Adam
    gathered = max(root, 2 * layer) * 2 + max(root, layer) * 2  # two layers + one gradient
    assert m.gathered_gib == pytest.approx(gathered / GIB, abs=1e-3)
    # with checkpointing: 32 layer inputs, one layer's activations, fp32 logits
    layer_act = 34 * 4 * 512 * 4096 + 5 * 32 * 512**2 * 4
    act = 32 * 2 * 4 * 512 * 4096 + layer_act + 4 * 4 * 512 * 32000
    assert m.activations_gib == pytest.approx(act / GIB, abs=1e-3)
    assert m.total_gib == pytest.approx((16 * n / 2 + gathered + act) / GIB + 1.0, abs=0.01)
    assert plan.headline() == "A100-80GB: 2 GPUs, FSDP full shard, 53.6 GiB each"
    # 6N FLOPs per token over 2 GPUs at 312 TFLOPS, MFU 0.35, scaling 0.92
    wall = 6 * n * 1e8 / (2 * 312e12 * 0.35 * 0.92) / 3600
    assert plan.wall_hours == pytest.approx(wall, rel=1e-3)
    assert plan.gpu_hours == pytest.approx(2 * wall, rel=1e-3)
    assert plan.usd == pytest.approx(2 * wall * 1.79, abs=0.01)
    assert plan.wall_hours_low < plan.wall_hours < plan.wall_hours_high
    one = plan_training(shape_from_config(LLAMA2_7B), "full", _gpu("A100-80GB"), gpus=1, **RUN)
    assert not one.fits and one.memory.total_gib == pytest.approx(102.576, abs=0.01)


def test_a_13b_full_fine_tune_on_l40s_needs_eight_ranks():
    plan = plan_training(reference_shapes()["Llama-2-13B"], "full", _gpu("L40S"), **RUN)
    n = 13_015_864_320
    layer, root = 317_204_480, 2 * 32000 * 5120 + 5120
    gathered = max(root, 2 * layer) * 2 + max(root, layer) * 2
    layer_act = 34 * 4 * 512 * 5120 + 5 * 40 * 512**2 * 4
    act = 40 * 2 * 4 * 512 * 5120 + layer_act + 4 * 4 * 512 * 32000
    assert (plan.gpus, plan.nodes, plan.fits) == (8, 1, True)
    assert plan.memory.optimizer_gib == pytest.approx(12 * n / 8 / GIB, abs=1e-3)
    assert plan.memory.weights_gib == pytest.approx(2 * n / 8 / GIB, abs=1e-3)
    assert plan.memory.total_gib == pytest.approx((16 * n / 8 + gathered + act) / GIB + 1, abs=0.01)
    four = plan_training(reference_shapes()["Llama-2-13B"], "full", _gpu("L40S"), gpus=4, **RUN)
    assert four.memory.total_gib == pytest.approx((16 * n / 4 + gathered + act) / GIB + 1, abs=0.01)
    assert four.memory.total_gib > 48 * 0.9 > plan.memory.total_gib  # why four do not do


def test_a_70b_full_fine_tune_spans_nodes_and_pays_the_network():
    plan = plan_training(reference_shapes()["Llama-3.1-70B"], "full", _gpu("H100"), **RUN)
    assert plan.fits and plan.nodes > 1 and plan.gpus == 8 * plan.nodes
    assert "nodes of 8" in plan.headline()
    assert plan.scaling_efficiency == pytest.approx(0.92 * 0.85)
    assert scaling_efficiency(8, 0.92, 0.85) == 0.92 and scaling_efficiency(1, 0.5, 0.5) == 1


def test_lora_and_qlora_of_a_7b_fit_one_gpu_and_qlora_is_never_sharded():
    shape = shape_from_config(LLAMA2_7B)
    assert plan_training(shape, "lora", _gpu("H100"), **RUN).gpus == 1
    assert plan_training(shape, "qlora", _gpu("T4"), **RUN).gpus == 1
    big = plan_training(reference_shapes()["Llama-3.1-405B"], "qlora", _gpu("H100"), **RUN)
    assert not big.fits and big.gpus == 1 and "FSDP2" in big.note
    with pytest.raises(InputError, match="QLoRA cannot be sharded"):
        plan_training(shape, "qlora", _gpu("H100"), sharding="full_shard", **RUN)


def test_a_size_gets_the_nearest_listed_shape_scaled_to_it():
    shape, words = shape_for_params(7.0)
    assert abs(shape.params / 7e9 - 1) < 0.05 and "Llama-2-7B" in words


def test_adapt_memory_names_the_smallest_plan_per_gpu(tmp_path, capsys):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(LLAMA2_7B))
    args = ["memory", "--config", str(cfg), "--method", "full", "--batch", "4", "--seq-len", "512"]
    assert main([*args, "--grad-checkpointing"]) == 0
    out = capsys.readouterr().out
    assert "A100-80GB: 2 GPUs, FSDP full shard, 53.6 GiB each" in out
    assert "GPU-hours" in out and "per 100M training tokens" in out
    assert main([*args, "--grad-checkpointing", "--json", "--train-tokens", "2e8"]) == 0
    plans = {p["gpu"]: p for p in json.loads(capsys.readouterr().out)["plans"]}
    assert plans["H100"]["gpus"] == 2 and plans["T4"]["nodes"] == 2
    assert plans["H100"]["usd"] == pytest.approx(plans["H100"]["gpu_hours"] * 2.49, abs=0.01)


def test_what_the_engine_cannot_express_is_one_line_and_exit_2(tmp_path, capsys):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(LLAMA2_7B))
    base = ["memory", "--config", str(cfg)]
    assert main([*base, "--method", "qlora", "--sharding", "full_shard"]) == 2
    err = capsys.readouterr().err
    assert "QLoRA cannot be sharded" in err and len(err.strip().splitlines()) == 1
    assert main([*base, "--method", "full", "--gpu", "X100"]) == 2
    err = capsys.readouterr().err
    assert "unknown GPU 'X100'" in err and "H100" in err and len(err.strip().splitlines()) == 1
