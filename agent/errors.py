"""The two roots of every error the advisor raises on purpose."""


class AdvisorError(Exception):
    """Base of the advisor's own errors."""


class UserError(AdvisorError):
    """Bad input or configuration: the user can fix it; shown as one line at the edge."""


class ModelBehaviorError(AdvisorError):
    """A model (LLM endpoint) answered with something unusable."""

    def __init__(self, message: str, last_output: str | None = None):
        super().__init__(message)
        self.last_output = last_output


class EndpointError(AdvisorError):
    """The LLM endpoint could not be reached or refused us (after retries)."""
