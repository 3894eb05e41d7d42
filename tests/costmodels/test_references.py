"""Reference points from the literature and from practice, from config.json files the
tests write (no downloads)."""

import json
from decimal import Decimal

import pytest

from advisor import Scenario
from costmodels import CostAssumptions, estimate, estimate_memory, load_shape
from costmodels.compute import (
    LINEAR_TARGETS,
    lora_params,
    serving_usd_per_1m_tokens,
)
from costmodels.prices import load_catalog
from costmodels.strategies import usd_per_token

LLAMA_65B = {
    "model_type": "llama",
    "hidden_size": 8192,
    "intermediate_size": 22016,
    "num_hidden_layers": 80,
    "num_attention_heads": 64,
    "vocab_size": 32000,
}
GPT3_175B = {
    "model_type": "gpt2",
    "n_embd": 12288,
    "n_layer": 96,
    "n_head": 96,
    "vocab_size": 50257,
}
GB = 1e9 / 2**30  # GiB per GB


@pytest.fixture
def write_config(tmp_path):
    def write(cfg: dict):
        path = tmp_path / f"{cfg['model_type']}.json"
        path.write_text(json.dumps(cfg))
        return load_shape(path)

    return write


def test_llama_65b_has_65b_parameters(write_config):
    assert 64e9 < write_config(LLAMA_65B).params < 66e9


def test_qlora_65b_fits_one_48gb_gpu(write_config):
    """Dettmers et al. 2023: QLoRA (NF4 + double quantization, r=64 on all linear layers,
    paged AdamW, gradient checkpointing) fine-tunes LLaMA-65B on a single 48 GB GPU."""
    est = estimate_memory(
        write_config(LLAMA_65B),
        "qlora",
        lora_rank=64,
        lora_targets=LINEAR_TARGETS,
        batch=1,
        seq_len=512,
        grad_checkpointing=True,
    )
    assert est.total_gib < 48 * GB
    assert est.weights_gib > 30  # the 4-bit base alone is over 30 GiB: it is a tight fit


def test_full_16bit_finetune_65b_needs_over_780gb(write_config):
    est = estimate_memory(
        write_config(LLAMA_65B), "full", batch=1, seq_len=512, grad_checkpointing=True
    )
    assert est.total_gib > 780 * GB


def test_lora_on_gpt3_trains_about_10000x_fewer_parameters(write_config):
    """Hu et al. 2021: rank 4 on W_q and W_v of GPT-3 175B: about 10,000x fewer."""
    shape = write_config(GPT3_175B)
    assert 170e9 < shape.params < 180e9
    ratio = shape.params / lora_params(shape, 4, ("q_proj", "v_proj"))
    assert 7_000 < ratio < 13_000


def test_lora_parameter_formula():
    from costmodels.compute import shape_from_config

    s = shape_from_config(
        {
            "model_type": "llama",
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 3,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 100,
        }
    )
    # q: 64->64, v: 64->32 (2 kv heads of 16): r*(d_in+d_out) per module, times layers
    assert lora_params(s, 8, ("q_proj", "v_proj")) == 3 * (8 * (64 + 64) + 8 * (64 + 32))


def test_training_file_price():
    """A 1M-token training file for 3 epochs costs $9 at $3 per 1M training tokens."""
    cat = load_catalog()
    ft = cat.fine_tune_price("gpt-4o-mini")
    assert float(ft.usd_per_1m_training_tokens) * 1_000_000 / 1e6 * 3 == pytest.approx(9.0)
    s = Scenario(
        deployment="vendor_api",
        labelled_examples_available=1000,
        instruction_tokens_per_request=0,
        input_tokens_per_request=900,
        output_tokens_per_request=100,
        requests_per_month=50_000,
    )
    report = estimate(s, CostAssumptions(training_epochs=3))
    # 1,000 examples x 1,000 tokens = 1M training tokens, 3 epochs
    assert float(report.cost("fine_tune").one_time_breakdown_usd["training"]) == pytest.approx(9.0)


def test_h100_serving_cost_per_1m_tokens():
    full = serving_usd_per_1m_tokens(2.0, 400, 1.0)
    assert full == pytest.approx(1.39, abs=0.005)
    assert serving_usd_per_1m_tokens(2.0, 400, 0.3) / full == pytest.approx(3.33, abs=0.01)


def test_distillation_from_practice_pays_back_and_says_when():
    """A few thousand frontier-teacher calls, paid once, against a million student calls a
    month: the student's per-request cost dominates within the first month and the report
    says when the one-time cost is paid back."""
    s = Scenario(
        task_kind="classify",
        gaps=("cost_latency_at_volume",),
        frontier_outputs_good=True,
        requests_per_month=1_000_000,
        deployment="vendor_api",
        horizon_months=12,
        labelled_examples_available=200,
        capable_model="gpt-4o",  # a frontier teacher, prompted today
    )
    report = estimate(s, CostAssumptions(distill_examples=3000))
    d = report.cost("distill")
    teacher = float(d.one_time_breakdown_usd["teacher"])
    month0 = next(m for m in report.monthly if m.strategy == "distill" and m.month == 0)
    student_serving_month0 = float(month0.cost_usd) - float(d.one_time_usd)
    assert teacher < student_serving_month0  # serving dominates within the first month
    assert d.break_even_month is not None and 0 < d.break_even_month < 12
    assert float(d.tco_usd) < float(report.cost("prompt").tco_usd)


def test_catalog_prices_are_exact_decimals():
    gpt4o = load_catalog().model("gpt-4o")
    assert gpt4o.usd_per_1m_input_tokens == Decimal("2.5")  # not 2.4999999999999998
    assert usd_per_token(gpt4o, "input") == pytest.approx(2.5e-6)
