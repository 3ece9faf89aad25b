"""Prices genai-prices has wrong or stale, corrected: a small table, reviewed row by row.

Each row names a model as genai-prices lists it (provider id and model id), the prices in the
``[models]`` shape of ``costcap.toml``, the page that publishes them and the day it was checked.
From ``since`` on (always, when ``None``) a row REPLACES the model's genai-prices prices, its
dated and time-of-day prices included; before ``since`` genai-prices' prices hold. Prices
configured in ``costcap.toml`` or ``PriceCatalog(overrides=…)`` still win over a row. A price
corrected here says so in its ``source`` (:data:`CORRECTED`), which ``costcap prices`` shows.

A test fails as soon as genai-prices itself carries a corrected figure, so that a row is dropped
once it is no longer needed rather than kept forever.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from ._config import ModelEntry, parse_models
from ._cost import ModelPrice, price_from_usd

if TYPE_CHECKING:
    from genai_prices import types as gp

__all__ = ["CORRECTED", "CORRECTIONS", "Correction", "corrected_price", "correction_starts"]

#: ``ModelPrice.source`` of a price taken from this table.
CORRECTED = "genai-prices, corrected by costcap"


@dataclass(frozen=True, eq=False)
class Correction:
    """One reviewed correction: ``prices`` (USD per million tokens, the ``[models]`` shape of
    costcap.toml, ``long_context`` included) replace genai-prices' prices of ``provider``'s
    ``model`` from ``since`` on; ``source`` is the page that publishes them, ``checked`` the day
    it was read; ``context_window`` replaces genai-prices' when given."""

    provider: str
    model: str
    prices: Mapping[str, Any]
    source: str
    checked: date
    note: str
    since: datetime | None = None
    context_window: int | None = None


_ANTHROPIC = "https://platform.claude.com/docs/en/about-claude/pricing"
_BEDROCK = "https://aws.amazon.com/bedrock/pricing/"
_DEEPSEEK = "https://api-docs.deepseek.com/quick_start/pricing"
_DEEPSEEK_V32 = "https://api-docs.deepseek.com/news/news250929"
_CHECKED = date(2026, 12, 4)


# Claude Sonnet 4 / 4.5: above 200,000 input tokens the WHOLE request is billed at the long-context
# rates ($6 / $22.50); cache reads cost 0.1x, writes 1.25x (5 minutes) and 2x (1 hour) of input.
_SONNET_LONG = {"threshold": 200_000, "input": "6", "output": "22.50", "cache_read": "0.60",
                "cache_write": "7.50", "cache_write_1h": "12"}  # fmt: skip
_SONNET = {"input": "3", "output": "15", "cache_read": "0.30", "cache_write": "3.75",
           "cache_write_1h": "6", "long_context": _SONNET_LONG}  # fmt: skip
# Bedrock's Sonnet 4 entries list no one-hour cache write (then priced as the 5-minute one).
_SONNET_4_BEDROCK = {
    "input": "3", "output": "15", "cache_read": "0.30", "cache_write": "3.75",
    "long_context": {k: v for k, v in _SONNET_LONG.items() if k != "cache_write_1h"},
}  # fmt: skip
# Bedrock's regional endpoints cost 10% more than its global ones for Sonnet 4.5.
_SONNET_45_REGIONAL = {
    "input": "3.30", "output": "16.50", "cache_read": "0.33", "cache_write": "4.125",
    "cache_write_1h": "6.60",
    "long_context": {"threshold": 200_000, "input": "6.60", "output": "24.75",
                     "cache_read": "0.66", "cache_write": "8.25", "cache_write_1h": "13.20"},
}  # fmt: skip
_SONNET_NOTE = (
    "genai-prices lacks the long-context tier: a request above 200,000 input tokens is billed in "
    "full at $6 input / $22.50 output per MTok, $3 / $15 at or below"
)
_BEDROCK_NOTE = _SONNET_NOTE + " (Bedrock bills Anthropic's rates)"

CORRECTIONS: tuple[Correction, ...] = (
    Correction(
        provider="anthropic",
        model="claude-sonnet-4-0",
        prices=_SONNET,
        source=_ANTHROPIC,
        checked=_CHECKED,
        note=_SONNET_NOTE,
    ),
    *(
        Correction(
            provider="aws", model=model, prices=prices, source=_BEDROCK, checked=_CHECKED, note=note
        )
        for model, prices, note in (
            ("global.anthropic.claude-sonnet-4-20250514-v1:0", _SONNET_4_BEDROCK, _BEDROCK_NOTE),
            ("regional.anthropic.claude-sonnet-4-20250514-v1:0", _SONNET_4_BEDROCK, _BEDROCK_NOTE),
            ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", _SONNET, _BEDROCK_NOTE),
            (
                "regional.anthropic.claude-sonnet-4-5-20250929-v1:0",
                _SONNET_45_REGIONAL,
                _BEDROCK_NOTE + "; its regional endpoints cost 10% more than the global ones for "
                "Sonnet 4.5 (genai-prices lists $3.30 / $16.50), applied to the long-context rates",
            ),
        )
    ),
    *(
        Correction(
            provider="deepseek",
            model=model,
            prices=prices,
            source=_DEEPSEEK,
            checked=_CHECKED,
            note=note,
            since=since,
            context_window=128_000,
        )
        for model in ("deepseek-chat", "deepseek-reasoner")
        for since, prices, note in (
            (
                datetime(2025, 9, 5, 16, 0, tzinfo=UTC),
                {"input": "0.56", "output": "1.68", "cache_read": "0.07"},
                "from 2025-09-05 16:00 UTC both models cost $0.56 input (cache miss), $0.07 "
                "(cache hit), $1.68 output per MTok, and the off-peak discount ended",
            ),
            (
                datetime(2025, 9, 30, tzinfo=UTC),
                {"input": "0.28", "output": "0.42", "cache_read": "0.028"},
                "DeepSeek-V3.2 (both models): $0.28 input (cache miss), $0.028 (cache hit), $0.42 "
                f"output per MTok, no off-peak discount; announced 2025-09-29 ({_DEEPSEEK_V32}), "
                "applied from the next UTC day so that no call of that day is under-counted",
            ),
        )
    ),
)


@functools.cache
def _by_model() -> dict[str, tuple[Correction, ...]]:
    """The rows of each genai-prices model id, oldest ``since`` first."""
    out: dict[str, list[Correction]] = {}
    for row in CORRECTIONS:
        out.setdefault(row.model, []).append(row)
    oldest = datetime.min.replace(tzinfo=UTC)
    return {k: tuple(sorted(v, key=lambda r: r.since or oldest)) for k, v in out.items()}


@functools.cache
def _entry(row: Correction) -> ModelEntry:
    """The row's prices, validated as costcap.toml's are."""
    return parse_models({row.model: row.prices}, source=f"costcap corrections ({row.source})")[0]


def _rows(prov: gp.Provider, info: gp.ModelInfo) -> tuple[Correction, ...]:
    """The rows of this model as ``prov`` serves it (its own, or a fallback provider's)."""
    rows = _by_model().get(info.id, ())
    if not rows:
        return ()
    owned = any(info is m for m in prov.models)
    fallbacks = () if owned else (prov.fallback_model_providers or ())
    return tuple(r for r in rows if (r.provider == prov.id and owned) or r.provider in fallbacks)


def correction_starts(prov: gp.Provider, info: gp.ModelInfo) -> list[datetime]:
    """The instants at which a row of this model starts to hold (price-window boundaries)."""
    return [r.since for r in _rows(prov, info) if r.since is not None]


def corrected_price(prov: gp.Provider, info: gp.ModelInfo, *, at: datetime) -> ModelPrice | None:
    """The corrected price of the model at ``at``, or ``None`` when no row holds then."""
    rows = _rows(prov, info)
    held = [r for r in rows if r.since is None or r.since <= at]
    if not held:
        return None
    row = held[-1]
    entry = _entry(row)
    assert entry.base is not None  # every row has prices
    later = [r.since for r in rows if r.since is not None and r.since > at]
    return price_from_usd(
        model=info.id,
        provider=prov.id,
        base=entry.base,
        tiers=entry.tiers,
        context_window=row.context_window or info.context_window,
        valid_from=row.since,
        valid_until=min(later, default=None),
        source=CORRECTED,
    )
