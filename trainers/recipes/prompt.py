"""prompt: zero- and few-shot prompting of the model through its chat template; nothing
trains. Its result is the few-shot baseline, scored by the pilot like every baseline."""

from trainers.recipe import Fitted, load_frozen_base


class Prompt:
    def __init__(self, result: str):
        self.result = result  # the baseline that is this method's result

    def load(self, ctx):
        return load_frozen_base(ctx)

    def fit(self, ctx, model, train_ds, ckpt_name: str = "ckpt") -> Fitted:
        return Fitted(model=model, quality_from=self.result)

    def save(self, ctx, fitted: Fitted) -> None:
        pass  # nothing trained, nothing to save


RECIPE = Prompt("few_shot")
