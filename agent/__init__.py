"""advisor: RAG, fine-tuning, both, or neither? Answers cited from one article."""

__version__ = "0.1.0"
