"""Ledger URLs are checked when the Ledger is created, not later in its drain thread: every one
that cannot work is a ConfigError naming the URL and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from costcap.errors import ConfigError
from costcap.ledger import Ledger, open_sink

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def test_postgres_port_out_of_range_is_refused_by_the_ledger(tmp_path: Path) -> None:
    """Port 99999 is refused when the Ledger is built (it used to fail in the drain thread)."""
    with pytest.raises(ConfigError, match=r"ledger URL .*: Port out of range"):
        Ledger("postgresql://postgres@127.0.0.1:99999/x", spool_dir=tmp_path / "spool")


def test_postgres_parameter_libpq_does_not_know_is_refused(tmp_path: Path) -> None:
    """``?bogus=1`` is named when the Ledger is built."""
    with pytest.raises(ConfigError, match='invalid URI query parameter: "bogus"'):
        Ledger(f"{POSTGRES}?bogus=1", spool_dir=tmp_path / "spool")


def test_postgres_bad_schema_name_is_refused(tmp_path: Path) -> None:
    """A schema name that is not letters, digits and ``_`` is refused up front."""
    with pytest.raises(ConfigError, match="bad schema name 'a-b'"):
        Ledger(f"{POSTGRES}?schema=a-b", spool_dir=tmp_path / "spool")


@pytest.mark.parametrize("suffix", ["?bogus=1", "#part"])
def test_sqlite_ledger_takes_no_options(tmp_path: Path, suffix: str) -> None:
    """``sqlite:///l.db?bogus=1`` would have written to a file named ``l.db?bogus=1``."""
    with pytest.raises(ConfigError, match=r"a SQLite ledger is sqlite:///relative\.db"):
        Ledger(f"sqlite:///{tmp_path / 'l.db'}{suffix}", spool_dir=tmp_path / "spool")


def test_sqlite_ledger_takes_no_host(tmp_path: Path) -> None:
    """``sqlite://host/l.db`` is refused (the store refuses it too)."""
    with pytest.raises(ConfigError, match="with no host or options"):
        Ledger("sqlite://host/l.db", spool_dir=tmp_path / "spool")


def test_open_sink_checks_the_url_too() -> None:
    """Opening a sink directly applies the same checks."""
    with pytest.raises(ConfigError, match="Port out of range"):
        open_sink("postgresql://postgres@127.0.0.1:99999/x")


def test_unknown_scheme_is_refused(tmp_path: Path) -> None:
    """A scheme with no ledger sink is a ConfigError naming the forms that work."""
    with pytest.raises(ConfigError, match="unknown scheme 'mysql'"):
        Ledger("mysql://localhost/x", spool_dir=tmp_path / "spool")


def test_password_is_not_shown(tmp_path: Path) -> None:
    """The password of a refused URL is masked."""
    with pytest.raises(ConfigError) as caught:
        Ledger("postgresql://app:s3cret@127.0.0.1:5432/test?bogus=1", spool_dir=tmp_path)
    assert "s3cret" not in str(caught.value)


def test_postgres_schema_longer_than_63_bytes_is_refused(tmp_path: Path) -> None:
    """PostgreSQL would cut a 64-byte schema name to 63 silently: refused instead."""
    with pytest.raises(ConfigError, match="longer than 63 bytes"):
        Ledger(f"{POSTGRES}?schema={'s' * 64}", spool_dir=tmp_path)


def test_postgres_options_reach_libpq_as_given() -> None:
    """libpq ``options`` keep their encoded space (``%20``), never a ``+`` it would read as
    part of the option."""
    from costcap.ledger._urls import postgres_target

    target = postgres_target(f"{POSTGRES}?options=-c%20lock_timeout%3D2000")
    assert "options=-c%20lock_timeout%3D2000" in target.dsn
