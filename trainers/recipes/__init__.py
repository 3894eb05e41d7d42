"""One module per pilot method, each holding RECIPE (see trainers/recipe.py)."""
