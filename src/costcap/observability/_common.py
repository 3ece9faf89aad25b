"""What the Prometheus and OpenTelemetry observers read from a cost event the same way."""

from __future__ import annotations

from typing import Final

from costcap.money import PICO_PER_USD

__all__ = ["ADMISSION_OUTCOMES", "REFUSAL_KINDS", "refusal_kind", "usd_float"]

# What the Guard passes to ``on_admission``; anything else is counted as "other".
ADMISSION_OUTCOMES: Final = frozenset(
    {"admitted", "budget", "rate_limit", "policy", "store_unavailable"}
)
# A refusal's kind, never its rule: ``refused_by`` may name a user ("budget user:alice/day").
REFUSAL_KINDS: Final = ("budget", "rate_limit", "policy", "store", "other")
_PREFIXES: Final = (
    ("budget", "budget"),
    ("rate limit", "rate_limit"),
    ("policy", "policy"),
    ("store", "store"),
)


def refusal_kind(refused_by: str | None) -> str:
    """``"budget global/day"`` → ``budget``; ``"rate limit 20/minute per user"`` → ``rate_limit``;
    ``"policy: …"`` → ``policy``; ``"store unavailable"`` → ``store``; else ``other``."""
    if refused_by:
        for prefix, kind in _PREFIXES:
            if refused_by.startswith(prefix):
                return kind
    return "other"


def usd_float(pico: int) -> float:
    """Dollars as a float, for telemetry only; the exact amount lives in the ledger."""
    return pico / PICO_PER_USD
