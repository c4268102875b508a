"""Explaining: from an outcome to what a person reads: cited reasons, caveats, open questions, and their renderings."""
