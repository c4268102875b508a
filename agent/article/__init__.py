"""agent.article."""
