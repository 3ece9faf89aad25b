"""``costcap report alerts``: the alerts fired as a table, JSON and CSV, newest first, with the
range, kind and limit; bad input and a missing ledger are one line; an empty or older ledger
says it has none. ``report pacing --alert`` and ``report anomalies --alert`` record the alerts
they fire in the ledger, where this report finds them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from costcap.cli.app import run
from costcap.guard import Guard
from costcap.ledger import Ledger, open_sink
from tests.cli.helpers import error, out, write_ledger
from tests.fired import write_alerts
from tests.ledger.older import make_older
from tests.reports.ledger import EVENTS

KINDS = "threshold, exhausted, oversized, pacing, anomaly"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite ledger file holding the five test alerts (tests/fired.py)."""
    return write_alerts(f"sqlite:///{tmp_path_factory.mktemp('cli') / 'ledger.db'}")


def report(capsys: pytest.CaptureFixture[str], ledger: str, *options: str) -> str:
    return out(capsys, ["report", "alerts", "--ledger", ledger, *options])


def test_the_table_lists_the_alerts_newest_first(
    ledger: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line per row
    rows = [line for line in report(capsys, ledger).splitlines() if " UTC " in line]
    assert [line.split("│")[2].strip() for line in rows] == [
        "anomaly", "pacing", "exhausted", "threshold", "threshold"
    ]  # fmt: skip


def test_a_table_row_shows_when_what_and_how_much(
    ledger: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ann's 100 %: fired, kind, budget, member, period, threshold, spent, limit."""
    monkeypatch.setenv("COLUMNS", "200")
    text = report(capsys, ledger, "--kind", "threshold", "--limit", "1")
    (row,) = [line for line in text.splitlines() if " UTC " in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells == [
        "2026-03-04 15:30:00 UTC", "threshold", "user:*/day", "ann", "2026-03-04", "100%",
        "$2.00", "$2.00",
    ]  # fmt: skip


def test_json_has_every_field_as_exact_text(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The anomaly (the newest), money and percentages as exact decimal strings."""
    first = json.loads(report(capsys, ledger, "--json"))[0]
    assert first == {
        "at": "2026-03-06T23:59:59+00:00",
        "kind": "anomaly",
        "budget": "",
        "member": "user:bob",
        "period": "2026-03-06T23",
        "threshold_pct": "412.37",
        "spent_usd": "4.123700000001",
        "limit_usd": "1.000000000001",
        "message": "costcap: anomaly: user bob spent $4.12 in the last hour",
        "mode": "",
        "reserved_usd": "0.00",
        "requested_usd": "0.00",
        "projected_usd": None,
        "resets_at": "2026-03-06T23:59:59+00:00",
        "exhausts_at": None,
        "detail": "user bob spent $4.12 in the last hour",
    }


def test_csv_has_a_header_and_a_row_per_alert(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = report(capsys, ledger, "--csv").splitlines()
    assert lines[0].split(",")[:9] == [
        "at", "kind", "budget", "member", "period", "threshold_pct", "spent_usd", "limit_usd",
        "message",
    ]  # fmt: skip
    assert [line.split(",")[1] for line in lines[1:]] == [
        "anomaly", "pacing", "exhausted", "threshold", "threshold"
    ]  # fmt: skip


def test_the_range_is_whole_days_the_end_included(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = report(capsys, ledger, "--since", "2026-03-05", "--until", "2026-03-05", "--json")
    assert [row["kind"] for row in json.loads(text)] == ["pacing", "exhausted"]


def test_the_limit_keeps_the_newest(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = json.loads(report(capsys, ledger, "--limit", "1", "--json"))
    assert [row["kind"] for row in rows] == ["anomaly"]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--kind", "warning"], f"kind must be one of {KINDS}, not 'warning'"),
        (["--limit", "0"], "limit must be 1..10,000, not 0"),
        (["--limit", "10001"], "limit must be 1..10,000, not 10001"),
        (["--since", "last week"], "is not a date"),
        (["--json", "--csv"], "choose one of --json and --csv"),
    ],
)
def test_bad_input_is_one_line(
    ledger: str, capsys: pytest.CaptureFixture[str], options: list[str], says: str
) -> None:
    assert says in error(capsys, ["report", "alerts", "--ledger", ledger, *options])


def test_no_ledger_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'nothing.db'}"
    assert f"no costcap ledger at {url}" in error(capsys, ["report", "alerts", "--ledger", url])
    assert not (tmp_path / "nothing.db").exists()


def test_a_ledger_without_alerts_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = write_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    assert report(capsys, url) == "no alerts in the ledger\n"


def test_an_empty_kind_says_which(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert report(capsys, ledger, "--kind", "oversized") == "no oversized alerts in the ledger\n"


def test_a_ledger_older_than_alerts_has_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    make_older(url, 6, EVENTS[:5])
    assert json.loads(report(capsys, url, "--json")) == []


NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)  # 14.5 of March's 31 days gone


def test_pacing_alert_is_recorded_in_the_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """$9 of a $10 monthly budget spent at noon on the 15th, recorded in the ledger (with the
    50 % and 80 % alerts it fired): at that rate ($9 since yesterday's start, 1.5 days) the
    month ends far over; ``report pacing --alert`` run twice fires once, and the ledger has
    that one pacing alert, at the guard's clock."""
    from costcap import guard_core

    real = guard_core.config_kwargs
    monkeypatch.setattr(
        guard_core, "config_kwargs", lambda path, over: {**real(path, over), "clock": lambda: NOW}
    )
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    config = tmp_path / "costcap.toml"
    config.write_text(
        f'[guard]\nstore = "sqlite:///{tmp_path / "store.db"}"\n[ledger]\nurl = "{url}"\n'
        '[[budgets]]\nscope = "global"\nperiod = "month"\nlimit_usd = "10"\n'
    )
    with Ledger(url) as writer:
        guard = Guard.from_config(config, notifiers=[], observers=[writer], clock=lambda: NOW)
        guard.settle_cost(guard.admit(model="gpt-4o-mini", reserve_usd="9"), "9")
        guard.close()
    argv = ["report", "pacing", "--config", str(config), "--alert", "--csv"]
    assert run(argv) == 0
    assert run(argv) == 0  # the same period: no second alert
    capsys.readouterr()
    rows = json.loads(report(capsys, url, "--json", "--kind", "pacing"))
    assert [(r["at"], r["budget"], r["spent_usd"], r["limit_usd"]) for r in rows] == [
        ("2026-03-15T12:00:00+00:00", "global/month", "9.00", "10.00")
    ]


def test_anomaly_alerts_are_recorded_in_the_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each anomaly ``report anomalies --alert`` fires is in the ledger after, as an anomaly
    alert naming its member."""
    url = write_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    config = tmp_path / "costcap.toml"
    config.write_text(f'[guard]\nstore = "sqlite:///{tmp_path / "store.db"}"\n')
    argv = ["report", "anomalies", "--ledger", url, "--config", str(config), "--json"]
    argv += ["--until", "2026-03-10T12:00Z", "--min-hour", "0.01", "--min-day", "0.05"]
    found = json.loads(out(capsys, [*argv, "--alert"]))
    assert found, "tiny floors flag the test ledger's busiest members"
    rows = json.loads(report(capsys, url, "--json", "--kind", "anomaly"))
    assert sorted(r["member"] for r in rows) == sorted(f"{a['scope']}:{a['member']}" for a in found)


def test_no_alert_fired_opens_no_ledger_writer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--alert`` with nothing to alert writes nothing next to the ledger (no spool)."""
    url = write_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    config = tmp_path / "costcap.toml"
    config.write_text(f'[guard]\nstore = "sqlite:///{tmp_path / "store.db"}"\n')
    argv = ["report", "anomalies", "--ledger", url, "--config", str(config), "--alert", "--json"]
    assert json.loads(out(capsys, [*argv, "--until", "2026-03-10T12:00Z"])) == []
    assert not (tmp_path / "ledger.db.spool").exists()
    sink = open_sink(url)
    try:
        assert sink.query("SELECT COUNT(*) FROM costcap_alerts") == [(0,)]
    finally:
        sink.close()
