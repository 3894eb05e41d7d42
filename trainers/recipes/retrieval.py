"""retrieval: the nearest training examples (all-MiniLM-L6-v2) as few-shot context, and for
classification the nearest neighbour's label; nothing trains. Its result is the
retrieved-examples baseline, scored by the pilot (trainers/baselines.py)."""

from trainers.recipes.prompt import Prompt

RECIPE = Prompt("retrieval_few_shot")
