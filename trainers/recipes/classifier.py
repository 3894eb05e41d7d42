"""classifier: fine-tune a small sentence encoder with a cosine head for classification and
routing (trainers/classifier.py), every weight trained by the shared loop; the pilot
around it is trainers/flows/classifier.py (no generation: the label is the argmax)."""

from __future__ import annotations

import torch

from trainers import loop
from trainers.classifier import (
    ClassifierLoss,
    SoftTargetLoss,
    load_encoder,
    new_classifier,
    save_classifier,
    training_rows,
)
from trainers.eval.baselines import query_text
from trainers.recipe import Fitted

LEARNING_RATE = 1e-4  # measured best of 5e-5 and 1e-4 for MiniLM at 10 examples per label


class ClassifierRecipe:
    def load(self, ctx):
        return load_encoder(ctx.where, ctx.cfg.trust_remote_code)[1].to(ctx.device)

    def fit(self, ctx, model, train_ds, ckpt_name: str | None = "ckpt", soft=None) -> Fitted:
        """ckpt_name None: no checkpoints (a short side training, redone on resume).
        soft: (N, C) teacher probabilities per training row over `train_ds.labels`, to
        learn from instead of the labels (distillation)."""
        texts = [query_text(e) for e in train_ds.examples]
        labels = [e.target for e in train_ds.examples]
        clf = new_classifier(ctx.tok, model, texts, labels, ctx.device)
        cfg = ctx.cfg.train_config("full").model_copy(
            update={"learning_rate": ctx.cfg.train.learning_rate or LEARNING_RATE}
        )
        rows = training_rows(clf, ctx.tok, texts, labels)
        loss = ClassifierLoss(clf)
        if soft is not None:  # the head's labels are a subset of the label set, in order
            cols = [list(train_ds.labels).index(b) for b in clf.labels]
            p = torch.as_tensor(soft[:, cols], dtype=torch.float32)
            loss = SoftTargetLoss(clf, p / p.sum(1, keepdim=True).clamp(min=1e-12)).to(ctx.device)
            rows = [(ids, [i]) for i, (ids, _) in enumerate(rows)]  # the row index, for its targets
        result = loop.fit(
            loss,
            clf,
            rows,
            ctx.tok.pad_token_id,
            cfg,
            device=ctx.device,
            ckpt_dir=ctx.run_dir / ckpt_name if ckpt_name else None,
            emit=ctx.emit,
        )
        return Fitted(model=clf, result=result)

    def save(self, ctx, fitted: Fitted) -> None:
        save_classifier(fitted.model, ctx.tok, ctx.run_dir / "classifier")
