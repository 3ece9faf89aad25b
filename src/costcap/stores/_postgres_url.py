"""``postgresql://user@host:port/db?schema=…``: read and checked before any connection.

costcap's own query parameters are ``schema`` (default ``costcap``), ``pool_min`` (1),
``pool_max`` (10) and ``pool_timeout`` (seconds to wait for a free pooled connection, 10). Every
other parameter goes to libpq exactly as written: it is never decoded and encoded again (libpq
reads ``%20`` as a space but ``+`` as a plus, so ``?options=-c%20lock_timeout%3D2000`` must reach
it as it is). ``connect_timeout`` defaults to 5 seconds and ``application_name`` to ``costcap``.

The server settings ``lock_timeout`` (5 s) and ``statement_timeout`` (10 s) are added to libpq's
``options`` unless the URL's ``options`` (or, without one, the ``PGOPTIONS`` environment
variable) sets them: a call never waits without limit behind a row lock that another session
holds. ``?options=-c%20lock_timeout%3D2000`` sets 2 s, ``-c%20lock_timeout%3D0`` no limit.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

from costcap.errors import ConfigError
from costcap.stores._urls import check_libpq, port_of, redact, split

__all__ = ["CONNECT_TIMEOUT_S", "DEFAULT_SCHEMA", "TIMEOUTS", "Settings"]

CONNECT_TIMEOUT_S = 5
DEFAULT_SCHEMA = "costcap"
# server setting -> its default, in milliseconds (PostgreSQL's unit for both)
TIMEOUTS = {"lock_timeout": "5000", "statement_timeout": "10000"}
_OURS = ("schema", "pool_min", "pool_max", "pool_timeout")
_MAX_IDENTIFIER = 63  # bytes: longer names are cut short by PostgreSQL


@dataclass(frozen=True, slots=True)
class Settings:
    conninfo: str  # libpq URL without costcap's own parameters
    where: str  # host:port/db, for error messages
    schema: str = DEFAULT_SCHEMA
    pool_min: int = 1
    pool_max: int = 10
    pool_timeout: float = 10.0
    lock_timeout: str = "5 s"  # as the server takes it, for messages
    statement_timeout: str = "10 s"

    @classmethod
    def from_url(cls, url: str) -> Settings:
        """Read ``url``; every problem (a port out of range, a bad pool setting, a parameter
        libpq does not know) is a ConfigError naming the URL, its password hidden."""
        shown = redact(url)
        parts = split(url, "store URL")
        if parts.scheme not in ("postgresql", "postgres"):
            raise ConfigError(f"store URL {shown!r}: expected postgresql://user@host:port/db")
        port = port_of(parts, url, "store URL")
        ours: dict[str, str] = {}
        theirs: list[str] = []  # as written in the URL
        given: dict[str, str] = {}  # their names and values, as libpq reads them
        for part in parts.query.split("&"):
            if not part:
                continue
            name = unquote(part.partition("=")[0])
            if name in _OURS:
                ours.update(parse_qsl(part, keep_blank_values=True))
            else:
                theirs.append(part)
                given[name] = unquote(part.partition("=")[2])
        for name, default in (
            ("connect_timeout", str(CONNECT_TIMEOUT_S)),
            ("application_name", "costcap"),
        ):
            if name not in given:
                theirs.append(f"{name}={default}")
        options = given.get("options", os.environ.get("PGOPTIONS", ""))
        missing = [f"-c {name}={ms}" for name, ms in TIMEOUTS.items() if not _set_in(options, name)]
        if missing:
            theirs = [part for part in theirs if unquote(part.partition("=")[0]) != "options"]
            theirs.append("options=" + quote(" ".join([options, *missing]).strip(), safe=""))
        conninfo = f"{parts.scheme}://{parts.netloc}{parts.path}?{'&'.join(theirs)}"
        check_libpq(conninfo, url, "store URL")
        host = parts.hostname or given.get("host") or "localhost"
        where = f"{host}:{port or given.get('port') or 5432}/{parts.path.lstrip('/')}"
        try:
            pool_min = int(ours.get("pool_min", "1"))
            pool_max = int(ours.get("pool_max", "10"))
            pool_timeout = float(ours.get("pool_timeout", "10"))
        except ValueError as exc:
            raise ConfigError(f"store URL {shown!r}: bad pool setting ({exc})") from None
        if not (0 <= pool_min <= pool_max and pool_max >= 1 and 0 < pool_timeout < math.inf):
            raise ConfigError(
                f"store URL {shown!r}: need 0 <= pool_min <= pool_max, pool_max >= 1 and "
                "pool_timeout a number of seconds above 0"
            )
        schema = ours.get("schema") or DEFAULT_SCHEMA
        if len(schema.encode()) > _MAX_IDENTIFIER:  # PostgreSQL would cut it short, silently
            raise ConfigError(
                f"store URL {shown!r}: schema {schema!r} is longer than PostgreSQL's "
                f"{_MAX_IDENTIFIER} bytes"
            )
        lock, statement = (_shown(_set_in(options, n) or ms) for n, ms in TIMEOUTS.items())
        return cls(conninfo, where, schema, pool_min, pool_max, pool_timeout, lock, statement)


def _set_in(options: str, name: str) -> str | None:
    """The value ``options`` (libpq's, e.g. ``-c lock_timeout=2000``) gives the server setting
    ``name``, or None. The server takes ``-c name=v``, ``-cname=v`` and ``--name=v``, with ``-``
    for ``_`` in the name; the last one given wins."""
    pattern = r"(?:^|\s)(?:-c\s*|--)" + name.replace("_", "[_-]") + r"=(\S*)"
    found = re.findall(pattern, options)
    return found[-1] if found else None


def _shown(value: str) -> str:
    """A timeout as people read it: ``2000`` (milliseconds, the server's unit) is ``2 s``."""
    if value.isdecimal():
        return f"{int(value) / 1000:g} s"
    return value
