"""Baselines every adapted model must beat, through the same chat template:

- prompt: zero-shot (the template alone) and few-shot (k training examples as earlier
  turns of the conversation);
- retrieval: the k nearest training examples by embedding (all-MiniLM-L6-v2) as few-shot
  turns; for classification also the nearest neighbour's label on its own.
"""

from __future__ import annotations

import random
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.measurement import QualityMeasure
from trainers.data import Example, Message
from trainers.eval.scoring import accuracy, generate, score
from trainers.instruction import FEW_SHOT_K
from trainers.models import embedding_model_dir


def with_shots(ex: Example, shots: Sequence[Example]) -> tuple[Message, ...]:
    """The example's own template, with the shots as earlier user/assistant turns."""
    system = [m for m in ex.messages if m.role == "system"]
    turns = [m for m in ex.messages if m.role != "system"]
    demo = []
    for s in shots:
        demo += [m for m in s.messages if m.role != "system"]
        demo.append(Message(role="assistant", content=s.target))
    return (*system, *demo, *turns)


def few_shot_examples(train: Sequence[Example], k: int, seed: int) -> list[Example]:
    """k fixed shots (fewer only when there are fewer examples): for classification, as
    many different labels as possible first, then filled up with further examples."""
    rng = random.Random(seed)
    pool = list(train)
    rng.shuffle(pool)
    picked, seen = [], set()
    for ex in pool:  # first pass: one per label (unlabelled data: just the first one)
        if len(picked) < k and ex.label not in seen:
            picked.append(ex)
            seen.add(ex.label)
    rest = [ex for ex in pool if not any(ex is p for p in picked)]
    return picked + rest[: k - len(picked)]


def query_text(ex: Example) -> str:
    return "\n".join(m.content for m in ex.messages if m.role == "user")


class Retriever:
    """Nearest training examples by cosine similarity of MiniLM sentence embeddings."""

    def __init__(self, train: Sequence[Example], model_dir=None, device: str = "cpu"):
        from sentence_transformers import SentenceTransformer

        self.train = list(train)
        self.encoder = SentenceTransformer(
            str(model_dir or embedding_model_dir()), device=device, local_files_only=True
        )
        self.matrix = self._embed([query_text(e) for e in self.train])  # (N, D), unit rows

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(
            texts,
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def embed(self, examples: Sequence[Example]) -> np.ndarray:
        """(N, D) unit-norm embeddings of the examples' inputs."""
        return self._embed([query_text(q) for q in examples])

    def nearest(
        self, queries: Sequence[Example], k: int, embedded: np.ndarray | None = None
    ) -> list[list[Example]]:
        q = self.embed(queries) if embedded is None else embedded  # (Q, D)
        top = np.argsort(-(q @ self.matrix.T), axis=1, kind="stable")[:, :k]  # (Q, k)
        return [[self.train[j] for j in row] for row in top]


PROBE_CS = (1.0, 10.0, 100.0)  # inverse regularisation strengths tried by cross-validation


def linear_probe(
    train_x: np.ndarray, train_y: list[str], test_x: np.ndarray, seed: int = 0
) -> list[str]:
    """A logistic regression on frozen embeddings (train_x: (N, D), test_x: (Q, D)): the
    strongest cheap classifier to beat. Its regularisation is chosen by stratified
    cross-validation on the training split only, never on the holdout."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

    classes = Counter(train_y)
    if len(classes) < 2:
        return [train_y[0]] * len(test_x)
    folds = min(5, min(classes.values()))
    if folds >= 2:
        clf = LogisticRegressionCV(
            Cs=list(PROBE_CS), cv=folds, scoring="accuracy", max_iter=2000, random_state=seed
        )
    else:  # a label seen once: no stratified folds; the middle strength
        clf = LogisticRegression(C=PROBE_CS[1], max_iter=2000)
    with warnings.catch_warnings():  # scikit-learn's notices of defaults changing in 1.10
        warnings.simplefilter("ignore", FutureWarning)
        clf.fit(train_x, train_y)
    return [str(x) for x in clf.predict(test_x)]


def _asked(model, tok, task, holdout, prompts, gen: dict) -> tuple[QualityMeasure, list[str]]:
    """The model's answers to the prompts by greedy generation, and their score."""
    preds = generate(model, tok, prompts, **gen)
    return score(task, preds, [e.target for e in holdout]), preds


def prompt_baseline(
    model, tok, task, train, holdout, *, seed=0, **gen
) -> dict[str, tuple[QualityMeasure, list[str]]]:
    """Few-shot prompting: FEW_SHOT_K fixed training examples as earlier turns. gen:
    generate()'s settings (device, bf16, max_new_tokens, batch_size)."""
    shots = few_shot_examples(train, FEW_SHOT_K, seed)
    prompts = [with_shots(e, shots) for e in holdout]
    return {"few_shot": _asked(model, tok, task, holdout, prompts, gen)}


@dataclass(frozen=True)
class Retrieved:
    """The retrieval baseline's inputs, computed once for every pilot kind: each holdout
    row asked with its nearest training examples as shots (nearest last, next to the
    question), and, for classification, the answers of the cheap classifiers on the same
    frozen embeddings."""

    prompts: list[tuple[Message, ...]]
    labels: dict[str, list[str]]
    """nearest_neighbour_label and linear_probe: one answer per holdout row."""


def retrieve_shots(
    train: Sequence[Example],
    holdout: Sequence[Example],
    *,
    classify: bool,
    k: int = FEW_SHOT_K,
    device: str = "cpu",
    seed: int = 0,
) -> Retrieved:
    retriever = Retriever(train, device=device)
    embedded = retriever.embed(holdout)  # (Q, D), shared by the neighbours and the probe
    near = retriever.nearest(holdout, k, embedded)
    prompts = [with_shots(e, n[::-1]) for e, n in zip(holdout, near, strict=True)]
    labels = {}
    if classify:
        labels["nearest_neighbour_label"] = [n[0].target for n in near]
        targets = [e.target for e in retriever.train]
        labels["linear_probe"] = linear_probe(retriever.matrix, targets, embedded, seed)
    return Retrieved(prompts=prompts, labels=labels)


def retrieval_baseline(
    model, tok, task, train, holdout, *, seed=0, **gen
) -> dict[str, tuple[QualityMeasure, list[str]]]:
    """The small model asked with retrieved shots; for classification also the labels of
    the nearest neighbour and the linear probe."""
    r = retrieve_shots(train, holdout, classify=task == "classify", seed=seed)
    gold = [e.target for e in holdout]
    out = {"retrieval_few_shot": _asked(model, tok, task, holdout, r.prompts, gen)}
    return out | {name: (accuracy(p, gold), p) for name, p in r.labels.items()}
