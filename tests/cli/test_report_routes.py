"""``costcap report routes``: spend per feature, routing tier and reason, and the cascades, as a
table, JSON and CSV; --cascades alone; a ledger before routing is one line. (The figures are
worked out in tests/reports/test_routes.py; here, that the command shows them.)"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from costcap.ledger import open_sink
from costcap.reports import CASCADE_ASSUMPTION
from tests.cli.helpers import error, out
from tests.ledger.older import make_older
from tests.reports.test_routes import EVENTS, H1, H2, H3, R2

ROUTES = ["report", "routes"]


@pytest.fixture(autouse=True)
def no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSTCAP_CONFIG", raising=False)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('routes') / 'ledger.db'}"
    sink = open_sink(url)
    sink.write(EVENTS)
    sink.close()
    return url


def test_json_has_both_sections(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    """routes: one object per feature × tier × reason (null: none), money as decimal text;
    cascades: per feature; and the assumption behind "all upper tier"."""
    data = json.loads(out(capsys, [*ROUTES, "--ledger", ledger, "--json"]))
    assert set(data) == {"routes", "cascades", "cascade_assumption"}
    first = data["routes"][0]
    assert (first["feature"], first["tier"], first["route_reason"]) == ("chat", "complex", "auto")
    assert (first["calls"], first["refused"], Decimal(first["cost_usd"])) == (
        2,
        1,
        R2 * Decimal("1e-12"),
    )
    assert [(r["feature"], r["tier"], r["route_reason"]) for r in data["routes"]][-2] == (
        "legacy", None, None,
    )  # fmt: skip
    assert [(c["feature"], c["cascades"], c["escalations"]) for c in data["cascades"]] == [
        ("faq", 5, 2), ("help", 2, 1), ("search", 1, 0),
    ]  # fmt: skip
    assert data["cascades"][2]["upper_cost_usd"] is None
    assert data["cascade_assumption"] == CASCADE_ASSUMPTION


def test_csv_is_the_routes(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = out(capsys, [*ROUTES, "--ledger", ledger, "--csv", "--feature", "help"])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["tier"], r["route_reason"], r["calls"]) for r in rows] == [
        ("complex", "cascade", "1"), ("simple", "cascade", "2"),
    ]  # fmt: skip


def test_csv_of_the_cascades(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = out(capsys, [*ROUTES, "--ledger", ledger, "--csv", "--cascades", "--feature", "help"])
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert (row["feature"], row["cascades"], row["escalation_rate"]) == ("help", "2", "0.50")
    assert Decimal(row["cost_usd"]) == (H1 + H2 + H3) * Decimal("1e-12")


def test_json_of_the_cascades_alone(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(out(capsys, [*ROUTES, "--ledger", ledger, "--json", "--cascades"]))
    assert set(data) == {"cascades", "cascade_assumption"}


def test_the_table_shows_both_sections(
    ledger: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    text = out(capsys, [*ROUTES, "--ledger", ledger])
    assert "spend by routing tier and reason · all time" in text
    assert "│ chat    │ complex │ auto     │     2 │" in text
    assert "│ legacy  │ -       │ -        │" in text
    assert "cascades · all time" in text
    assert "│ search  │        1 │         0 │  0.00% │     1 │" in text
    assert " ".join(text.split()).endswith(" ".join(CASCADE_ASSUMPTION.split()))


def test_the_table_of_the_cascades_alone(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = out(capsys, [*ROUTES, "--ledger", ledger, "--cascades"])
    assert "spend by routing tier" not in text
    assert "cascades · all time" in text


def test_no_calls_is_one_line(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert out(capsys, [*ROUTES, "--ledger", ledger, "--user", "zed"]) == (
        "no calls of user=zed in the ledger\n"
    )


def test_a_ledger_before_routing_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_older(url, 5, [e for e in EVENTS if e.cascade_id is None and e.tier is None])
    assert error(capsys, [*ROUTES, "--ledger", url]) == (
        f"costcap: error: the ledger at {url} is schema version 5, which predates routing "
        "(version 6); reports do not migrate it: run a costcap that writes to it (a Ledger) "
        "once to upgrade it\n"
    )
