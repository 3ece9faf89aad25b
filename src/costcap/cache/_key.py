"""The cache key: a canonical form of an LLM request, and its digest.

Two requests share a key exactly when their canonical forms are equal. The canonical form is
the request body as it goes on the wire (after policy: the output cap costcap admitted), with

* JSON object keys in sorted order (``{"a": 1, "b": 2}`` and ``{"b": 2, "a": 1}`` are one);
* numbers by value: ``1``, ``1.0`` and ``Decimal("1.00")`` are one; ``0.1`` stays ``0.1``;
* ``None`` values left out (``"temperature": null`` is the API's default, as no temperature);
* a pydantic model instance read as its JSON, a pydantic model class (``response_format=`` of
  ``parse()``) as its name and JSON schema;
* the fields that do not change the answer left out: :data:`IGNORED` (the stream flag and its
  options, the end user, metadata, storage and service-tier choices, prompt-cache routing).

Every other field is kept, including ones this version does not know: an unknown field can
only split keys, never join two requests that differ. Strings are kept exactly as sent (no
Unicode normalisation: different code points can tokenize differently).

The digest is SHA-256 over the canonical JSON with the provider, the endpoint, the answer's
shape (a JSON answer or a stream) and the namespace (the tenant: feature, user or API key), so
tenants never share an entry unless configured to. The prompt is never stored: the key is a
digest, and the value holds the answer alone.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

__all__ = [
    "IGNORED",
    "Shape",
    "Uncanonical",
    "canonical_request",
    "deterministic",
    "digest",
]

Shape = Literal["json", "sse"]

#: Request fields that do not change the answer: left out of the key.
IGNORED: frozenset[str] = frozenset(
    {
        "stream",
        "stream_options",
        "user",
        "safety_identifier",
        "metadata",
        "store",
        "service_tier",
        "speed",  # Anthropic fast mode: the same model, sooner
        "prompt_cache_key",
        "prompt_cache_retention",
        "background",
    }
)

_KEY_VERSION = 1
_MAX_SAFE = 2**53
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


class Uncanonical(TypeError):
    """A request holding a value that has no canonical JSON form (not cacheable)."""


def canonical_request(body: Mapping[str, Any]) -> Any:
    """The canonical form of a request body (a JSON value); :class:`Uncanonical` when some
    value has none."""
    return {
        str(name): _canon(value)
        for name, value in body.items()
        if name not in IGNORED and _present(value)
    }


def digest(canonical: Any, *, provider: str, endpoint: str, shape: Shape, namespace: str) -> str:
    """The key of a canonical request: 64 hex digits."""
    text = _ENCODER.encode([_KEY_VERSION, provider, endpoint, shape, namespace, canonical])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def deterministic(body: Mapping[str, Any]) -> bool:
    """Whether the request asks for a repeatable answer: temperature 0, or a fixed ``seed``."""
    temperature = body.get("temperature")
    if _number(temperature) and temperature == 0:
        return True
    seed = body.get("seed")
    return _number(seed) and not isinstance(seed, float)


def _number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


_ABSENT = ("NotGiven", "Omit")  # the SDKs' "not given" sentinels (``NOT_GIVEN``, ``omit``)


def _present(value: object) -> bool:
    """Not ``None`` and not an SDK's "not given" sentinel."""
    return value is not None and type(value).__name__ not in _ABSENT


def _canon(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is bool or kind is int or value is None:  # the common cases first
        return value
    if kind is dict:
        return {
            k if type(k) is str else str(k): _canon(v)
            for k, v in value.items()
            if v is not None and type(v).__name__ not in _ABSENT
        }
    if kind is list:
        return [_canon(v) for v in value]
    return _canon_other(value)


def _canon_other(value: Any) -> Any:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float | Decimal):
        return _canon_number(value)
    if isinstance(value, Mapping):
        return {str(k): _canon(v) for k, v in value.items() if _present(v)}
    if isinstance(value, list | tuple):
        return [_canon(v) for v in value]
    if isinstance(value, type) and hasattr(value, "model_json_schema"):
        return {"$model": value.__name__, "$schema": _canon(value.model_json_schema())}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _canon(dump(mode="json", exclude_unset=True, by_alias=True))
    raise Uncanonical(f"{type(value).__name__} has no canonical JSON form")


def _canon_number(value: float | Decimal) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise Uncanonical(f"{value} is not a JSON number")
    if isinstance(value, Decimal) and not value.is_finite():
        raise Uncanonical(f"{value} is not a JSON number")
    whole = int(value)
    if value == whole and abs(whole) < _MAX_SAFE:
        return whole
    return float(value)
