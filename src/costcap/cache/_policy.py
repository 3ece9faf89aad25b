"""What the cache may answer, per feature: on or off, for how long, which requests, for whom.

In code::

    CachePolicy(ttl_s=3600, features={"faq": FeatureCache(mode="always", ttl_s=7 * 86400),
                                      "chat": FeatureCache(enabled=False)})

or in ``costcap.toml``::

    [cache]
    url = "sqlite:///costcap-cache.db"   # memory://, sqlite:///path.db, redis://host:port/db
    ttl = "1h"                           # seconds, or a number with s, m, h or d
    mode = "deterministic"               # or "always"
    namespace = "feature"                # or "user", "api_key", "shared"
    max_entry_bytes = 1048576
    [cache.features.faq]
    mode = "always"
    ttl = "7d"

Which requests are cacheable: ``deterministic`` (the default) caches a request that asks for a
repeatable answer — ``temperature`` 0 or a fixed ``seed`` — and ``always`` caches every one (a
feature whose answers are meant to be reused). The namespace is part of the key: ``feature``
(the default) shares entries within a feature, ``user`` and ``api_key`` within a feature and
that user or key, ``shared`` across features.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from costcap.errors import ConfigError

__all__ = [
    "DEFAULT_TTL_S",
    "CachePolicy",
    "FeatureCache",
    "Mode",
    "Namespace",
    "Rules",
    "parse_cache_table",
]

Mode = Literal["deterministic", "always"]
Namespace = Literal["feature", "user", "api_key", "shared"]

DEFAULT_TTL_S = 3600.0
MAX_TTL_S = 366 * 86400.0
DEFAULT_MAX_ENTRY_BYTES = 1 << 20
MAX_ENTRY_BYTES = 64 << 20
_MODES = ("deterministic", "always")
_NAMESPACES = ("feature", "user", "api_key", "shared")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd])\s*")
_RULE_KEYS = {"enabled", "ttl", "mode", "namespace", "max_entry_bytes"}
_TABLE_KEYS = _RULE_KEYS | {
    "url", "features", "lease", "wait", "useful_hit_rate", "advice_after_calls",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rules:
    """The rules in force for one feature."""

    enabled: bool
    ttl_s: float
    mode: Mode
    namespace: Namespace
    max_entry_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureCache:
    """One feature's overrides of :class:`CachePolicy` (``None``: as the policy says)."""

    enabled: bool | None = None
    ttl_s: float | None = None
    mode: Mode | None = None
    namespace: Namespace | None = None
    max_entry_bytes: int | None = None

    def __post_init__(self) -> None:
        _check(self.enabled, self.ttl_s, self.mode, self.namespace, self.max_entry_bytes)


@dataclass(frozen=True, slots=True, kw_only=True)
class CachePolicy:
    """The cache's rules: defaults, and per-feature overrides in ``features``.

    ``lease_s`` bounds how long one call holds the right to fill an entry while identical
    requests wait for it; ``wait_s`` how long those wait before they call the provider
    themselves (never longer than the lease). ``useful_hit_rate`` and ``advice_after_calls``
    are what ``costcap report cache`` judges a feature's hit rate by.
    """

    enabled: bool = True
    ttl_s: float = DEFAULT_TTL_S
    mode: Mode = "deterministic"
    namespace: Namespace = "feature"
    max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES
    features: Mapping[str, FeatureCache] = field(default_factory=dict)
    lease_s: float = 60.0
    wait_s: float = 60.0
    useful_hit_rate: Decimal = Decimal("0.2")
    advice_after_calls: int = 1000

    def __post_init__(self) -> None:
        _check(self.enabled, self.ttl_s, self.mode, self.namespace, self.max_entry_bytes)
        for name, value in (("lease_s", self.lease_s), ("wait_s", self.wait_s)):
            if not _seconds(value) or value > 3600:
                raise ConfigError(f"CachePolicy.{name}: seconds above 0, at most 3600: {value!r}")
        rate = self.useful_hit_rate
        if (
            not isinstance(rate, int | float | Decimal)
            or isinstance(rate, bool)
            or not 0 <= rate <= 1
        ):
            raise ConfigError(f"CachePolicy.useful_hit_rate: a share from 0 to 1, not {rate!r}")
        calls = self.advice_after_calls
        if type(calls) is not int or calls < 1:
            raise ConfigError(f"CachePolicy.advice_after_calls: a whole number >= 1, not {calls!r}")
        for name, rules in self.features.items():
            if not isinstance(name, str) or not isinstance(rules, FeatureCache):
                raise ConfigError(
                    "CachePolicy.features: feature names mapped to FeatureCache, "
                    f"not {name!r}: {rules!r}"
                )

    def rules(self, feature: str | None) -> Rules:
        """The rules for ``feature`` (its overrides over the defaults)."""
        own = self.features.get(feature) if feature is not None else None
        base = Rules(self.enabled, self.ttl_s, self.mode, self.namespace, self.max_entry_bytes)
        if own is None:
            return base
        changed = {
            name: getattr(own, name)
            for name in ("enabled", "ttl_s", "mode", "namespace", "max_entry_bytes")
            if getattr(own, name) is not None
        }
        return replace(base, **changed)


def _seconds(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e12


def _check(
    enabled: object, ttl_s: object, mode: object, namespace: object, max_entry_bytes: object
) -> None:
    if enabled is not None and not isinstance(enabled, bool):
        raise ConfigError(f"cache enabled: true or false, not {enabled!r}")
    if ttl_s is not None and (not _seconds(ttl_s) or ttl_s > MAX_TTL_S):  # type: ignore[operator]
        raise ConfigError(f"cache ttl: seconds above 0, at most 366 days, not {ttl_s!r}")
    if mode is not None and mode not in _MODES:
        raise ConfigError(f"cache mode: one of {', '.join(_MODES)}, not {mode!r}")
    if namespace is not None and namespace not in _NAMESPACES:
        raise ConfigError(f"cache namespace: one of {', '.join(_NAMESPACES)}, not {namespace!r}")
    if max_entry_bytes is not None and (
        type(max_entry_bytes) is not int or not 0 < max_entry_bytes <= MAX_ENTRY_BYTES
    ):
        raise ConfigError(
            f"cache max_entry_bytes: a whole number from 1 to {MAX_ENTRY_BYTES}, "
            f"not {max_entry_bytes!r}"
        )


def duration_s(value: object, where: str) -> float:
    """Seconds from a number or a text such as ``"90s"``, ``"15m"``, ``"1h"``, ``"7d"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.lower())
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ConfigError(f"{where}: a number of seconds or a duration such as '1h', not {value!r}")


def parse_cache_table(table: object, source: str) -> tuple[str | None, CachePolicy]:
    """The ``[cache]`` table of ``costcap.toml``: its backend URL (or None) and policy. Every
    problem is a ConfigError naming the file and the key."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: cache: must be a table")
    _known(table, _TABLE_KEYS, f"{source}: cache")
    url = table.get("url")
    if url is not None and not isinstance(url, str):
        raise ConfigError(f"{source}: cache.url: a URL string, not {url!r}")
    features_table = table.get("features", {})
    if not isinstance(features_table, Mapping):
        raise ConfigError(f"{source}: cache.features: must be a table of [cache.features.NAME]")
    features = {
        name: FeatureCache(**_rule_kwargs(rules, f"{source}: cache.features.{name}"))
        for name, rules in features_table.items()
    }
    kwargs: dict[str, Any] = _rule_kwargs(
        {k: v for k, v in table.items() if k in _RULE_KEYS}, f"{source}: cache"
    )
    for key in ("lease", "wait"):
        if key in table:
            kwargs[f"{key}_s"] = duration_s(table[key], f"{source}: cache.{key}")
    if "useful_hit_rate" in table:
        rate = table["useful_hit_rate"]
        if not isinstance(rate, int | float) or isinstance(rate, bool):
            raise ConfigError(f"{source}: cache.useful_hit_rate: a share from 0 to 1, not {rate!r}")
        kwargs["useful_hit_rate"] = Decimal(str(rate))
    if "advice_after_calls" in table:
        kwargs["advice_after_calls"] = table["advice_after_calls"]
    try:
        return url, CachePolicy(**kwargs, features=features)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {str(exc).replace('CachePolicy.', 'cache.')}") from None


def _known(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for name in table:
        if name not in allowed:
            raise ConfigError(f"{where}.{name}: unknown key (expected one of {sorted(allowed)})")


def _rule_kwargs(table: object, where: str) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table")
    _known(table, _RULE_KEYS, where)
    kwargs = {name: value for name, value in table.items() if name != "ttl"}
    if "ttl" in table:
        kwargs["ttl_s"] = duration_s(table["ttl"], f"{where}.ttl")
    try:
        FeatureCache(**kwargs)  # checks each value
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return kwargs
