"""agent.explaining."""
