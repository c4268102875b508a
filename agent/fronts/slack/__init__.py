"""agent.fronts.slack."""
