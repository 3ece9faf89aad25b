"""``costcap report models --by-tier``: one row per model and service tier in a table, JSON and
CSV; filters; a ledger older than service tiers is one line."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from costcap.ledger import open_sink
from tests.cli.helpers import error, out
from tests.ledger.older import make_older
from tests.reports.ledger import TIERED

MODELS = ["report", "models", "--by-tier"]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite ledger holding the hand-built calls at service tiers."""
    url = f"sqlite:///{tmp_path_factory.mktemp('tiers') / 'ledger.db'}"
    sink = open_sink(url)
    sink.write(TIERED)
    sink.close()
    return url


def test_json_has_the_tier_of_each_row(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each row names its model and tier (null: none recorded), money as exact decimal strings:
    gpt-4o at priority $0.50, at none $0; gpt-4o-mini at priority $0.03, at none $0.02, at flex
    $0.015 (3 answered calls of 4)."""
    rows = json.loads(out(capsys, [*MODELS, "--ledger", ledger, "--json"]))
    assert all(isinstance(r["cost_usd"], str) for r in rows)
    assert [(r["model"], r["service_tier"], Decimal(r["cost_usd"])) for r in rows] == [
        ("gpt-4o", "priority", Decimal("0.5")),
        ("gpt-4o", None, 0),
        ("gpt-4o-mini", "priority", Decimal("0.03")),
        ("gpt-4o-mini", None, Decimal("0.02")),
        ("gpt-4o-mini", "flex", Decimal("0.015")),
    ]
    assert (rows[-1]["calls"], rows[-1]["answered"], rows[-1]["refused"]) == (4, 3, 1)


def test_csv_has_a_service_tier_column(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    """CSV: the models columns plus service_tier, empty where none was recorded."""
    text = out(capsys, [*MODELS, "--ledger", ledger, "--csv", "--model", "gpt-4o"])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["service_tier"], Decimal(r["cost_per_answered_usd"])) for r in rows] == [
        ("priority", Decimal("0.25")),
        ("", 0),
    ]


def test_the_table_shows_a_tier_column(
    ledger: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table heads a tier column after the model; no tier recorded shows as '-'."""
    monkeypatch.setenv("COLUMNS", "200")  # one line per row
    text = out(capsys, [*MODELS, "--ledger", ledger, "--feature", "chat"])
    assert "token efficiency by model and service tier" in text
    assert "│ model       │ tier     │ calls │" in text.replace("┃", "│")
    assert "│ gpt-4o      │ priority │     2 │" in text
    assert "│ gpt-4o-mini │ -        │     2 │" in text
    assert "flex" not in text  # triage only


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--user", "bob"], [("gpt-4o-mini", "flex", 4), ("gpt-4o", None, 1)]),
        (["--since", "2026-03-03"], [("gpt-4o-mini", "flex", 4)]),
        (["--since", "2026-03-03T10:02"], [("gpt-4o-mini", "flex", 2)]),
        (["--user", "alice", "--until", "2026-03-02", "--model", "gpt-4o"],
         [("gpt-4o", "priority", 2)]),
    ],
)  # fmt: skip
def test_filters_and_ranges(
    ledger: str,
    filters: list[str],
    expected: list[tuple[str, str | None, int]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--user (read from the user's events), --model and a date or instant range select the
    calls of each row."""
    rows = json.loads(out(capsys, [*MODELS, "--ledger", ledger, "--json", *filters]))
    assert [(r["model"], r["service_tier"], r["calls"]) for r in rows] == expected


def test_no_calls_is_one_line(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert out(capsys, [*MODELS, "--ledger", ledger, "--user", "carol"]) == (
        "no calls of user=carol in the ledger\n"
    )


@pytest.mark.parametrize("version", [2, 3])
def test_a_ledger_older_than_tiers_is_one_line(
    tmp_path: Path, version: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ledger of schema 2 or 3 still answers `models`; with --by-tier, exit 2 and one line
    saying it predates service tiers."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    make_older(url, version, TIERED)
    rows = json.loads(out(capsys, ["report", "models", "--ledger", url, "--json"]))
    assert [r["model"] for r in rows] == ["gpt-4o", "gpt-4o-mini"]
    assert error(capsys, [*MODELS, "--ledger", url]) == (
        f"costcap: error: the ledger at {url} is schema version {version}, which predates "
        "service tiers (version 4); reports do not migrate it: run a costcap that writes to it "
        "(a Ledger) once to upgrade it\n"
    )
