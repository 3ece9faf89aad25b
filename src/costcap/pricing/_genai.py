"""The bridge to genai-prices: find a model with its own matching, compile its prices once.

genai-prices prices each unit separately and tiers each price key on the call's TOTAL input tokens
(cache reads and writes included), switching the whole call to a tier's rate when that total is
strictly above the tier's ``start``. Cache tokens are part of ``input_tokens`` and are taken out of
it only for the cache keys the model prices; tokens of an unpriced cache key are billed as input.
:func:`compile_price` turns that into one :class:`ModelPrice` with identical results.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from costcap.errors import ConfigError

from ._corrections import corrected_price, correction_starts
from ._cost import DecimalRates, ModelPrice, price_from_usd
from ._media import MEDIA_PRICE_KEYS

if TYPE_CHECKING:
    from genai_prices import types as gp

# genai-prices (pydantic and its data) is imported on first use, not when costcap is imported.

__all__ = ["compile_price", "find_model", "known_model_ids"]

_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok")


def find_model(model: str, provider: str | None) -> tuple[gp.Provider, gp.ModelInfo] | None:
    """The provider and model genai-prices matches for ``model``, or ``None``.

    Tries, in order: ``provider/model`` or ``provider:model`` split when the prefix is exactly a
    provider id (and no ``provider`` was given); genai-prices' own matching; and, when it routed the
    name to a provider that lacks it (e.g. Bedrock's ``us.anthropic.claude-…``), every provider.
    """
    from genai_prices import data_snapshot

    snap = data_snapshot.get_snapshot()
    ref = model.strip()
    attempts: list[tuple[str, str | None]] = []
    if provider is None:
        ids = {p.id for p in snap.providers}
        for sep in ("/", ":"):
            head, found, tail = ref.partition(sep)
            if found and tail and head.lower() in ids:
                attempts.append((tail, head.lower()))
                break
    elif provider.lower() != "litellm" and not data_snapshot.find_provider_by_id(
        snap.providers, provider
    ):
        known = ", ".join(sorted(p.id for p in snap.providers))
        raise ConfigError(f"unknown provider {provider!r}; known providers: {known}")
    attempts.append((ref, provider))
    for ref_, provider_ in attempts:
        try:
            return snap.find_provider_model(ref_, None, provider_, None)
        except LookupError:
            continue
    if provider is None:
        for prov in snap.providers:
            if (info := prov.find_model(ref)) is not None:
                return prov, info
    return None


def known_model_ids(provider: str | None = None) -> list[str]:
    """Every model id in the genai-prices data (or of one provider), sorted, without duplicates."""
    from genai_prices import data_snapshot

    snap = data_snapshot.get_snapshot()
    if provider is not None:
        found = data_snapshot.find_provider_by_id(snap.providers, provider)
        if found is None:
            return []
        # A provider also serves its fallback providers' models (Azure serves OpenAI's).
        ids = {found.id, *(found.fallback_model_providers or ())}
        return sorted(
            {info.id for prov in snap.providers if prov.id in ids for info in prov.models}
        )
    return sorted({info.id for prov in snap.providers for info in prov.models})


def _at_input(price: Decimal | gp.TieredPrices | None, total_input: int) -> Decimal | None:
    """The price genai-prices applies to a call with ``total_input`` input tokens."""
    from genai_prices.types import TieredPrices

    if not isinstance(price, TieredPrices):
        return price
    for tier in sorted(price.tiers, key=lambda t: t.start, reverse=True):
        if total_input > tier.start:
            return tier.price
    return price.base


def _rates(
    values: Mapping[str, Decimal | gp.TieredPrices | None], total_input: int
) -> DecimalRates:
    p_in, p_out, p_read, p_write, p_write_1h = (_at_input(values[k], total_input) for k in _KEYS)
    assert p_in is not None  # checked by the caller
    p_read = p_in if p_read is None else p_read
    p_write = p_in if p_write is None else p_write
    p_write_1h = p_write if p_write_1h is None else p_write_1h
    media = tuple(_at_input(values[k], total_input) for k in MEDIA_PRICE_KEYS)
    priced = any(p is not None for p in media)
    return p_in, p_out, p_read, p_write, p_write_1h, media if priced else None


def _boundaries(info: gp.ModelInfo, at: datetime) -> list[datetime]:
    """Instants near ``at`` where one of the model's price constraints switches on or off."""
    from genai_prices.types import StartDateConstraint, TimeOfDateConstraint

    constraints: list[gp.StartDateConstraint | gp.TimeOfDateConstraint | None] = []
    if isinstance(info.prices, list):
        constraints += [c.constraint for c in info.prices]
    constraints += [v.constraint for v in info.price_variants or ()]
    out: list[datetime] = []
    today = at.astimezone(UTC).date()
    for c in constraints:
        if isinstance(c, StartDateConstraint):
            out.append(datetime.combine(c.start_date, time(0), UTC))
        elif isinstance(c, TimeOfDateConstraint):
            for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
                for t in (c.start_time, c.end_time):
                    out.append(_combine(day, t))
    return out


def _combine(day: date, t: time) -> datetime:
    return datetime.combine(day, t if t.tzinfo is not None else t.replace(tzinfo=UTC))


def compile_price(
    prov: gp.Provider,
    info: gp.ModelInfo,
    *,
    at: datetime,
    context: Mapping[str, str] | None,
) -> ModelPrice | None:
    """``info``'s prices at ``at`` as a :class:`ModelPrice`; ``None`` when it has no input price.

    Uses genai-prices' ``get_prices`` (start dates, time-of-day windows, request-context variants
    such as ``{"service_tier": "flex"}``) exactly as ``calc_price`` does, and records the window in
    which the result holds. A row of costcap's corrections table replaces the data's prices.
    """
    from genai_prices.types import TieredPrices

    if (corrected := corrected_price(prov, info, at=at)) is not None:
        return corrected

    if context and not any(info is m for m in prov.models):
        model_price = info.get_prices(at)  # calc_price ignores variants of a fallback provider
    else:
        model_price = info.get_prices(at, context)
    values: dict[str, Decimal | gp.TieredPrices | None] = {
        k: model_price.__dict__.get(k) for k in (*_KEYS, *MEDIA_PRICE_KEYS)
    }
    if values["input_mtok"] is None:
        return None
    thresholds = sorted(
        {t.start for v in values.values() if isinstance(v, TieredPrices) for t in v.tiers}
    )
    bounds = _boundaries(info, at) + correction_starts(prov, info)
    request = model_price.__dict__.get("requests_kcount")
    return price_from_usd(
        model=info.id,
        provider=prov.id,
        base=_rates(values, 0),
        tiers=[(t, _rates(values, t + 1)) for t in thresholds],
        request_usd_per_k=request if isinstance(request, Decimal) else None,
        context_window=info.context_window,
        valid_from=max((b for b in bounds if b <= at), default=None),
        valid_until=min((b for b in bounds if b > at), default=None),
    )
