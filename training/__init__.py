"""Training-side tools for the reader: fact sheets, the corpus, and the recipe (not shipped)."""
