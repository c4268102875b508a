"""agent.store."""
