"""``redis://host:port/db?prefix=…&socket_timeout=…``: read and checked before any connection.

The path is the database number (none: 0). Query parameters: ``prefix`` and ``require_durable``
(true/false: refuse a server that may evict or not persist costcap's keys, see
:mod:`costcap.stores._redis_durability`) are costcap's own; the others go to redis-py's connection
pool, and only those that make sense for costcap are taken:

* seconds, more than 0: ``socket_timeout`` (5), ``socket_connect_timeout`` (2), ``timeout``
  (how long to wait for a free pooled connection, 5);
* whole numbers: ``max_connections`` (64, at least 1), ``health_check_interval`` (30, seconds;
  0 turns it off), ``socket_read_size`` (at least 1), ``db`` (instead of the path);
* ``socket_keepalive`` (true/false), ``client_name``, ``protocol`` (2 or 3);
* with ``rediss://`` only, the TLS settings ``ssl_cert_reqs``, ``ssl_ca_certs``, ``ssl_ca_path``,
  ``ssl_certfile``, ``ssl_keyfile``, ``ssl_password``, ``ssl_ciphers``, ``ssl_min_version``,
  ``ssl_check_hostname``, ``ssl_validate_ocsp``, ``ssl_validate_ocsp_stapled``,
  ``ssl_include_verify_flags``, ``ssl_exclude_verify_flags``.

``retry_on_timeout`` and ``retry_on_error`` are refused: costcap never retries a command (a
retried admit could reserve twice). Anything else is a ConfigError naming it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlunsplit

from costcap.errors import ConfigError
from costcap.stores._urls import port_of, redact, split

__all__ = ["RedisUrl", "parse_redis_url"]

_SECONDS = frozenset({"socket_timeout", "socket_connect_timeout", "timeout"})
_WHOLE = {"max_connections": 1, "health_check_interval": 0, "socket_read_size": 1, "db": 0}
_FLAGS = frozenset({"socket_keepalive", "ssl_check_hostname", "ssl_validate_ocsp",
                    "ssl_validate_ocsp_stapled"})  # fmt: skip
_OURS = frozenset({"prefix", "require_durable"})
_OPTIONS = frozenset({*_OURS, *_SECONDS, *_WHOLE, "socket_keepalive", "client_name", "protocol"})
_PASSED = frozenset({"client_name"})
_PROTOCOLS = ("2", "3")  # RESP2, RESP3
_TLS = frozenset({"ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile",
                  "ssl_password", "ssl_ciphers", "ssl_min_version", "ssl_check_hostname",
                  "ssl_validate_ocsp", "ssl_validate_ocsp_stapled", "ssl_include_verify_flags",
                  "ssl_exclude_verify_flags"})  # fmt: skip
_NO_RETRIES = "costcap never retries a command (a retried admit could reserve twice)"
_REFUSED = {"retry_on_timeout": _NO_RETRIES, "retry_on_error": _NO_RETRIES}
_TRUTH = {"true": True, "yes": True, "1": True,
          "false": False, "no": False, "0": False}  # fmt: skip
_DATABASE = re.compile(r"/?([0-9]+)?/?")


@dataclass(frozen=True, slots=True)
class RedisUrl:
    plain: str  # the URL for redis-py: without costcap's own parameters
    prefix: str
    address: str  # host:port/db, for messages
    require_durable: bool = False


def parse_redis_url(url: str, *, what: str = "store URL") -> RedisUrl:
    """Read ``url``; every problem is a ConfigError naming the URL (password hidden) as
    ``what``."""
    shown = redact(url)
    parts = split(url, what)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [value for name, value in query if name == "prefix"]
    prefix = prefixes[-1] if prefixes else "costcap"
    if not prefix or any(ch in prefix for ch in "{}"):
        raise ConfigError(f"{what} {shown!r}: prefix must be non-empty and free of '{{' and '}}'")
    durable = [value for name, value in query if name == "require_durable"]
    if durable and durable[-1].lower() not in _TRUTH:
        raise ConfigError(
            f"{what} {shown!r}: require_durable must be true or false, not {durable[-1]!r}"
        )
    require_durable = bool(durable) and _TRUTH[durable[-1].lower()]
    tls = parts.scheme.lower() == "rediss"
    rest = [(name, value) for name, value in query if name not in _OURS]
    for name, value in rest:
        _check_option(name, value, tls=tls, where=f"{what} {shown!r}")
    database = _DATABASE.fullmatch(parts.path)
    if database is None:
        raise ConfigError(
            f"{what} {shown!r}: the path must be a database number "
            f"(redis://host:port/0), not {parts.path!r}"
        )
    given = dict(rest).get("db")
    if database.group(1) is not None and given is not None:
        raise ConfigError(f"{what} {shown!r}: name the database once, in the path or as ?db=")
    db = int(given if given is not None else database.group(1) or 0)
    host = parts.hostname or "localhost"
    address = f"{host}:{port_of(parts, url, what) or 6379}/{db}"
    plain = urlunsplit(parts._replace(query=urlencode(rest)))
    return RedisUrl(plain, prefix, address, require_durable)


def _check_option(name: str, value: str, *, tls: bool, where: str) -> None:
    if name in _REFUSED:
        raise ConfigError(f"{where}: {name} is not accepted: {_REFUSED[name]}")
    if name in _TLS and not tls:
        raise ConfigError(f"{where}: {name} needs a TLS URL (rediss://)")
    if name in _SECONDS:
        seconds = _number(value)
        if seconds is None or not math.isfinite(seconds) or seconds <= 0:
            raise ConfigError(f"{where}: {name} must be a number of seconds above 0, not {value!r}")
    elif name in _WHOLE:
        least = _WHOLE[name]
        if not value.isdecimal() or int(value) < least:
            raise ConfigError(f"{where}: {name} must be a whole number of at least {least}, "
                              f"not {value!r}")  # fmt: skip
    elif name == "protocol":
        if value not in _PROTOCOLS:
            raise ConfigError(f"{where}: protocol must be 2 or 3, not {value!r}")
    elif name in _FLAGS:
        if value.lower() not in _TRUTH:
            raise ConfigError(f"{where}: {name} must be true or false, not {value!r}")
    elif name not in _PASSED and name not in _TLS:
        known = sorted(_OPTIONS | (_TLS if tls else set()))
        raise ConfigError(f"{where}: unknown option {name!r} (known: {', '.join(known)})")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
