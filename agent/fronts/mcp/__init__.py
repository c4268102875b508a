"""agent.fronts.mcp."""
