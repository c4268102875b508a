"""`advisor slack`: the advisor as a Slack bot (Bolt app, durable inbox, uvicorn server)."""
