"""Each pilot method's recipe (trainers/recipe.py: load, fit, save), in one table.

The supervised methods share one recipe with its adapter kind; the methods that train
nothing share one that names no model change (their flow scores the baselines, and the
vocabulary's `result_baseline` says which one is the method's result). A new method adds
its row here, and a module of its own only when it needs new code.
"""

from __future__ import annotations

from core.vocab import METHOD_NAMES, Method
from trainers.recipe import Recipe
from trainers.recipes.classifier import ClassifierRecipe
from trainers.recipes.distill_logit import LogitDistillation
from trainers.recipes.distill_seq import RetrievalDistillation, SequenceDistillation
from trainers.recipes.prompt import FrozenModel
from trainers.recipes.tagger import TaggerRecipe
from trainers.sft import SFTRecipe

RECIPES: dict[Method, Recipe] = {
    "prompt": FrozenModel(),
    "retrieval": FrozenModel(),
    "rag": FrozenModel(),
    "lora": SFTRecipe("lora"),
    "qlora": SFTRecipe("qlora"),
    "full": SFTRecipe("full"),
    "fine_tune_rag": SFTRecipe("lora"),  # the documents flow adds the passages to the data
    "distill_seq": SequenceDistillation(),
    "distill_logit": LogitDistillation(),
    "classifier": ClassifierRecipe(),
    "distill_classifier": ClassifierRecipe(),  # the student; the distill flow teaches it
    "distill_rag": RetrievalDistillation(),
    "tagger": TaggerRecipe(),
}
assert set(RECIPES) == set(METHOD_NAMES), "every method of core/vocab.py has a recipe"


def recipe_for(method: Method) -> Recipe:
    return RECIPES[method]
