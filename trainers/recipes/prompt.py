"""prompt, retrieval and rag: the frozen small model asked through its chat template;
nothing trains. The flow scores the baselines; the method's result is the one the
vocabulary names (core/vocab.py: MethodSpec.result_baseline)."""

from trainers.recipe import Fitted, load_frozen_base


class FrozenModel:
    def load(self, ctx):
        return load_frozen_base(ctx)

    def fit(self, ctx, model, train_ds, ckpt_name: str | None = "ckpt") -> Fitted:
        return Fitted(model=model)

    def save(self, ctx, fitted: Fitted) -> None:
        pass  # nothing trained, nothing to save
