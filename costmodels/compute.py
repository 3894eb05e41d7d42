"""Compute and memory estimates from a transformers config.json.

Memory for full / LoRA / QLoRA fine-tuning and for inference; training FLOPs and time;
the decode throughput ceiling; serving cost per 1M tokens; which GPUs fit.
Sizes are bytes internally and GiB (2**30) in reports.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from core.scenario import InputError
from core.vocab import ComputeKind as Method  # how training is counted (FLOPs, memory)

GIB = 2**30
# LoRA on every linear layer of a block (what the pilot trains; QLoRA paper, sec. 4)
LINEAR_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# Bytes per trainable parameter: (its own weights, gradients, optimizer state) with AdamW.
#   full: weights already counted as bf16 base; bf16 grads 2; fp32 master copy 4 + Adam 8
#   lora: peft keeps adapters in fp32: weights 4, grads 4, Adam 8
#   qlora: adapters in bf16 as in the QLoRA recipe: 2, 2, Adam 8
TRAINABLE_BYTES = {"full": (0, 2, 12), "lora": (4, 4, 8), "qlora": (2, 2, 8)}
TRAINABLE_BYTES["encoder"] = TRAINABLE_BYTES["full"]  # an encoder classifier trains every weight
NF4_BYTES_PER_PARAM = 0.5
# NF4 with double quantization: one 8-bit constant per 64 weights, plus one fp32 constant
# per 256 of those: 8/64 + 32/(64*256) = 0.127 bits per parameter (Dettmers et al. 2023).
DQ_CONSTANT_BITS = 8 / 64 + 32 / (64 * 256)
FRAMEWORK_OVERHEAD_BYTES = 1.0 * GIB  # CUDA context, allocator fragmentation, kernels
MFU_RANGE = (0.25, 0.50)  # model FLOPs utilisation of a well-tuned fine-tuning run on GPU
# LoRA skips the weight-gradient matmuls of the frozen base (one of the three 2N terms of
# 6N); QLoRA also dequantizes NF4 weights on the fly, which costs throughput.
FLOPS_FACTOR = {"full": 6.0, "lora": 4.0, "qlora": 4.0, "encoder": 6.0}
QLORA_SLOWDOWN = 1.3


class ModelShape(BaseModel):
    """A decoder-only transformer's shape, read from config.json."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    model_type: str
    hidden_size: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)
    num_layers: int = Field(gt=0)
    num_heads: int = Field(gt=0)
    num_kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    tie_word_embeddings: bool = False
    gated_mlp: bool = True

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(d_in, d_out) of each linear module of one layer, by peft target name."""
        d, q, kv, i = (
            self.hidden_size,
            self.num_heads * self.head_dim,
            self.num_kv_heads * self.head_dim,
            self.intermediate_size,
        )
        shapes = {
            "q_proj": (d, q),
            "k_proj": (d, kv),
            "v_proj": (d, kv),
            "o_proj": (q, d),
            "up_proj": (d, i),
            "down_proj": (i, d),
        }
        if self.gated_mlp:
            shapes["gate_proj"] = (d, i)
        return shapes

    @property
    def params(self) -> int:
        per_layer = sum(a * b for a, b in self.linear_shapes().values()) + 2 * self.hidden_size
        embed = self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)
        return self.num_layers * per_layer + embed + self.hidden_size


def shape_from_config(config: dict) -> ModelShape:
    """LLaMA-style (llama, mistral, qwen2, ...) and GPT-2-style (n_embd, n_layer) configs."""
    c = config
    d = c.get("hidden_size", c.get("n_embd", c.get("d_model")))
    heads = c.get("num_attention_heads", c.get("n_head"))
    layers = c.get("num_hidden_layers", c.get("n_layer"))
    if not (d and heads and layers and c.get("vocab_size")):
        raise InputError(
            "config.json: needs hidden_size (or n_embd), num_attention_heads "
            "(or n_head), num_hidden_layers (or n_layer) and vocab_size"
        )
    gpt2_style = "n_embd" in c or c.get("model_type") in ("gpt2", "opt", "gpt_neox")
    inter = c.get("intermediate_size") or c.get("n_inner") or c.get("ffn_dim") or 4 * d
    return ModelShape(
        model_type=str(c.get("model_type", "unknown")),
        hidden_size=d,
        intermediate_size=inter,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=c.get("num_key_value_heads") or heads,
        head_dim=c.get("head_dim") or d // heads,
        vocab_size=c["vocab_size"],
        tie_word_embeddings=bool(c.get("tie_word_embeddings", gpt2_style)),
        gated_mlp=not gpt2_style,
    )


def load_shape(path: str | Path) -> ModelShape:
    """From a config.json file or a local model folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    try:
        return shape_from_config(json.loads(path.read_text(encoding="utf-8")))
    except OSError as e:
        raise InputError(f"{path}: cannot read config ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a JSON config ({str(e).splitlines()[0]})") from None
    except InputError as e:
        raise InputError(f"{path}: {e}") from None


class MemoryEstimate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    method: Method
    params: int
    trainable_params: int
    weights_gib: float
    quant_constants_gib: float
    gradients_gib: float
    optimizer_gib: float
    activations_gib: float
    kv_cache_gib: float
    overhead_gib: float
    total_gib: float


def lora_params(shape: ModelShape, rank: int, targets: tuple[str, ...]) -> int:
    """Sum over target modules of r x (d_in + d_out), times the number of layers."""
    shapes = shape.linear_shapes()
    unknown = [t for t in targets if t not in shapes]
    if unknown:
        raise InputError(
            f"field 'lora_targets': unknown module {unknown[0]!r}; allowed: {', '.join(shapes)}"
        )
    return shape.num_layers * sum(rank * (shapes[t][0] + shapes[t][1]) for t in targets)


def kv_cache_bytes(shape: ModelShape, tokens: int, dtype_bytes: int = 2) -> float:
    """2 (K and V) x layers x kv_heads x head_dim x bytes, per token (grouped-query aware)."""
    return 2 * shape.num_layers * shape.num_kv_heads * shape.head_dim * dtype_bytes * tokens


def activation_bytes(shape: ModelShape, batch: int, seq_len: int, checkpointing: bool) -> float:
    """Activations kept for backward, in bf16. Without checkpointing: about 34*B*S*d + 5*a*S^2*B
    bytes per layer (Korthikanti et al. 2022, no sequence parallelism), which assumes the
    attention matrix is materialised; with checkpointing, one B*S*d input per layer plus one
    layer's full activations during recomputation."""
    b, s, d, a = batch, seq_len, shape.hidden_size, shape.num_heads
    per_layer = 34 * b * s * d + 5 * a * s * s * b
    logits = 4 * b * s * shape.vocab_size  # fp32 logits for the loss
    if checkpointing:
        return shape.num_layers * 2 * b * s * d + per_layer + logits
    return shape.num_layers * per_layer + logits


def estimate_memory(
    shape: ModelShape,
    method: Method,
    *,
    lora_rank: int = 16,
    lora_targets: tuple[str, ...] = LINEAR_TARGETS,
    batch: int = 1,
    seq_len: int = 512,
    grad_checkpointing: bool = False,
) -> MemoryEstimate:
    n = shape.params
    trainable = {"full": n, "encoder": n, "inference": 0}.get(method) or lora_params(
        shape, lora_rank, lora_targets
    )
    weights = n * (NF4_BYTES_PER_PARAM if method == "qlora" else 2)  # bf16 otherwise
    quant = n * DQ_CONSTANT_BITS / 8 if method == "qlora" else 0.0
    if method == "inference":
        grads = opt = act = 0.0
        kv = kv_cache_bytes(shape, batch * seq_len)
    else:
        own, grad_b, opt_b = TRAINABLE_BYTES[method]
        weights += trainable * own
        grads, opt = trainable * grad_b, trainable * opt_b
        act = activation_bytes(shape, batch, seq_len, grad_checkpointing)
        kv = 0.0
    total = weights + quant + grads + opt + act + kv + FRAMEWORK_OVERHEAD_BYTES
    g = lambda x: round(x / GIB, 3)  # noqa: E731
    return MemoryEstimate(
        method=method,
        params=n,
        trainable_params=trainable,
        weights_gib=g(weights),
        quant_constants_gib=g(quant),
        gradients_gib=g(grads),
        optimizer_gib=g(opt),
        activations_gib=g(act),
        kv_cache_gib=g(kv),
        overhead_gib=g(FRAMEWORK_OVERHEAD_BYTES),
        total_gib=g(total),
    )


def training_flops(params: int, tokens: float, method: Method) -> float:
    """About 6 x params x tokens for full fine-tuning (forward 2N, backward 4N); LoRA and
    QLoRA skip the frozen weights' gradients: about 4N per token."""
    return FLOPS_FACTOR[method] * params * tokens


def training_seconds(flops: float, peak_tflops: float, mfu: float, method: Method) -> float:
    """time = FLOPs / (peak x MFU); QLoRA pays for dequantizing NF4 weights on the fly."""
    seconds = flops / (peak_tflops * 1e12 * mfu)
    return seconds * (QLORA_SLOWDOWN if method == "qlora" else 1.0)


def decode_tokens_per_second_ceiling(bytes_per_token: float, bandwidth_gb_per_s: float) -> float:
    """Single-stream decoding is memory-bound: every token reads all weights once."""
    return bandwidth_gb_per_s * 1e9 / bytes_per_token


def serving_usd_per_1m_tokens(
    usd_per_hour: float, tokens_per_second: float, utilization: float
) -> float:
    """GPU $/hour / (tokens/s x 3600 x utilization) x 1e6."""
    return usd_per_hour / (tokens_per_second * 3600 * utilization) * 1e6


class GpuFit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    gpu: str
    fits: bool
    free_gib: float
    train_hours_low: float | None
    """Training time at the high end of MFU_RANGE (None without training tokens)."""
    train_hours_high: float | None
    decode_tokens_per_second_ceiling: float
    """Single-stream decode ceiling: memory bandwidth / bytes of weights read per token."""
    serving_usd_per_1m_tokens_at_ceiling: float


def gpu_table(
    est: MemoryEstimate,
    gpus,
    train_tokens: float = 0.0,
    headroom: float = 0.10,
    utilization: float = 1.0,
) -> list[GpuFit]:
    """Per catalog GPU: does the estimate fit, how long training takes for `train_tokens`
    over the MFU range, and the decode ceiling and serving cost of the weights."""
    weights_bytes = est.weights_gib * GIB
    method = "lora" if est.method == "inference" else est.method
    flops = training_flops(est.params, train_tokens, method) if train_tokens else 0.0
    out = []
    for g in gpus:
        hours = (
            [
                training_seconds(flops, g.peak_bf16_tflops, m, method) / 3600
                for m in sorted(MFU_RANGE, reverse=True)
            ]
            if flops
            else [None, None]
        )
        ceiling = decode_tokens_per_second_ceiling(weights_bytes, g.memory_bandwidth_gb_per_s)
        out.append(
            GpuFit(
                gpu=g.name,
                fits=est.total_gib <= g.memory_gib * (1 - headroom),
                free_gib=round(g.memory_gib - est.total_gib, 2),
                train_hours_low=hours[0] and round(hours[0], 4),
                train_hours_high=hours[1] and round(hours[1], 4),
                decode_tokens_per_second_ceiling=round(ceiling, 1),
                serving_usd_per_1m_tokens_at_ceiling=round(
                    serving_usd_per_1m_tokens(float(g.usd_per_hour), ceiling, utilization), 4
                ),
            )
        )
    return out
