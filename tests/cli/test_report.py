"""``costcap report …``: JSON, CSV and tables, filters, the ledger URL, bad input → exit 2."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from costcap.cli.app import run
from costcap.config import parse_config
from costcap.errors import ConfigError
from costcap.ledger import open_sink
from tests.reports.ledger import EVENTS, HAND_BUILT, cost, group, select, usd

COMMANDS = ["features", "users", "per-user", "models", "time", "cache", "refused", "anomalies"]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite ledger file holding the test events."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'ledger.db'}"
    sink = open_sink(url)
    sink.write(EVENTS)
    sink.close()
    return url


def out(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert run(argv) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run a command that must fail: exit 2 and exactly one line on stderr."""
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("costcap: error: "), err
    return err


def test_features_json_has_exact_decimal_strings(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--json``: one object per feature, money as exact decimal strings, no feature as null."""
    rows = json.loads(out(capsys, ["report", "features", "--ledger", ledger, "--json"]))
    expected = {k: usd(cost(es)) for k, es in group(EVENTS, lambda e: e.feature).items()}
    assert {r["feature"]: Decimal(r["cost_usd"]) for r in rows} == expected
    assert all(isinstance(r["cost_usd"], str) and "E" not in r["cost_usd"] for r in rows)
    assert None in {r["feature"] for r in rows}


def test_filters_and_range_apply(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--user, --model, --since (a date) and --until (an instant) select the calls counted."""
    argv = ["report", "features", "--ledger", ledger, "--json", "--user", "user-03"]
    argv += ["--model", "gpt-4o", "--since", "2026-03-02", "--until", "2026-03-08T12:00"]
    rows = json.loads(out(capsys, argv))
    chosen = select(
        EVENTS,
        since=datetime(2026, 3, 2, tzinfo=UTC),
        until=datetime(2026, 3, 8, 12, tzinfo=UTC),
        user="user-03",
        model="gpt-4o",
    )
    assert sum(r["calls"] for r in rows) == len(chosen) > 0
    assert sum(Decimal(r["cost_usd"]) for r in rows) == usd(cost(chosen))


def test_users_csv(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--csv``: a header of field names, then one row per user, at most --limit of them."""
    text = out(capsys, ["report", "users", "--ledger", ledger, "--csv", "--limit", "3"])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "user",
        "calls",
        "answered",
        "refused",
        "cost_usd",
        "cost_per_answered_usd",
        "share_pct",
    ]
    spend = {u: cost(es) for u, es in group(EVENTS, lambda e: e.user_id).items() if u}
    top = max(spend, key=lambda u: spend[u])
    assert len(rows) == 3
    assert (rows[0]["user"], Decimal(rows[0]["cost_usd"])) == (top, usd(spend[top]))


@pytest.fixture(scope="module")
def hand_built(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite ledger file holding the hand-built events (alice: 30 answered calls, $0.30,
    and 25 refused; bob: 5 answered, $0.20, and 5 refused)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'hand.db'}"
    sink = open_sink(url)
    sink.write(HAND_BUILT)
    sink.close()
    return url


@pytest.mark.parametrize("fmt", ["--json", "--csv"])
def test_users_fields_say_what_they_count(
    hand_built: str, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """JSON and CSV carry calls (all), answered, refused and the cost per answered call:
    alice 55 = 30 + 25 calls, $0.30 / 30 = $0.01."""
    text = out(capsys, ["report", "users", "--ledger", hand_built, fmt])
    rows = json.loads(text) if fmt == "--json" else list(csv.DictReader(io.StringIO(text)))
    alice = next(r for r in rows if r["user"] == "alice")
    counts = [int(alice[k]) for k in ("calls", "answered", "refused")]
    money = [Decimal(alice[k]) for k in ("cost_usd", "cost_per_answered_usd")]
    assert (counts, money) == ([55, 30, 25], [Decimal("0.30"), Decimal("0.01")])


@pytest.mark.parametrize(
    ("command", "headers"),
    [
        ("users", ["calls", "answered", "refused", "avg / answered"]),
        ("features", ["calls", "answered", "refused"]),
        ("models", ["calls", "answered", "input / answered", "avg / answered"]),
        ("time", ["calls", "answered", "refused"]),
    ],
)
def test_tables_head_their_counts_with_what_they_count(
    hand_built: str,
    command: str,
    headers: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each table heads its columns calls, answered, refused, and averages …/answered."""
    monkeypatch.setenv("COLUMNS", "200")  # one line per header
    text = out(capsys, ["report", command, "--ledger", hand_built])
    for header in headers:
        assert f" {header} " in text


def test_time_by_month_csv(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--granularity month: one bucket for March 2026 holding every call."""
    text = out(capsys, ["report", "time", "--ledger", ledger, "--csv", "--granularity", "month"])
    (row,) = csv.DictReader(io.StringIO(text))
    assert (row["start"], int(row["calls"])) == ("2026-03-01", len(EVENTS))


def test_per_user_json_is_one_object(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Cost per user is a single summary object."""
    data = json.loads(out(capsys, ["report", "per-user", "--ledger", ledger, "--json"]))
    assert data["users"] == 12
    assert Decimal(data["unattributed_cost_usd"]) == usd(
        cost(e for e in EVENTS if e.user_id is None)
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_report_prints_a_table(
    ledger: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --json/--csv each report prints a rich table."""
    text = out(capsys, ["report", command, "--ledger", ledger])
    assert text.strip()


def test_the_ledger_url_comes_from_costcap_toml(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --ledger, ``[ledger] url`` in costcap.toml names the ledger."""
    config = tmp_path / "costcap.toml"
    config.write_text(f'[ledger]\nurl = "{ledger}"\n')
    rows = json.loads(out(capsys, ["report", "models", "--config", str(config), "--json"]))
    assert sum(r["calls"] for r in rows) == len(EVENTS)


def test_ledger_table_in_config_is_checked() -> None:
    """``[ledger]`` takes one key, ``url``, a string."""
    assert parse_config({"ledger": {"url": "sqlite:///x.db"}}).ledger_url == "sqlite:///x.db"
    assert parse_config({}).ledger_url is None
    with pytest.raises(ConfigError, match=r"ledger\.path: unknown key"):
        parse_config({"ledger": {"path": "x"}})
    with pytest.raises(ConfigError, match=r"ledger\.url: must be str"):
        parse_config({"ledger": {"url": 5}})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["features", "--since", "last tuesday"], "is not a date"),
        (["features", "--since", "2026-03-05", "--until", "2026-03-01"], "must be before"),
        (["features", "--json", "--csv"], "choose one of --json and --csv"),
        (["time", "--granularity", "year"], "must be one of day, week, month"),
        (["users", "--limit", "0"], "must be 1..1,000,000 (got 0)"),
        (["features", "--user", ""], "must not be empty"),
        (["anomalies", "--until", "2026-03-05"], "give an ISO datetime"),
        (["anomalies", "--k", "0"], "Invalid value for --k: must be positive (got 0)"),
        (["anomalies", "--min-hour", "lots"], "is not a number"),
        (["features", "--ledger", "mysql://x"], "use sqlite:///path.db"),
        (["features", "--bogus"], "No such option"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    ledger: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad options or values: exit code 2 and one line on stderr naming the problem."""
    ledger_args = [] if "--ledger" in argv else ["--ledger", ledger]
    assert message in error(capsys, ["report", *argv, *ledger_args])


def test_a_missing_ledger_file_is_an_error_not_a_new_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no ledger at the default path, the command says so instead of creating one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSTCAP_CONFIG", raising=False)
    assert "no costcap ledger at sqlite:///costcap-ledger.db" in error(
        capsys, ["report", "features"]
    )
    assert not (tmp_path / "costcap-ledger.db").exists()


NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)  # 14.5 of March's 31 days gone


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards built from costcap.toml tell the time as NOW."""
    from costcap import guard_core

    real = guard_core.config_kwargs
    monkeypatch.setattr(
        guard_core, "config_kwargs", lambda path, over: {**real(path, over), "clock": lambda: NOW}
    )


def pacing_config(tmp_path: Path, ledger: str | None) -> Path:
    config = tmp_path / "costcap.toml"
    text = f'[guard]\nstore = "sqlite:///{tmp_path / "store.db"}"\n'
    text += f'[ledger]\nurl = "{ledger}"\n' if ledger else ""
    config.write_text(text + '[[budgets]]\nscope = "global"\nperiod = "month"\nlimit_usd = "10"\n')
    return config


@pytest.mark.usefixtures("fixed_clock")
def test_pacing_json(ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``report pacing`` lists each budget with its projection, at the ledger's recent rate
    (nothing since yesterday in the test ledger: trending under)."""
    config = pacing_config(tmp_path, ledger)
    (row,) = json.loads(out(capsys, ["report", "pacing", "--config", str(config), "--json"]))
    assert (row["budget"], row["limit_usd"], row["spent_usd"]) == ("global/month", "10.00", "0.00")
    assert (row["status"], row["rate_from"], row["start"]) == (
        "trending_under",
        "ledger",
        "2026-03-01T00:00:00+00:00",
    )


@pytest.mark.usefixtures("fixed_clock")
def test_pacing_alert_is_printed_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--alert prints a budget trending over ($9 of $10 by mid-month) once; a second run in
    the same period stays quiet."""
    from costcap.guard import Guard

    monkeypatch.chdir(tmp_path)  # no ./costcap-ledger.db: the period's own average is the rate
    config = pacing_config(tmp_path, None)
    guard = Guard.from_config(config, notifiers=[], clock=lambda: NOW)
    ticket = guard.admit(model="gpt-4o-mini", reserve_usd="9")
    guard.settle_cost(ticket, "9")
    guard.close()
    argv = ["report", "pacing", "--config", str(config), "--alert", "--csv"]
    assert run(argv) == 0
    first = capsys.readouterr()
    assert run(argv) == 0
    second = capsys.readouterr()
    assert first.err.count("costcap: budget global/month is on pace to spend $19.241379") == 1
    assert second.err == ""
    assert "trending_over" in first.out


def test_pacing_without_a_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pacing needs the budgets of costcap.toml."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSTCAP_CONFIG", raising=False)
    assert "no costcap.toml" in error(capsys, ["report", "pacing"])


def test_anomalies_json(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``report anomalies --until`` judges as of that instant and prints JSON."""
    argv = ["report", "anomalies", "--ledger", ledger, "--json", "--until", "2026-03-10T12:00Z"]
    argv += ["--min-hour", "0.01", "--min-day", "0.05"]
    rows = json.loads(out(capsys, argv))
    assert rows, "tiny floors flag the test ledger's busiest members"
    assert {r["kind"] for r in rows} == {"spike"}
    assert all(r["at"] == "2026-03-10T12:00:00+00:00" for r in rows)
