"""fine_tune_rag: LoRA trained on the training questions with the passages retrieved for
them (misses included, as at inference), evaluated with retrieval on the holdout
(trainers/rag_pilot.py builds the prompts)."""

from trainers.sft import SFTRecipe

RECIPE = SFTRecipe("lora")
