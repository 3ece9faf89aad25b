"""Reports only read: they never create, migrate or write a ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import error, out, write_ledger
from tests.reports.ledger import EVENTS
from tests.services import drop_postgres_schema, postgres_url

REPORTS = ["features", "users", "per-user", "models", "time", "cache", "refused", "anomalies"]
NOTHING_HERE = "(nothing recorded yet; run your app with a ledger, or `costcap demo`)"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("command", REPORTS)
def test_a_missing_sqlite_file_is_not_created(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No file at the URL: one line saying there is no ledger there; no file, no directory."""
    url = f"sqlite:///{tmp_path / 'new' / 'ledger.db'}"
    assert f"no costcap ledger at {url} {NOTHING_HERE}" in error(
        capsys, ["report", command, "--ledger", url]
    )
    assert not (tmp_path / "new").exists()


def test_an_empty_sqlite_file_gets_no_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty file (a database without tables) is no ledger, and stays empty."""
    path = tmp_path / "empty.db"
    path.touch()
    assert "no costcap ledger at" in error(
        capsys, ["report", "features", "--ledger", f"sqlite:///{path}"]
    )
    assert path.stat().st_size == 0


def test_a_file_that_is_not_a_database_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just some text that is long enough to have a header\n" * 20)
    before = digest(path)
    err = error(capsys, ["report", "features", "--ledger", f"sqlite:///{path}"])
    assert "cannot be read" in err
    assert digest(path) == before


def test_a_report_leaves_the_sqlite_ledger_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every report over an existing ledger leaves its database file unchanged."""
    url = write_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    before = digest(tmp_path / "ledger.db")
    for command in REPORTS:
        out(capsys, ["report", command, "--ledger", url, "--json"])
    assert digest(tmp_path / "ledger.db") == before


def test_an_older_ledger_is_not_migrated_by_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ledger of schema version 1: the report says it is older and leaves it at version 1."""
    path = tmp_path / "ledger.db"
    write_ledger(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE costcap_ledger_meta SET value = '1'")
    db.close()
    err = error(capsys, ["report", "features", "--ledger", f"sqlite:///{path}"])
    assert "is schema version 1, older than the 2 reports read; reports do not migrate it" in err
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM costcap_ledger_meta").fetchone() == ("1",)
    db.close()


# -- PostgreSQL ------------------------------------------------------------------------------------


def schema_of(url: str) -> str:
    return url.partition("?schema=")[2]


def tables_in(schema: str) -> list[str]:
    import psycopg

    base = postgres_url().partition("?")[0]
    with psycopg.connect(base, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
            " ORDER BY table_name",
            [schema],
        ).fetchall()
        found = conn.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", [schema]
        ).fetchone()
    assert found is not None
    return [r[0] for r in rows] + (["<schema>"] if found[0] else [])


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL of a fresh schema nobody has created."""
    url = postgres_url()
    yield url
    drop_postgres_schema(url)


@pytest.mark.postgres
@pytest.mark.parametrize("command", REPORTS)
def test_a_report_creates_nothing_in_postgres(
    pg_url: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No ledger in the schema: one line saying so; neither the schema nor a table appears."""
    err = error(capsys, ["report", command, "--ledger", pg_url])
    assert f"no costcap ledger at {pg_url} {NOTHING_HERE}" in err
    assert tables_in(schema_of(pg_url)) == []


@pytest.mark.postgres
def test_a_report_reads_a_postgres_ledger_without_writing(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing ledger is read (every call counted) and its tables are the same after."""
    write_ledger(pg_url)
    before = tables_in(schema_of(pg_url))
    rows = json.loads(out(capsys, ["report", "features", "--ledger", pg_url, "--json"]))
    assert sum(r["calls"] for r in rows) == len(EVENTS)
    assert tables_in(schema_of(pg_url)) == before


@pytest.mark.postgres
def test_a_password_is_not_shown(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The URL in the message hides its password."""
    secret = pg_url.replace("postgres@", "postgres:hunter2@", 1)
    err = error(capsys, ["report", "features", "--ledger", secret])
    assert "hunter2" not in err
    assert "postgres:***@" in err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://postgres@127.0.0.1:99999/x", "Port out of range"),
        ("postgresql://postgres@127.0.0.1:abc/x", "ledger URL"),
        ("postgresql://postgres@127.0.0.1:5432/test?schema=a;b", "bad schema name"),
        ("foo://", "use sqlite:///path.db or postgresql://"),
    ],
)
def test_a_bad_ledger_url_is_one_line(
    url: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in error(capsys, ["report", "features", "--ledger", url])


def pacing_config(tmp_path: Path, ledger: str) -> Path:
    config = tmp_path / "costcap.toml"
    config.write_text(
        f'[guard]\nstore = "sqlite:///{tmp_path / "store.db"}"\n[ledger]\nurl = "{ledger}"\n'
        '[[budgets]]\nscope = "global"\nperiod = "month"\nlimit_usd = "10"\n'
    )
    return config


def test_pacing_without_its_configured_ledger_paces_on_the_period(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """costcap.toml names a ledger nothing has written yet: pacing falls back to the period's
    own rate (``rate_from: period``) and does not create the ledger."""
    config = pacing_config(tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}")
    (row,) = json.loads(out(capsys, ["report", "pacing", "--config", str(config), "--json"]))
    assert row["rate_from"] == "period"
    assert not (tmp_path / "ledger.db").exists()


def test_pacing_with_a_missing_ledger_given_on_the_command_line_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --ledger that holds no ledger is a mistake worth a line, not a silent fallback."""
    config = pacing_config(tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}")
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    argv = ["report", "pacing", "--config", str(config), "--ledger", url]
    assert f"no costcap ledger at {url}" in error(capsys, argv)
    assert not (tmp_path / "typo.db").exists()
