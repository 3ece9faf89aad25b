"""The price catalog: genai-prices data plus ``costcap.toml`` overrides, resolved once per model."""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from os import PathLike
from typing import Any

from costcap.errors import ConfigError, UnknownModel

from ._config import ModelEntry, load_toml, parse_models
from ._cost import Cost, ModelPrice, price_from_usd
from ._genai import compile_price, find_model, known_model_ids
from ._suggest import suggestions

__all__ = ["PriceCatalog", "default_catalog"]

_CACHE_LIMIT = 4096  # distinct model strings resolved by one catalog before its cache restarts

_CacheKey = tuple[str, str | None, tuple[tuple[str, str], ...] | None]


class PriceCatalog:
    """Prices of models: genai-prices' bundled data, with overrides and additions on top.

    ``overrides`` maps model names to tables of the ``costcap.toml`` ``[models."name"]`` shape,
    e.g. ``{"my-model": {"input": "1.10", "output": "4.40"}}``. An entry with prices replaces the
    prices of that name (and of genai-prices' model of that id); an entry without prices only sets
    metadata (``max_output_tokens``, ``context_window``, ``aliases``) of a model genai-prices knows.

    A model is resolved once (matching, tiers, the prices valid now) and cached; a cached price is
    re-resolved after its ``valid_until`` (a dated price change or a time-of-day window ends).
    Safe to share between threads. Construction does no work unless overrides need checking.
    ``clock`` (seconds since the epoch) is the time "now" prices are resolved for; tests set it.
    """

    def __init__(
        self,
        *,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        entries = parse_models(overrides, source="<overrides>") if overrides else []
        self._setup(entries, clock)

    def _setup(self, entries: Iterable[ModelEntry], clock: Callable[[], float]) -> None:
        self._clock = clock
        self._entries = tuple(entries)
        self._by_name = {n: e for e in self._entries for n in e.names}
        self._cache: dict[_CacheKey, ModelPrice] = {}
        self._lock = threading.Lock()
        self._known: list[str] | None = None
        for entry in self._entries:
            if entry.base is None:
                self._check_known(entry)

    @classmethod
    def _from_entries(
        cls, entries: Iterable[ModelEntry], clock: Callable[[], float]
    ) -> PriceCatalog:
        catalog = cls.__new__(cls)
        catalog._setup(entries, clock)
        return catalog

    @classmethod
    def from_toml(
        cls, path: str | PathLike[str], *, clock: Callable[[], float] = time.time
    ) -> PriceCatalog:
        """A catalog with the ``[models]`` of the TOML file at ``path`` (``ConfigError`` if bad)."""
        return cls._from_entries(load_toml(path), clock)

    def with_config(self, path: str | PathLike[str]) -> PriceCatalog:
        """A new catalog: this one's overrides, then the file's (the file wins on a same name)."""
        added = load_toml(path)
        replaced = {n for e in added for n in e.names}
        kept = [e for e in self._entries if not replaced.intersection(e.names)]
        return self._from_entries([*kept, *added], self._clock)

    def __repr__(self) -> str:
        return f"PriceCatalog({len(self._entries)} configured models)"

    # -- resolution ------------------------------------------------------------------------------

    def resolve(
        self,
        model: str,
        *,
        provider: str | None = None,
        at: datetime | None = None,
        context: Mapping[str, str] | None = None,
    ) -> ModelPrice:
        """The prices of ``model`` (alias, dated snapshot, ``provider/model`` all work).

        ``at`` prices a call made at another time (naive means UTC; not cached); ``context`` selects
        genai-prices price variants, e.g. ``{"service_tier": "flex"}`` or
        ``{"processing": "batch"}``. Raises :class:`~costcap.errors.UnknownModel` for a model with
        no known price, never a $0 price.
        """
        if at is not None:
            at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
            return self._resolve(model, provider, at, context)
        key: _CacheKey = (model, provider, tuple(sorted(context.items())) if context else None)
        price = self._cache.get(key)
        now = self._clock()
        if price is not None and now < price._expires_at:
            return price
        with self._lock:
            price = self._resolve(model, provider, datetime.fromtimestamp(now, UTC), context)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = price
        return price

    def cost(
        self,
        model: str,
        usage: object,
        *,
        provider: str | None = None,
        at: datetime | None = None,
        context: Mapping[str, str] | None = None,
    ) -> Cost:
        """The exact cost of one call of ``model``; ``usage`` is anything ``usage_from`` reads."""
        if at is None and context is None:
            price = self._cache.get((model, provider, None))
            if price is not None and self._clock() < price._expires_at:
                return price.cost(usage)
        return self.resolve(model, provider=provider, at=at, context=context).cost(usage)

    def known_models(self) -> list[str]:
        """Every model name this catalog can price: genai-prices ids and configured names."""
        if self._known is None:
            configured = {n for e in self._entries for n in (e.name, *e.aliases)}
            self._known = sorted(set(known_model_ids()) | configured)
        return list(self._known)

    def clear_cache(self) -> None:
        """Forget resolved prices (e.g. after genai-prices' ``UpdatePrices`` fetched new data)."""
        with self._lock:
            self._cache.clear()

    # -- internals -------------------------------------------------------------------------------

    def _resolve(
        self, model: str, provider: str | None, at: datetime, context: Mapping[str, str] | None
    ) -> ModelPrice:
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"model must be a non-empty string, got {model!r}")
        entry = self._entry_for(model.strip().lower(), provider)
        if entry is not None and entry.base is not None:
            # Configured prices win; a name genai-prices knows keeps its provider and window.
            known = (
                find_model(entry.name, None) if entry.provider is None and not provider else None
            )
            return self._priced_by(
                entry,
                provider_id=provider or (known[0].id if known else None),
                context_window=known[1].context_window if known else None,
            )
        target = entry.name if entry is not None else model
        found = find_model(target, provider or (entry.provider if entry else None))
        if found is None:
            raise UnknownModel(model, self._suggest(model, provider))
        prov, info = found
        if entry is None:
            entry = self._by_name.get(info.id.lower())
            if entry is not None and entry.provider not in (None, prov.id):
                entry = None
        if entry is not None and entry.base is not None:
            return self._priced_by(entry, provider_id=prov.id, context_window=info.context_window)
        price = compile_price(prov, info, at=at, context=context)
        if price is None:
            raise UnknownModel(model)  # genai-prices knows the model but has no token price for it
        if entry is None:
            return price
        return dataclasses.replace(
            price,
            context_window=entry.context_window or price.context_window,
            max_output_tokens=entry.max_output_tokens,
            source=f"{price.source} + {entry.source}",
        )

    def _entry_for(self, ref: str, provider: str | None) -> ModelEntry | None:
        entry = self._by_name.get(ref)
        if entry is None:
            for sep in ("/", ":"):
                head, found, tail = ref.partition(sep)
                if found and (entry := self._by_name.get(tail)) is not None:
                    provider = provider or head
                    break
        if entry is None:
            return None
        if provider is not None and entry.provider not in (None, provider.lower()):
            return None
        return entry

    @staticmethod
    def _priced_by(
        entry: ModelEntry, *, provider_id: str | None, context_window: int | None
    ) -> ModelPrice:
        assert entry.base is not None
        return price_from_usd(
            model=entry.name,
            provider=entry.provider or provider_id or "custom",
            base=entry.base,
            tiers=entry.tiers,
            context_window=entry.context_window or context_window,
            max_output_tokens=entry.max_output_tokens,
            source=entry.source,
        )

    def _check_known(self, entry: ModelEntry) -> None:
        where = f'{entry.source}: models."{entry.name}"'
        try:
            found = find_model(entry.name, entry.provider)
        except ConfigError as e:
            raise ConfigError(f"{where}.provider: {e}") from None
        if found is None:
            raise ConfigError(
                f"{where}: not a model genai-prices knows, so it needs prices (input and output)"
            )

    def _suggest(self, model: str, provider: str | None) -> list[str]:
        names = [] if provider else [n for e in self._entries for n in (e.name, *e.aliases)]
        return suggestions(model, provider, names)


@functools.cache
def default_catalog() -> PriceCatalog:
    """The process-wide catalog of genai-prices' bundled data, built on first use."""
    return PriceCatalog()
