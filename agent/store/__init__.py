"""What the advisor keeps: interview sessions (SQLite) and sealed state tokens for stateless fronts."""
