"""lora: supervised fine-tuning of the small model (trainers/sft.py)."""

from trainers.sft import SFTRecipe

RECIPE = SFTRecipe("lora")
