"""Front-ends over the one library API (`agent.api`): the CLI, batch, the Slack bot, the MCP server."""
