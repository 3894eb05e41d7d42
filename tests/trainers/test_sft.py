"""The training loop on a tiny randomly initialised model (no downloads)."""

import torch
import torch.nn.functional as F

from tests.trainers.conftest import DEMO_CSV
from trainers.config import TrainConfig
from trainers.data import load_dataset
from trainers.loop import collate, length_grouped_batches
from trainers.models import load_causal_lm, load_tokenizer
from trainers.recipes.distill_logit import kd_loss, make_student
from trainers.sft import encode, prepare_model, train
from trainers.teacher import quality_filter


def _setup(tiny_model, method="lora", **kw):
    tok = load_tokenizer(tiny_model)
    model = load_causal_lm(tiny_model)
    cfg = TrainConfig(method=method, batch_size=8, bf16="off", **kw)
    return tok, prepare_model(model, cfg), cfg


def test_loss_falls_and_only_lora_weights_change(tiny_model):
    tok, model, cfg = _setup(tiny_model, max_steps=40, learning_rate=1e-2)
    examples = list(load_dataset(DEMO_CSV).examples[:32])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = []
    res = train(
        model,
        tok,
        examples,
        cfg,
        emit=lambda k, **f: losses.append(f["loss"]) if k == "step" else None,
    )
    assert res.steps == 40 and len(losses) == 40
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)
    assert {n for n, p in model.named_parameters() if "lora_" in n} <= changed | {
        n for n in before if "lora_A" in n
    }  # B starts at zero; every adapter moved


def test_full_fine_tuning_changes_base_weights(tiny_model):
    tok, model, cfg = _setup(tiny_model, "full", max_steps=3, learning_rate=1e-3)
    before = model.model.layers[0].mlp.up_proj.weight.detach().clone()
    train(model, tok, list(load_dataset(DEMO_CSV).examples[:16]), cfg)
    assert not torch.equal(before, model.model.layers[0].mlp.up_proj.weight)


def test_prompt_tokens_are_masked_and_answer_kept(tiny_model):
    tok = load_tokenizer(tiny_model)
    ex = load_dataset(DEMO_CSV).examples[0]
    ids, labels = encode(tok, ex, 512)
    answer = [t for t in labels if t != -100]
    # the unmasked labels are exactly the answer and the end of turn, at the end
    expected = tok(ex.target + tok.eos_token, add_special_tokens=False)["input_ids"]
    assert answer == expected and ids[-len(expected) :] == expected
    assert labels[: len(ids) - len(answer)] == [-100] * (len(ids) - len(answer))
    ids_short, labels_short = encode(tok, ex, 12)  # truncation keeps the answer whole
    assert [t for t in labels_short if t != -100] == answer and len(ids_short) <= 12


def test_length_grouping_reduces_padding():
    lengths = [5, 50] * 64
    grouped = length_grouped_batches(lengths, 8, seed=0)
    pad = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in grouped)
    assert pad == 0
    assert sorted(i for b in grouped for i in b) == list(range(128))
    batch = collate([([1, 2, 3], [-100, 2, 3]), ([4], [4])], pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 2, 3], [4, -100, -100]]


def test_longest_batch_goes_first_so_memory_fails_at_step_one():
    lengths = [(i * 37) % 101 for i in range(200)]
    plain = length_grouped_batches(lengths, 8, seed=3)
    first = length_grouped_batches(lengths, 8, seed=3, longest_first=True)
    assert max(lengths) in [lengths[i] for i in first[0]]
    assert sorted(map(tuple, plain)) == sorted(map(tuple, first))  # same batches, reordered


def test_kd_loss_equals_torch_kl_div_on_hand_made_cases():
    torch.manual_seed(0)
    s, t = torch.randn(6, 11), torch.randn(6, 11)
    labels = torch.randint(0, 11, (6,))
    for temperature in (1.0, 2.0, 4.0):
        ref = (
            F.kl_div(
                F.log_softmax(s / temperature, -1),
                F.softmax(t / temperature, -1),
                reduction="batchmean",
            )
            * temperature**2
        )
        assert torch.allclose(kd_loss(s, t, labels, temperature, alpha=1.0), ref, atol=1e-6)
    assert torch.allclose(kd_loss(s, t, labels, 2.0, alpha=0.0), F.cross_entropy(s, labels))
    assert kd_loss(t, t, labels, 2.0, alpha=1.0).abs() < 1e-6  # same distributions: zero
    # hand-made: two tokens, teacher certain, student uniform -> KL = log 2 at T=1
    st, te = torch.zeros(1, 2), torch.tensor([[0.0, -1e4]])
    assert torch.allclose(
        kd_loss(st, te, torch.tensor([0]), 1.0, 1.0), torch.log(torch.tensor(2.0)), atol=1e-5
    )


def test_student_keeps_every_other_layer(tiny_model):
    teacher = load_causal_lm(tiny_model)
    student = make_student(teacher)
    assert len(student.model.layers) == 1 and len(teacher.model.layers) == 2
    assert torch.equal(
        student.model.layers[0].mlp.up_proj.weight, teacher.model.layers[0].mlp.up_proj.weight
    )
    tok = load_tokenizer(tiny_model)
    out = student.generate(
        **tok("refund order", return_tensors="pt"), max_new_tokens=3, do_sample=False
    )
    assert out.shape[1] > 2


def test_quality_filter_drops_and_counts():
    ds = load_dataset(DEMO_CSV)
    exs = list(ds.examples[:4])
    kept, dropped, _ = quality_filter(
        exs, ["refund_request", "", "x" * 5000, "nonsense"], labels=ds.labels
    )
    assert [e.target for e in kept] == ["refund_request"]
    assert dropped == {"empty": 1, "too_long": 1, "regex": 0, "no_label": 1}
    kept, dropped, _ = quality_filter(exs[:2], ["ab12", "zz"], regex=r"[a-z]+\d+")
    assert len(kept) == 1 and dropped["regex"] == 1


def test_cpu_training_uses_eager_attention_only_for_small_scores_and_restores(
    tiny_model, monkeypatch
):
    from core.measurement import Hardware
    from trainers import hardware
    from trainers.sft import AnswerLoss, training_attention

    flags = ("avx2", "avx512f", "avx512_bf16")
    avx512 = Hardware(cpu_model="EPYC", cpu_cores=2, cpu_flags=flags, torch_cpu_kernels="AVX512")
    monkeypatch.setattr(hardware, "detect", lambda: avx512)
    tok, model, cfg = _setup(tiny_model)
    config = model.get_base_model().config
    before = config._attn_implementation
    assert before != "eager"  # transformers picks sdpa for this model
    batch = collate([encode(tok, e, 64) for e in load_dataset(DEMO_CSV).examples[:8]], 0)
    loss_fn = AnswerLoss(model)
    with torch.no_grad():
        reference = loss_fn(**batch)
        with training_attention(model, "cpu", 8, 64):
            assert config._attn_implementation == "eager"
            eager = loss_fn(**batch)  # the same loss by another attention kernel
        assert config._attn_implementation == before
    torch.testing.assert_close(eager, reference, rtol=1e-4, atol=1e-5)
    with training_attention(model, "cpu", 64, 32768):  # scores would take gigabytes
        assert config._attn_implementation == before
    with training_attention(model, "cuda", 8, 64):  # GPUs keep their fused kernels
        assert config._attn_implementation == before
    avx2 = avx512.model_copy(update={"torch_cpu_kernels": "AVX2"})
    monkeypatch.setattr(hardware, "detect", lambda: avx2)
    with training_attention(model, "cpu", 8, 64):  # AVX2 kernels: flash attention is faster
        assert config._attn_implementation == before
