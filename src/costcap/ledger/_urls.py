"""Ledger URLs, checked when a Ledger or a sink is created (not later, in the drain thread).

* ``sqlite:///relative.db``, ``sqlite:////absolute/path.db``, ``sqlite://`` (in memory): no host,
  no query parameters, no fragment;
* ``postgresql://user@host:port/db?schema=…`` (``postgres://`` too): ``schema`` (default
  ``public``; letters, digits and ``_``) is costcap's; every other query parameter goes to
  libpq, which must know it (``sslmode``, ``connect_timeout``…). Needs the ``postgres`` extra.

Every problem is a ConfigError naming the URL, its password hidden.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlunsplit

from costcap._extras import missing_extra
from costcap.errors import ConfigError
from costcap.stores._urls import check_libpq, port_of, redact, split

__all__ = ["PostgresTarget", "check_ledger_url", "postgres_target"]

_WHAT = "ledger URL"
_USAGE = "use sqlite:///path.db or postgresql://user@host:port/db?schema=…"


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    dsn: str  # for psycopg: the URL without ``schema``
    schema: str
    where: str  # host:port/db, for messages


def check_ledger_url(url: str) -> str:
    """The URL's scheme (``sqlite`` or ``postgresql``) once ``url`` is known to be usable."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"a {_WHAT} must be a non-empty string ({_USAGE}), not {url!r}")
    parts = split(url, _WHAT)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        if url[:9].lower() != "sqlite://" or parts.netloc or parts.query or parts.fragment:
            raise ConfigError(
                f"{_WHAT} {redact(url)!r}: a SQLite ledger is sqlite:///relative.db, "
                "sqlite:////absolute/path.db or sqlite:// (in memory), with no host or options"
            )
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        postgres_target(url)
        return "postgresql"
    raise ConfigError(f"{_WHAT} {redact(url)!r}: unknown scheme {scheme!r} ({_USAGE})")


def postgres_target(url: str) -> PostgresTarget:
    """Where a ``postgresql://`` ledger URL points, checked (port, schema, libpq parameters)."""
    if importlib.util.find_spec("psycopg") is None:
        raise missing_extra(extra="postgres", what="a PostgreSQL ledger")
    shown = redact(url)
    parts = split(url, _WHAT)
    port = port_of(parts, url, _WHAT)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for name, value in query if name == "schema"]
    schema = schemas[0] if schemas else "public"
    if not schema.replace("_", "").isalnum():
        raise ConfigError(
            f"{_WHAT} {shown!r}: bad schema name {schema!r} (letters, digits and _ only)"
        )
    if len(schema.encode()) > 63:  # PostgreSQL would cut a longer name short, silently
        raise ConfigError(f"{_WHAT} {shown!r}: schema {schema!r} is longer than 63 bytes")
    # quote, not quote_plus: libpq reads "+" in ``options=-c%20lock_timeout%3D2000`` literally
    rest = urlencode([(name, value) for name, value in query if name != "schema"], quote_via=quote)
    dsn = urlunsplit(("postgresql", parts.netloc, parts.path, rest, ""))
    check_libpq(dsn, url, _WHAT)
    return PostgresTarget(dsn, schema, f"{parts.hostname}:{port or 5432}{parts.path}")
