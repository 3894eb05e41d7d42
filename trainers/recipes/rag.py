"""rag: the small model answering from passages retrieved from the team's documents;
nothing trains. trainers/rag_pilot.py scores it against closed-book on one holdout."""

from trainers.recipes.prompt import Prompt

RECIPE = Prompt("rag")
