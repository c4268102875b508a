"""Engines: what reads text and words questions for the advisor (offline: the learned reader; llm: an OpenAI-compatible endpoint; Batch API replies)."""
