"""Transport to an OpenAI-compatible endpoint: client, deadlines, structured-output forms, usage."""
