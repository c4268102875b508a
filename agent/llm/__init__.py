"""The LLM engine: the same advisor through any OpenAI-compatible endpoint."""
from .select import make_engine

__all__ = ["make_engine"]
