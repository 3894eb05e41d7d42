"""Issue 14: the classifier pilot, label-constrained decoding, abstention, the paired test,
and the bad label sets a pilot refuses."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

from cli import main
from core.measurement import mcnemar
from tests.trainers.conftest import DEMO_CHAT, DEMO_CSV
from trainers.eval.abstain import abstention, pick_threshold, two_folds


@pytest.mark.parametrize("seed", range(5))
def test_mcnemar_is_the_exact_binomial_test_on_the_rows_that_differ(seed):
    from scipy.stats import binomtest

    rng = random.Random(seed)
    a = "".join(rng.choice("01") for _ in range(120))
    b = "".join(rng.choice("0111") for _ in range(120))
    t = mcnemar(a, b)
    n = t.only_a + t.only_b
    assert t.only_a == sum(x > y for x, y in zip(a, b, strict=True))
    assert t.p_value == pytest.approx(binomtest(t.only_a, n, 0.5).pvalue, rel=1e-9)
    assert mcnemar(a, a).p_value == 1.0
    with pytest.raises(ValueError, match="not the same holdout"):
        mcnemar(a, b[:-1])


def test_the_threshold_is_the_lowest_confidence_that_keeps_the_target():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0, 1, 2000)
    correct = rng.uniform(0, 1, 2000) < conf  # more confident, more often right
    t = pick_threshold(conf, correct, 0.9)
    assert correct[conf >= t].mean() >= 0.9
    lower = conf[conf < t].max()
    assert correct[conf >= lower].mean() < 0.9  # one row more and the target is missed
    assert pick_threshold(conf, np.zeros(2000, bool), 0.9) > conf.max()  # escalate all


def test_out_of_scope_rows_count_against_answering_and_are_counted_when_caught():
    conf = np.array([0.9, 0.8, 0.3, 0.2, 0.95])
    correct = np.array([True, True, False, False, False])
    oos = [False, False, True, True, True]  # no training label can be right on these
    a = abstention(conf, correct, 0.5, 0.9, oos)
    assert a.escalated_share == pytest.approx(0.4)
    assert a.answered.n == 3 and a.answered.value == pytest.approx(2 / 3)
    assert a.out_of_scope_rows == 3 and a.out_of_scope_caught == pytest.approx(2 / 3)
    assert a.curve[-1] == (1.0, 0.4)


def test_two_folds_hold_every_label_seen_twice_on_both_sides():
    labels = [f"l{i % 7}" for i in range(45)]
    fold = two_folds(labels, seed=3)
    for lab in set(labels):
        assert set(fold[[i for i, x in enumerate(labels) if x == lab]]) == {0, 1}
    assert abs(int(fold.sum()) - len(labels) / 2) <= 4


def test_constrained_scores_equal_scoring_each_label_on_its_own(tiny_model):
    """The shared prompt cache gives the same log-likelihoods as running prompt + label
    through the model one label at a time."""
    import torch

    from trainers.data import load_dataset
    from trainers.eval.constrained import label_log_likelihoods, label_token_ids
    from trainers.models import load_causal_lm, load_tokenizer

    tok, model = load_tokenizer(tiny_model), load_causal_lm(tiny_model)
    ds = load_dataset(DEMO_CSV)
    labels = list(ds.labels)
    prompts = [e.messages for e in ds.examples[:3]]
    fast = label_log_likelihoods(model, tok, prompts, labels, exhaustive=True)
    pruned = label_log_likelihoods(model, tok, prompts, labels)
    assert (pruned.argmax(1) == fast.argmax(1)).all()  # the skipped labels could not win
    assert np.isfinite(pruned).sum() <= np.isfinite(fast).sum()
    for q, messages in enumerate(prompts):
        text = tok.apply_chat_template(
            [m.model_dump() for m in messages], tokenize=False, add_generation_prompt=True
        )
        p = tok(text, add_special_tokens=False)["input_ids"]
        for j, ans in enumerate(label_token_ids(tok, labels)):
            ids = torch.tensor([p + ans])
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
            slow = sum(logp[len(p) - 1 + i, t].item() for i, t in enumerate(ans))
            assert fast[q, j] == pytest.approx(slow, abs=1e-3)


def test_a_lora_pilot_on_labels_reports_free_and_constrained_answers(tiny_model, runs_dir, capsys):
    argv = [
        "pilot",
        "--foreground",
        "--method",
        "lora",
        "--data",
        str(DEMO_CSV),
        "--model",
        str(tiny_model),
    ]
    assert main([*argv, "--max-steps", "2", "--holdout-max", "20", "--no-probe", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    meas = m["measurement"]
    assert meas["constrained"]["n"] == 20 and 0 <= meas["invalid_label_share"] <= 1
    assert set(m["correct"]) >= {"zero_shot", "few_shot", "lora", "lora_constrained"}
    assert all(len(v) == 20 for v in m["correct"].values())
    # a constrained answer is always a label, so only wrong labels make it wrong
    assert meas["constrained"]["value"] * 20 == pytest.approx(
        m["correct"]["lora_constrained"].count("1")
    )


def test_the_classifier_pilot_trains_saves_and_serves_a_label_set(runs_dir, capsys):
    from trainers.classifier import load_classifier, predict_proba
    from trainers.metrics import read_metrics

    argv = [
        "pilot",
        "--foreground",
        "--method",
        "classifier",
        "--data",
        str(DEMO_CSV),
        "--no-probe",
    ]
    assert main([*argv, "--epochs", "1", "--holdout-max", "40", "--json"]) == 0
    run_dir = Path(json.loads(capsys.readouterr().out)["run_dir"])
    m = read_metrics(run_dir)
    meas = m.measurement
    assert meas.model == "all-minilm-l6-v2" and 20e6 < meas.model_params < 25e6
    assert set(meas.baselines) == {"nearest_neighbour_label", "linear_probe"}
    assert (
        meas.quality.n == 40
        and meas.quality.value >= meas.baselines["nearest_neighbour_label"].value - 0.1
    )
    assert (
        meas.serving.requests_per_second > 0
        and meas.serving.latency_p95_ms >= meas.serving.latency_p50_ms
    )
    a = meas.abstention
    assert (
        0 <= a.escalated_share <= 1 and a.target_accuracy == 0.9 and a.out_of_scope_caught is None
    )
    assert set(m.correct) == {"classifier", "nearest_neighbour_label", "linear_probe"}
    assert m.correct["classifier"].count("1") == round(meas.quality.value * 40)
    folder = run_dir / "classifier"
    assert {"model.safetensors", "head.safetensors", "labels.json"} <= {
        p.name for p in folder.iterdir()
    }
    assert not list(run_dir.rglob("*.bin")) and not (run_dir / "ckpt").exists()
    # the progress names each of its three fits, each its own line from step 1
    from app_pages.run_view import fits
    from trainers import runs

    named = fits(runs.read_events(run_dir))
    assert [n for n, _, _ in named] == [
        "the classifier (fit 1 of 3)",
        "threshold fold 1 of 2 (fit 2 of 3)",
        "threshold fold 2 of 2 (fit 3 of 3)",
    ]
    assert all(steps and steps[0]["step"] <= steps[-1]["step"] <= plan for _, plan, steps in named)
    clf, tok = load_classifier(folder)
    texts = [s.input for s in m.samples]
    again = [clf.labels[j] for j in predict_proba(clf, tok, texts).argmax(1)]
    assert again == [s.predicted for s in m.samples]  # what was saved is what was scored


def test_the_classifier_refuses_generation_data(runs_dir, capsys):
    argv = [
        "pilot",
        "--foreground",
        "--method",
        "classifier",
        "--data",
        str(DEMO_CHAT),
        "--no-probe",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        "needs classification data (CSV text,label)" in err and len(err.strip().splitlines()) == 1
    )


def _csv(path, rows) -> str:
    path.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows))
    return str(path)


@pytest.mark.parametrize(
    "rows, says",
    [
        ([(f"text {i}", "only") for i in range(20)], "only one label ('only')"),
        (
            [(f"text {i}", f"l{i % 3}") for i in range(20)] + [("lonely text", "rare")],
            "line 22: label 'rare' appears only once",
        ),
        ([(f"text {i}", f"l{i // 2}") for i in range(20_004)], "10,002 different labels"),
    ],
    ids=["one label", "a label seen once", "over 10,000 labels"],
)
def test_bad_label_sets_get_one_line_and_exit_2(tmp_path, capsys, runs_dir, rows, says):
    data = _csv(tmp_path / "d.csv", rows)
    for method in ("classifier", "lora"):
        assert (
            main(["pilot", "--foreground", "--method", method, "--data", data, "--no-probe"]) == 2
        )
        err = capsys.readouterr().err.strip()
        assert says in err and len(err.splitlines()) == 1, err
    assert not list(runs_dir.glob("*")) or not list(runs_dir.glob("*/events.jsonl"))
