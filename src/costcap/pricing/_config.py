"""The ``[models]`` table of ``costcap.toml``: price overrides and additions, validated.

Numbers are read exactly as written: the file is parsed with ``tomllib`` and
``parse_float=Decimal``, so ``input = 0.1`` is exactly ``Decimal("0.1")`` and never a binary float.
Strings (``input = "0.10"``, ``"$0.10"``) and integers work too. In Python ``overrides`` a
``float`` is refused: pass ``str`` or ``Decimal``. A price is at most ``MAX_PRICE``, $1,000,000
per million tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from os import PathLike
from typing import Any

from costcap._toml import read_toml
from costcap.errors import ConfigError

from ._cost import DecimalRates
from ._media import MEDIA_PRICE_KEYS

__all__ = ["MAX_PRICE", "ModelEntry", "load_toml", "parse_models"]

#: The highest price accepted, in USD per million tokens ($1 a token; the dearest models cost
#: hundreds): with max_tokens at most 10**9, a call's worst case stays within what stores count.
MAX_PRICE = Decimal(1_000_000)

# Audio and image prices, in MEDIA_PRICE_KEYS order (genai-prices' keys without "_mtok").
_MEDIA_KEYS = tuple(key.removesuffix("_mtok") for key in MEDIA_PRICE_KEYS)
_PRICE_KEYS = ("input", "output", "cache_read", "cache_write", "cache_write_1h", *_MEDIA_KEYS)
_MODEL_KEYS = frozenset(
    (*_PRICE_KEYS, "provider", "context_window", "max_output_tokens", "aliases", "long_context")
)
_TIER_KEYS = frozenset((*_PRICE_KEYS, "threshold"))


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One validated ``[models."name"]`` entry.

    ``base``/``tiers`` are ``None``/empty for a metadata-only entry (which must name a model that
    genai-prices knows; its prices are kept).
    """

    name: str
    source: str
    provider: str | None = None
    base: DecimalRates | None = None
    tiers: tuple[tuple[int, DecimalRates], ...] = ()
    context_window: int | None = None
    max_output_tokens: int | None = None
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The name and aliases, lower-cased, as they are matched."""
        return tuple(n.lower() for n in (self.name, *self.aliases))


def load_toml(path: str | PathLike[str]) -> list[ModelEntry]:
    """Read and validate the ``[models]`` table of a TOML file (other tables are ignored)."""
    source = str(path)
    data = read_toml(path, parse_float=Decimal)
    models = data.get("models", {})
    if not isinstance(models, Mapping):
        raise ConfigError(f'{source}: models: must be a table of [models."name"] tables')
    return parse_models(models, source=source)


def parse_models(models: Mapping[str, Any], *, source: str) -> list[ModelEntry]:
    """Validate a ``{name: {input: …, output: …, …}}`` mapping; errors name ``source`` and key."""
    entries = [_entry(name, spec, source) for name, spec in models.items()]
    seen: dict[str, str] = {}
    for entry in entries:
        for n in entry.names:
            if n in seen:
                where = f'{source}: models."{entry.name}"'
                raise ConfigError(f'{where}: name {n!r} is already used by models."{seen[n]}"')
            seen[n] = entry.name
    return entries


def _entry(name: object, spec: object, source: str) -> ModelEntry:
    where = f'{source}: models."{name}"'
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: the model name must be a non-empty string")
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: must be a table, got {spec!r}")
    unknown = sorted(set(spec) - _MODEL_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(_MODEL_KEYS))})"
        )
    priced = any(k in spec for k in (*_PRICE_KEYS, "long_context"))
    base = _rates(spec, where) if priced else None
    tiers: tuple[tuple[int, DecimalRates], ...] = ()
    if "long_context" in spec:
        tier = spec["long_context"]
        tier_where = f"{where}.long_context"
        if not isinstance(tier, Mapping):
            raise ConfigError(f"{tier_where}: must be a table with threshold, input and output")
        unknown = sorted(set(tier) - _TIER_KEYS)
        if unknown:
            raise ConfigError(f"{tier_where}.{unknown[0]}: unknown key")
        if "threshold" not in tier:
            raise ConfigError(f"{tier_where}.threshold: missing (total input tokens, e.g. 200000)")
        tiers = ((_count(tier["threshold"], f"{tier_where}.threshold"), _rates(tier, tier_where)),)
    provider = spec.get("provider")
    if provider is not None and (not isinstance(provider, str) or not provider.strip()):
        raise ConfigError(f"{where}.provider: must be a non-empty string, got {provider!r}")
    aliases = spec.get("aliases", [])
    if isinstance(aliases, str) or not isinstance(aliases, Sequence):
        raise ConfigError(f"{where}.aliases: must be a list of names, got {aliases!r}")
    for alias in aliases:
        if not isinstance(alias, str) or not alias.strip():
            raise ConfigError(f"{where}.aliases: not a model name: {alias!r}")
    return ModelEntry(
        name=name.strip(),
        source=source,
        provider=provider.strip().lower() if provider else None,
        base=base,
        tiers=tiers,
        context_window=_optional_count(spec, "context_window", where),
        max_output_tokens=_optional_count(spec, "max_output_tokens", where),
        aliases=tuple(a.strip() for a in aliases),
    )


def _rates(spec: Mapping[str, Any], where: str) -> DecimalRates:
    """``input`` and ``output`` are required; a cache price left out is the input price
    (no discount assumed: never under-count), a 1-hour cache write price the cache write price.
    Audio and image prices are optional (left out: no price, as in genai-prices' data)."""
    for key in ("input", "output"):
        if key not in spec:
            raise ConfigError(f'{where}.{key}: missing (USD per million tokens, e.g. "3.00")')
    p_in = _price(spec["input"], f"{where}.input")
    p_out = _price(spec["output"], f"{where}.output")
    p_read = _price(spec["cache_read"], f"{where}.cache_read") if "cache_read" in spec else p_in
    p_write = _price(spec["cache_write"], f"{where}.cache_write") if "cache_write" in spec else p_in
    p_write_1h = (
        _price(spec["cache_write_1h"], f"{where}.cache_write_1h")
        if "cache_write_1h" in spec
        else p_write
    )
    media = tuple(_price(spec[k], f"{where}.{k}") if k in spec else None for k in _MEDIA_KEYS)
    priced = any(p is not None for p in media)
    return p_in, p_out, p_read, p_write, p_write_1h, media if priced else None


def _price(value: object, where: str) -> Decimal:
    if isinstance(value, float):
        raise ConfigError(f"{where}: float prices are not accepted, write {value!r} as a string")
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ConfigError(f"{where}: not a price: {value!r}")
    try:
        price = (
            Decimal(value.strip().removeprefix("$").replace("_", ""))
            if isinstance(value, str)
            else Decimal(value)
        )
    except (InvalidOperation, ValueError):
        raise ConfigError(f"{where}: not a price: {value!r}") from None
    if not price.is_finite():
        raise ConfigError(f"{where}: not a finite price: {value!r}")
    if price < 0:
        raise ConfigError(f"{where}: must not be negative: {value!r}")
    if price > MAX_PRICE:
        raise ConfigError(
            f"{where}: {value!r} is above ${MAX_PRICE:,} per million tokens, the most costcap "
            "accepts (a call's worst case must stay countable by every store)"
        )
    exponent = price.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -24:
        raise ConfigError(f"{where}: more than 24 decimal places: {value!r}")
    return price


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: must be a non-negative integer, got {value!r}")
    return value


def _optional_count(spec: Mapping[str, Any], key: str, where: str) -> int | None:
    return _count(spec[key], f"{where}.{key}") if key in spec else None
