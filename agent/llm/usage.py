"""Token counts and an estimated cost for the model calls of one engine (or session)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

# US dollars per million tokens: (input, cached input, output). An estimate from public
# price lists; unknown models (local servers) count as free rather than guessed.
PRICES: dict[str, tuple[float, float, float]] = {
    "gpt-4o-mini": (0.15, 0.075, 0.60),
    "gpt-4o": (2.50, 1.25, 10.00),
    "gpt-4.1": (2.00, 0.50, 8.00),
    "gpt-4.1-mini": (0.40, 0.10, 1.60),
    "gpt-4.1-nano": (0.10, 0.025, 0.40),
    "text-embedding-3-small": (0.02, 0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.13, 0.0),
}


def price(model: str) -> tuple[float, float, float]:
    """Prices for a model id, matching dated variants ("gpt-4o-mini-2024-07-18") by prefix."""
    best = ""
    for known in PRICES:
        if (model == known or model.startswith(known + "-")) and len(known) > len(best):
            best = known
    return PRICES.get(best, (0.0, 0.0, 0.0))


@dataclass
class Usage:
    """What the model calls cost so far; sessions store `as_dict()`."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    est_cost_usd: float = 0.0
    estimated_calls: int = 0  # calls whose server sent no token counts (estimated from length)
    _drained: dict = field(default_factory=dict, repr=False, compare=False)

    def add(self, model: str, prompt: int, completion: int, cached: int = 0, *,
            estimated: bool = False) -> None:
        """Count one completed call (a streamed one when its stream ends)."""
        p_in, p_cached, p_out = price(model)
        cached = min(cached, prompt)
        self.calls += 1
        self.estimated_calls += int(estimated)
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.cached_tokens += cached
        cost = ((prompt - cached) * p_in + cached * p_cached + completion * p_out) / 1e6
        self.est_cost_usd = round(self.est_cost_usd + cost, 8)

    def as_dict(self) -> dict:
        """The running totals."""
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

    def drain(self) -> dict:
        """What was added since the last drain, in SessionStore.add_usage's keywords."""
        keys = ("calls", "prompt_tokens", "completion_tokens", "est_cost_usd")
        now = {k: getattr(self, k) for k in keys}
        delta = {k: now[k] - self._drained.get(k, 0) for k in keys}
        delta["est_cost_usd"] = round(delta["est_cost_usd"], 8)
        self._drained = now
        return delta
