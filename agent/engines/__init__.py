"""agent.engines."""
