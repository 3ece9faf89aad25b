"""``costcap.toml``: the guard's settings, budgets, allocation, rate limits, policy and alerts.

Prices (``[models]``) are read by :meth:`costcap.pricing.PriceCatalog.from_toml` from the same
file. Every problem is a :class:`ConfigError` naming the file, the key and what is wrong.

Bounds: ``[guard] lease_seconds`` above 0 and at most 366 days; budget limits and allocation
totals at most $1,000,000,000; rolling periods and rate-limit windows at most 366 days; token
settings from 1 to 1,000,000,000; ``[[alerts.webhooks]] retries`` from 0 to 100; ``[cache]
useful_hit_rate`` from 0 to 1 and ``advice_after_calls`` a whole number of at least 1 (the rest of
``[cache]`` is the response cache's, read by :mod:`costcap.cache`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from costcap._toml import read_toml
from costcap.alerts import Notifier, WebhookNotifier
from costcap.budgets import Budget, allocate, parse_period
from costcap.errors import ConfigError
from costcap.limits import RateLimit
from costcap.policy import Policy, Rule
from costcap.router import RouterConfig, catalog_for, parse_router_table

__all__ = ["GuardConfig", "load_config", "parse_config"]

T = TypeVar("T")
_GUARD_KEYS = {"store", "strict", "fail_open", "lease_seconds", "timezone"}
_BUDGET_KEYS = {"scope", "period", "limit_usd", "mode", "thresholds", "timezone", "name"}
_RULE_KEYS = {"default_max_tokens", "max_tokens_cap", "allowed_models", "max_cost_usd"}
_POLICY_KEYS = _RULE_KEYS | {"on_over_cap", "features", "models"}
_ALLOCATION_KEYS = {"total_usd", "period", "shares", "mode", "timezone"}
_LEDGER_KEYS = {"url"}
_MAX_RETRIES = 100
MAX_LEASE_S = 366 * 86400  # the longest rolling window: every store keeps such a lease


@dataclass
class GuardConfig:
    store: str = "sqlite:///costcap.db"
    strict: bool = False
    fail_open: bool = False
    lease_s: float = 600.0
    budgets: list[Budget] = field(default_factory=list)
    limits: list[RateLimit] = field(default_factory=list)
    policy: Policy = field(default_factory=Policy)
    notifiers: list[Notifier] = field(default_factory=list)
    ledger_url: str | None = None  # [ledger] url: where reports read the cost ledger
    # [cache] useful_hit_rate and advice_after_calls: what `costcap report cache` advises by
    cache_useful_hit_rate: Decimal | None = None
    cache_advice_after_calls: int | None = None
    router: RouterConfig | None = None  # [router]: each feature's tiers (costcap.router)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {problem}")

    def table(self, data: Mapping[str, Any], key: str, allowed: set[str]) -> Mapping[str, Any]:
        value = data.get(key.rsplit(".", 1)[-1], {})
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be a table")
        self.known(value, key, allowed)
        return value

    def known(self, table: Mapping[str, Any], key: str, allowed: set[str]) -> None:
        for name in table:
            if name not in allowed:
                raise self.fail(f"{key}.{name}", f"unknown key (expected one of {sorted(allowed)})")

    def typed(
        self, table: Mapping[str, Any], key: str, name: str, kind: type[T] | tuple[type, ...]
    ) -> Any:
        value = table[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise self.fail(f"{key}.{name}", f"must be {names}, not {value!r}")
        return value

    def build(self, key: str, make: Callable[[], T]) -> T:
        """``make()``; its ConfigError is reported under ``key`` (once: a message that already
        starts with the key, e.g. ``allocation.shares: …``, is not prefixed with it again)."""
        try:
            return make()
        except (ValueError, TypeError) as exc:  # ConfigError is a ValueError
            problem = str(exc)
            if problem.startswith((f"{key}:", f"{key}.", f"{key} ")):
                raise ConfigError(f"{self.source}: {problem}") from None
            raise self.fail(key, problem) from None


def _rule(r: _Reader, table: Mapping[str, Any], key: str) -> Rule:
    if not isinstance(table, Mapping):
        raise r.fail(key, "must be a table")
    r.known(table, key, _RULE_KEYS)
    return r.build(key, lambda: Rule(**dict(table)))


def _rules(r: _Reader, policy: Mapping[str, Any], name: str) -> dict[str, Rule]:
    """``[policy.features.<name>]`` or ``[policy.models.<name>]``: one Rule per sub-table."""
    key = f"policy.{name}"
    tables = policy.get(name, {})
    if not isinstance(tables, Mapping):
        raise r.fail(key, f"must be a table of [{key}.<name>] tables")
    return {member: _rule(r, rule, f"{key}.{member}") for member, rule in tables.items()}


def _policy(r: _Reader, data: Mapping[str, Any]) -> Policy:
    table = r.table(data, "policy", _POLICY_KEYS)
    kwargs = {k: v for k, v in table.items() if k not in ("features", "models")}
    features, models = _rules(r, table, "features"), _rules(r, table, "models")
    return r.build("policy", lambda: Policy(**kwargs, features=features, models=models))


def _budgets(r: _Reader, data: Mapping[str, Any], timezone: str) -> list[Budget]:
    raw = data.get("budgets", [])
    if not isinstance(raw, list):
        raise r.fail("budgets", "must be an array of tables ([[budgets]])")
    out = []
    for index, item in enumerate(raw):
        key = f"budgets[{index}]"
        if not isinstance(item, Mapping):
            raise r.fail(key, "must be a table")
        r.known(item, key, _BUDGET_KEYS)
        for required in ("scope", "period", "limit_usd"):
            if required not in item:
                raise r.fail(f"{key}.{required}", "is required")
        settings = {"timezone": timezone, **item}
        out.append(r.build(key, lambda s=settings: Budget(**s)))  # type: ignore[misc]
    if "allocation" in data:
        table = r.table(data, "allocation", _ALLOCATION_KEYS)
        if "total_usd" not in table or "shares" not in table:
            raise r.fail("allocation", "needs total_usd and shares")
        shares = r.typed(table, "allocation", "shares", dict)
        options = {k: v for k, v in table.items() if k not in ("total_usd", "shares")}
        options.setdefault("timezone", timezone)
        out.extend(r.build("allocation", lambda: allocate(table["total_usd"], shares, **options)))
    return out


def _limits(r: _Reader, data: Mapping[str, Any]) -> list[RateLimit]:
    raw = data.get("limits", [])
    if not isinstance(raw, list):
        raise r.fail("limits", "must be an array of tables ([[limits]])")
    out = []
    for index, item in enumerate(raw):
        key = f"limits[{index}]"
        if not isinstance(item, Mapping):
            raise r.fail(key, "must be a table")
        r.known(item, key, {"rate", "per", "name"})
        if "rate" not in item:
            raise r.fail(f"{key}.rate", "is required")
        out.append(r.build(key, lambda i=item: RateLimit(**i)))  # type: ignore[misc]
    return out


def _notifiers(r: _Reader, data: Mapping[str, Any]) -> list[Notifier]:
    alerts = r.table(data, "alerts", {"webhooks", "log"})
    out: list[Notifier] = []
    hooks = alerts.get("webhooks", [])
    if not isinstance(hooks, list):
        raise r.fail("alerts.webhooks", "must be an array of tables ([[alerts.webhooks]])")
    if "log" in alerts:
        r.typed(alerts, "alerts", "log", bool)
    for index, hook in enumerate(hooks):
        key = f"alerts.webhooks[{index}]"
        if not isinstance(hook, Mapping):
            raise r.fail(key, "must be a table with a url")
        r.known(hook, key, {"url", "retries"})
        url = hook.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise r.fail(f"{key}.url", f"must be an http:// or https:// URL, not {url!r}")
        retries = r.typed(hook, key, "retries", int) if "retries" in hook else 4
        if not 0 <= retries <= _MAX_RETRIES:
            raise r.fail(f"{key}.retries", f"must be from 0 to {_MAX_RETRIES}, not {retries}")
        out.append(WebhookNotifier(url, retries=retries))
    return out


def _url(r: _Reader, table: Mapping[str, Any], key: str, name: str) -> str:
    url: str = r.typed(table, key, name, str)
    if not url.strip():
        raise r.fail(f"{key}.{name}", "must not be empty")
    return url


def _cache_advice(r: _Reader, data: Mapping[str, Any], config: GuardConfig) -> None:
    """``[cache] useful_hit_rate`` and ``advice_after_calls``; the table's other keys are the
    response cache's (:func:`costcap.cache.parse_cache_table` reads and checks them)."""
    table = data.get("cache", {})
    if not isinstance(table, Mapping):
        raise r.fail("cache", "must be a table")
    if "useful_hit_rate" in table:
        rate = table["useful_hit_rate"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise r.fail("cache.useful_hit_rate", f"a share from 0 to 1, not {rate!r}")
        config.cache_useful_hit_rate = Decimal(str(rate))
    if "advice_after_calls" in table:
        calls = table["advice_after_calls"]
        if type(calls) is not int or calls < 1:
            raise r.fail("cache.advice_after_calls", f"a whole number >= 1, not {calls!r}")
        config.cache_advice_after_calls = calls


def parse_config(data: Mapping[str, Any], *, source: str = "costcap.toml") -> GuardConfig:
    r = _Reader(source)
    known = {"guard", "budgets", "allocation", "policy", "alerts", "models", "limits", "ledger"}
    known.add("estimate")  # read by `costcap estimate` (its traffic profile), not by the Guard
    known.add("cache")  # the response cache's (costcap.cache); two keys are read here
    known.add("router")  # model selection's (costcap.router), read and checked there
    known.add("gateway")  # `costcap serve`'s (costcap.gateway), read and checked there
    r.known(data, "(top level)", known)
    guard = r.table(data, "guard", _GUARD_KEYS)
    timezone = r.typed(guard, "guard", "timezone", str) if "timezone" in guard else "UTC"
    r.build(
        "guard.timezone", lambda: parse_period("day", timezone=timezone, where="guard.timezone")
    )
    config = GuardConfig(
        budgets=_budgets(r, data, timezone), limits=_limits(r, data), policy=_policy(r, data)
    )
    if "store" in guard:
        config.store = _url(r, guard, "guard", "store")
    ledger = r.table(data, "ledger", _LEDGER_KEYS)
    if "url" in ledger:
        config.ledger_url = _url(r, ledger, "ledger", "url")
    _cache_advice(r, data, config)
    if "router" in data:
        catalog = catalog_for(data, source)
        config.router = parse_router_table(data["router"], source, catalog=catalog)
    if "strict" in guard:
        config.strict = r.typed(guard, "guard", "strict", bool)
    if "fail_open" in guard:
        config.fail_open = r.typed(guard, "guard", "fail_open", bool)
    if "lease_seconds" in guard:
        config.lease_s = float(r.typed(guard, "guard", "lease_seconds", (int, float)))
        if not 0 < config.lease_s <= MAX_LEASE_S:
            raise r.fail(
                "guard.lease_seconds", f"must be positive and at most {MAX_LEASE_S} (366 days)"
            )
    config.notifiers = _notifiers(r, data)  # last: a webhook starts its thread when built
    return config


def load_config(path: str | Path) -> GuardConfig:
    """Read ``costcap.toml``. A file that cannot be read, is not UTF-8 or is not TOML is a
    ConfigError naming the file (``<file>: cannot read the file: …`` or
    ``<file>: not valid TOML: …``)."""
    return parse_config(read_toml(path), source=str(path))
