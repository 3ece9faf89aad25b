"""``[gateway]`` in ``costcap.toml``: where ``costcap serve`` listens and what it forwards to.

::

    [gateway]
    host = "127.0.0.1"           # --host wins
    port = 8700                  # --port wins
    workers = 1                  # --workers wins
    admin_key_env = "COSTCAP_ADMIN_KEY"   # the admin API's key, read from this variable
    keys = "postgresql://…"      # where virtual keys live (default: the store's database)
    key_cache_seconds = 1.0      # how long a key lookup is reused (revocation reaches every
                                 # gateway process within it)
    max_body_bytes = 4194304     # a larger request body is refused with 413
    budget_status = 402          # or 429: the status of a request a budget refuses
    allow_anonymous = false      # true: requests without a key pass, charged by x-costcap-* headers

    [gateway.upstreams.openai]
    base_url = "https://api.openai.com/v1"     # as given to the OpenAI SDK
    api_key_env = "OPENAI_API_KEY"             # the provider key, read from this variable

    [gateway.upstreams.anthropic]
    base_url = "https://api.anthropic.com"     # as given to the Anthropic SDK
    api_key_env = "ANTHROPIC_API_KEY"

Secrets are never written in the file: it names the environment variables that hold them.
Every problem is a :class:`~costcap.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from costcap._toml import read_toml
from costcap.errors import ConfigError

__all__ = ["DEFAULT_PORT", "GatewaySettings", "Upstream", "load_settings"]

DEFAULT_PORT = 8700
DEFAULT_MAX_BODY = 4 * 2**20
Provider = Literal["openai", "anthropic"]

_KEYS = {
    "host", "port", "workers", "admin_key_env", "keys", "key_cache_seconds", "max_body_bytes",
    "budget_status", "allow_anonymous", "upstreams", "timeout_seconds",
}  # fmt: skip
_UPSTREAM_KEYS = {"base_url", "api_key_env"}
_DEFAULT_BASES: dict[Provider, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}
_DEFAULT_KEY_ENVS: dict[Provider, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
}


@dataclass(frozen=True)
class Upstream:
    """One provider the gateway forwards to: its base URL (as its SDK takes it) and the
    environment variable holding its API key."""

    provider: Provider
    base_url: str
    api_key_env: str

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None


@dataclass(frozen=True)
class GatewaySettings:
    """Everything ``costcap serve`` needs; ``config`` is the ``costcap.toml`` the guard is
    built from."""

    config: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 1
    admin_key_env: str | None = None
    keys: str | None = None
    key_cache_s: float = 1.0
    max_body_bytes: int = DEFAULT_MAX_BODY
    budget_status: int = 402
    allow_anonymous: bool = False
    timeout_s: float = 600.0
    upstreams: Mapping[Provider, Upstream] = field(default_factory=dict)

    def admin_key(self) -> str | None:
        """The admin API's key (None: the admin API is closed)."""
        return os.environ.get(self.admin_key_env) or None if self.admin_key_env else None

    def with_options(self, **changes: Any) -> GatewaySettings:
        """These settings with command-line options (those not None) winning."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _fail(source: str, key: str, problem: str) -> ConfigError:
    return ConfigError(f"{source}: gateway.{key}: {problem}")


def _typed(source: str, table: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = table[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _fail(source, key, f"must be {names}, not {value!r}")
    return value


def _upstream(source: str, provider: Provider, table: object) -> Upstream:
    where = f"upstreams.{provider}"
    if not isinstance(table, Mapping):
        raise _fail(source, where, "must be a table")
    unknown = sorted(set(table) - _UPSTREAM_KEYS)
    if unknown:
        expected = sorted(_UPSTREAM_KEYS)
        raise _fail(source, f"{where}.{unknown[0]}", f"unknown key (expected one of {expected})")
    base = table.get("base_url", _DEFAULT_BASES[provider])
    if not isinstance(base, str):
        raise _fail(source, f"{where}.base_url", f"must be a URL, not {base!r}")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _fail(source, f"{where}.base_url", f"must be an http(s) URL, not {base!r}")
    env = table.get("api_key_env", _DEFAULT_KEY_ENVS[provider])
    if not isinstance(env, str) or not env:
        raise _fail(source, f"{where}.api_key_env", f"must name a variable, not {env!r}")
    return Upstream(provider, base.rstrip("/"), env)


def parse_settings(data: Mapping[str, Any], config: Path) -> GatewaySettings:
    """The ``[gateway]`` table of the parsed ``costcap.toml`` at ``config``."""
    source = str(config)
    table = data.get("gateway", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: gateway: must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise _fail(source, unknown[0], f"unknown key (expected one of {sorted(_KEYS)})")
    settings: dict[str, Any] = {}
    for key, kind in (("host", str), ("admin_key_env", str), ("keys", str)):
        if key in table:
            settings[key] = _typed(source, table, key, kind)
    if "port" in table:
        port = _typed(source, table, "port", int)
        if not 0 <= port < 65536:
            raise _fail(source, "port", f"must be 0..65535, not {port}")
        settings["port"] = port
    if "workers" in table:
        workers = _typed(source, table, "workers", int)
        if not 1 <= workers <= 256:
            raise _fail(source, "workers", f"must be 1..256, not {workers}")
        settings["workers"] = workers
    for key, name, low, high in (
        ("key_cache_seconds", "key_cache_s", 0, 3600),
        ("timeout_seconds", "timeout_s", 0.001, 86_400),
    ):
        if key in table:
            value = _typed(source, table, key, (int, float))
            if not low <= value <= high:
                raise _fail(source, key, f"must be from {low} to {high} seconds, not {value}")
            settings[name] = float(value)
    if "max_body_bytes" in table:
        cap = _typed(source, table, "max_body_bytes", int)
        if not 1024 <= cap <= 2**30:
            raise _fail(source, "max_body_bytes", f"must be 1024..{2**30}, not {cap}")
        settings["max_body_bytes"] = cap
    if "budget_status" in table:
        status = _typed(source, table, "budget_status", int)
        if status not in (402, 429):
            raise _fail(source, "budget_status", f"must be 402 or 429, not {status}")
        settings["budget_status"] = status
    if "allow_anonymous" in table:
        settings["allow_anonymous"] = _typed(source, table, "allow_anonymous", bool)
    ups = table.get("upstreams", {})
    if not isinstance(ups, Mapping):
        raise _fail(source, "upstreams", "must be a table")
    bad = sorted(set(ups) - set(_DEFAULT_BASES))
    if bad:
        raise _fail(source, f"upstreams.{bad[0]}", "unknown provider (expected openai, anthropic)")
    providers: tuple[Provider, ...] = ("openai", "anthropic")
    settings["upstreams"] = {p: _upstream(source, p, ups.get(p, {})) for p in providers}
    return GatewaySettings(config=config, **settings)


def load_settings(config: str | Path) -> GatewaySettings:
    """``[gateway]`` of the ``costcap.toml`` at ``config`` (the guard's settings are read from
    the same file by :meth:`costcap.AsyncGuard.from_config`)."""
    path = Path(config)
    return parse_settings(read_toml(path), path)
