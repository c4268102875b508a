"""agent.fronts.cli."""
