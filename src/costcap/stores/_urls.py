"""What store and ledger URLs share: passwords kept out of messages, ports checked, and
libpq's own parse of a PostgreSQL URL — so a URL that cannot work is a ConfigError when the
store or ledger is created, not a driver error at its first use."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from costcap.errors import ConfigError

__all__ = ["check_libpq", "port_of", "redact", "split"]


def redact(url: str) -> str:
    """``url`` with its password, if any, shown as ``***``."""
    scheme, sep, rest = url.partition("://")
    login, at, host = rest.partition("@")
    if not sep or not at or ":" not in login:
        return url
    return f"{scheme}://{login.partition(':')[0]}:***@{host}"


def port_of(parts: SplitResult, url: str, what: str) -> int | None:
    """The URL's port (None when it names none); out of range or not a number: ConfigError."""
    try:
        return parts.port
    except ValueError as exc:  # "Port out of range 0-65535", "Port could not be cast…"
        raise ConfigError(f"{what} {redact(url)!r}: {exc}") from None


def check_libpq(conninfo: str, url: str, what: str) -> None:
    """libpq's parse of ``conninfo``: an unknown query parameter (``?bogus=1``), a malformed
    URL or a ``connect_timeout`` that is not a number is refused now. Needs psycopg (the
    ``postgres`` extra). Values libpq checks only when it connects (``sslmode=bogus``) are
    reported then, as the store or sink being unavailable."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, timeout_from_conninfo

    try:
        timeout_from_conninfo(conninfo_to_dict(conninfo))  # and connect_timeout=abc
    except psycopg.ProgrammingError as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{what} {redact(url)!r}: {detail}") from None


def split(url: str, what: str) -> SplitResult:
    """``urlsplit(url)``; a string it cannot split (e.g. a bad IPv6 address) is a ConfigError."""
    try:
        return urlsplit(url)
    except ValueError as exc:
        raise ConfigError(f"{what} {redact(url)!r}: {exc}") from None
