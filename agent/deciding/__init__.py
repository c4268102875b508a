"""agent.deciding."""
