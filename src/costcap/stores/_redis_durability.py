"""Whether a Redis server keeps costcap's counters: its eviction policy and its persistence.

Counters and reservations are spend. A server that may evict them (any ``maxmemory-policy`` but
``noeviction``: every costcap key carries a TTL, so ``volatile-*`` policies may evict them as
readily as ``allkeys-*`` ones) or that does not persist them (no AOF: ``appendonly no``) can
forget spend, and then admit calls the budget has no room for. A store asks the server once, at
its first call (``CONFIG GET`` of ``maxmemory-policy``, ``appendonly`` and ``save``, pipelined
into one round trip), and logs a warning naming the risk; with ``?require_durable=1`` in the URL
it refuses such a server with a :class:`~costcap.errors.ConfigError` instead (on every call, until
the server is fixed). A server that does not allow ``CONFIG`` (managed services often rename or
forbid it) is logged once as not checked, and refused with ``require_durable=1``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import redis

from costcap.errors import ConfigError, StoreUnavailable

__all__ = ["SETTINGS", "judge", "read_config", "risks"]

log = logging.getLogger("costcap.stores")

SETTINGS = ("maxmemory-policy", "appendonly", "save")
# Replies that mean "cannot serve now", not "CONFIG is not allowed here".
_UNAVAILABLE = ("OOM", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS", "LOADING")


def read_config(replies: Sequence[object], address: str) -> dict[str, str] | str:
    """The settings from the replies to ``CONFIG GET`` of each of :data:`SETTINGS` (pipelined,
    errors returned rather than raised), or why they cannot be read (CONFIG refused)."""
    config: dict[str, str] = {}
    for reply in replies:
        if isinstance(reply, redis.ResponseError):
            if str(reply).startswith(_UNAVAILABLE):
                raise StoreUnavailable(f"Redis at {address} cannot serve: {reply}") from None
            return str(reply)
        if isinstance(reply, Mapping):
            config.update((_text(name), _text(value)) for name, value in reply.items())
    return config


def risks(config: Mapping[str, str]) -> list[str]:
    """What in ``config`` can lose costcap's spend, one sentence each (none: safe)."""
    found = []
    policy = config.get("maxmemory-policy", "noeviction")
    if policy != "noeviction":
        found.append(
            f"maxmemory-policy is {policy!r}, so at maxmemory Redis may evict costcap's counters "
            "and reservations (all of them carry a TTL) and forget their spend; set noeviction"
        )
    if config.get("appendonly", "no") != "yes":
        save = config.get("save", "")
        if save.strip():
            found.append(
                f"persistence is RDB snapshots only (save {save!r}, appendonly no), so a crash "
                "loses the spend recorded since the last snapshot; set appendonly yes"
            )
        else:
            found.append(
                "persistence is off (appendonly no, no save points), so a restart loses every "
                "counter and the spend they hold; set appendonly yes"
            )
    return found


def judge(config: dict[str, str] | str, *, address: str, require: bool) -> None:
    """Log, or with ``require`` refuse (ConfigError), a server that may lose spend."""
    if isinstance(config, str):
        if require:
            raise ConfigError(
                f"Redis at {address}: require_durable=1, but the server does not allow CONFIG GET "
                f"({config}), so its eviction policy and persistence cannot be checked"
            )
        log.info(
            "Redis at %s: could not check its eviction policy and persistence (CONFIG GET: %s); "
            "costcap needs maxmemory-policy noeviction and appendonly yes to keep spend",
            address,
            config,
        )
        return
    found = risks(config)
    if not found:
        return
    if require:
        raise ConfigError(
            f"Redis at {address} may lose spend and require_durable=1 is set: {'; '.join(found)}"
        )
    log.warning(
        "Redis at %s may lose spend: %s (add require_durable=1 to the store URL to refuse such a "
        "server)",
        address,
        "; ".join(found),
    )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
