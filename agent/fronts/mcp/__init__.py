"""`advisor mcp`: the advisor as an MCP server."""
