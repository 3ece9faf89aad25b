"""What :class:`~costcap.errors.UnknownModel` suggests: close names that DO resolve to a price.

A suggestion is never the name that failed nor another spelling of it (case, blanks, a provider
prefix, ``.``/``_``/``-``): genai-prices lists ids that its own matching does not accept as
names (its Mistral ``codestral`` is matched as ``codestral-latest`` or ``codestral-2501``), so
the names its models are matched by are candidates too, and each candidate is resolved first.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ._genai import find_model

if TYPE_CHECKING:
    from genai_prices import types as gp

__all__ = ["suggestions"]

_MAX = 3
_SEPARATORS = re.compile(r"[\s._-]+")


def suggestions(model: str, provider: str | None, configured: Iterable[str]) -> list[str]:
    """Up to three priced names close to ``model`` (at ``provider`` when given); ``configured``
    are the names configured in costcap.toml or overrides (always priced)."""
    from genai_prices import data_snapshot

    snap = data_snapshot.get_snapshot()
    ids = frozenset(p.id for p in snap.providers)
    failed = _spelling(model, ids)
    chosen = set(configured)
    candidates: dict[str, str] = {}  # spelling -> the first name met with it
    for name in (*sorted(chosen), *_genai_names(snap.providers, provider)):
        if (key := _spelling(name, ids)) != failed:
            candidates.setdefault(key, name)
    out: list[str] = []
    for key in difflib.get_close_matches(failed, list(candidates), n=4 * _MAX, cutoff=0.6):
        name = candidates[key]
        if name in chosen or _priced(name, provider):
            out.append(name)
            if len(out) == _MAX:
                break
    return out


def _spelling(name: str, providers: frozenset[str]) -> str:
    """``name`` without what model matching ignores or people swap freely."""
    ref = name.strip().lower()
    for sep in ("/", ":"):
        head, found, tail = ref.partition(sep)
        if found and tail and head in providers:
            ref = tail
            break
    return _SEPARATORS.sub("-", ref)


def _genai_names(providers: list[gp.Provider], provider: str | None) -> Iterator[str]:
    """Model ids, then the exact names models are matched by, of ``provider`` (and the providers
    it falls back to) or of every provider."""
    chosen = providers
    if provider is not None:
        wanted = {provider.lower()}
        for prov in providers:
            if prov.id == provider.lower():
                wanted.update(prov.fallback_model_providers or ())
        chosen = [p for p in providers if p.id in wanted]
    models = [info for prov in chosen for info in prov.models]
    yield from sorted({info.id for info in models})
    yield from sorted({name for info in models for name in _equals(info.match)})


def _equals(clause: object) -> Iterator[str]:
    """The names a match clause accepts exactly (``equals``, inside ``or``/``and`` too)."""
    equals = getattr(clause, "equals", None)
    if isinstance(equals, str):
        yield equals
    for key in ("or_", "and_"):
        for sub in getattr(clause, key, None) or ():
            yield from _equals(sub)


def _priced(name: str, provider: str | None) -> bool:
    """Whether genai-prices resolves ``name`` to a model with a token price now."""
    found = find_model(name, provider)
    if found is None:
        return False
    prices = found[1].get_prices(datetime.now(UTC))
    return prices.__dict__.get("input_mtok") is not None
