"""agent.fronts.batch."""
