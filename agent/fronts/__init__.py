"""agent.fronts."""
