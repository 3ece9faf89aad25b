"""``api/NAME``: each answers byte for byte what ``costcap report NAME --json`` (``--csv``)
prints for the same ledger and options; the page's parameters a report does not take are
ignored, anything else is a 400 naming it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from costcap.cli.dashboard import dashboard_app
from tests.dashboard.reference import BUDGETS, cli, cli_json, report_argv, served, written

RANGE = {"since": "2026-03-02", "until": "2026-03-06"}
CASES = [
    ("features", {}),
    ("features", RANGE),
    ("features", {"user": "user-03", "model": "gpt-4o"}),
    ("users", {}),
    ("users", {"feature": "chat", "limit": "3"}),
    ("per-user", {"since": "2026-03-04"}),
    ("models", {}),
    ("models", {"by-tier": "true", "since": "2026-03-03"}),
    ("time", {}),
    ("time", {"granularity": "week", **RANGE}),
    ("time", {"granularity": "month", "feature": "search"}),
    ("refused", {}),
    ("refused", {"since": "2026-03-08T12:00:00+00:00"}),
    ("cache", {"feature": "chat"}),
    ("cache", {"useful-hit-rate": "0.5", "advice-after-calls": "2"}),
    ("routes", RANGE),
    ("routes", {"cascades": "true"}),
    ("alerts", {}),
    ("alerts", {"since": "2026-03-05", "kind": "pacing"}),
    ("anomalies", {}),
    ("anomalies", {"loop-calls": "5", "loop-minutes": "30", "user": "looper"}),
]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    return written(tmp_path_factory, "api")


@pytest.fixture(scope="module")
def client(ledger: str) -> Iterator[TestClient]:
    yield from served(ledger, refresh=0)


@pytest.mark.parametrize(("name", "options"), CASES)
def test_json_is_what_the_cli_prints(
    client: TestClient, ledger: str, name: str, options: dict[str, str]
) -> None:
    response = client.get(f"/api/{name}", params=options)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.text == cli([*report_argv(name, ledger, options), "--json"])


@pytest.mark.parametrize(("name", "options"), CASES)
def test_csv_is_what_the_cli_prints(
    client: TestClient, ledger: str, name: str, options: dict[str, str]
) -> None:
    response = client.get(f"/api/{name}", params={**options, "format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text == cli([*report_argv(name, ledger, options), "--csv"])


def test_the_reports_compared_are_not_empty(client: TestClient, ledger: str) -> None:
    """The comparisons above compare figures: spend, alerts, a loop."""
    assert len(cli_json("features", ledger)) == 4
    assert len(cli_json("alerts", ledger)) == 5
    loops = cli_json("anomalies", ledger, {"loop-calls": "5"})
    assert [(a["kind"], a["member"]) for a in loops] == [("loop", "looper")]


def test_page_parameters_a_report_does_not_take_are_ignored(
    client: TestClient, ledger: str
) -> None:
    """One query string serves every panel's links: ``stack`` and ``granularity`` mean
    nothing to the features, a range nothing to the anomalies (judged now)."""
    features = client.get("/api/features", params={"stack": "user", "granularity": "week"})
    assert features.json() == cli_json("features", ledger)
    anomalies = client.get("/api/anomalies", params={**RANGE, "loop-calls": "5"})
    assert anomalies.json() == cli_json("anomalies", ledger, {"loop-calls": "5"})


def test_an_empty_parameter_is_as_if_not_given(client: TestClient, ledger: str) -> None:
    """A filter form sends its empty fields."""
    response = client.get("/api/features?since=&user=&feature=&model=")
    assert response.json() == cli_json("features", ledger)


def test_filters_change_the_figures(client: TestClient, ledger: str) -> None:
    every = client.get("/api/features").json()
    chat = client.get("/api/features", params={"feature": "chat"}).json()
    assert chat == cli_json("features", ledger, {"feature": "chat"})
    assert [r["feature"] for r in chat] == ["chat"]
    assert chat[0] == next(r for r in every if r["feature"] == "chat") | {"share_pct": "100.00"}


def test_an_unknown_parameter_is_a_400_naming_it_and_the_allowed_ones(
    client: TestClient,
) -> None:
    response = client.get("/api/features", params={"limit": "3"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "'limit'" in error["message"]
    for allowed in ("since", "until", "user", "feature", "model", "granularity", "stack"):
        assert allowed in error["message"]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"since": "yesterday"}, "since"),
        ({"granularity": "hour"}, "granularity"),
        ({"stack": "key"}, "stack"),
        ({"format": "xml"}, "format"),
        ({"limit": "0"}, "limit"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, None),
    ],
)
def test_a_bad_value_is_a_400_saying_what_is_wrong(
    client: TestClient, query: dict[str, str], param: str | None
) -> None:
    response = client.get("/api/users", params=query)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert error["message"]
    assert "Traceback" not in response.text


def test_a_parameter_given_twice_is_a_400(client: TestClient) -> None:
    response = client.get("/api/features?user=a&user=b")
    assert response.status_code == 400
    assert "given twice" in response.json()["error"]["message"]


def test_an_unknown_panel_is_a_404_listing_them(client: TestClient) -> None:
    response = client.get("/api/nope")
    assert response.status_code == 404
    assert "features" in response.json()["error"]["message"]


def test_budgets_without_costcap_toml_say_how_to_get_them(client: TestClient) -> None:
    response = client.get("/api/budgets")
    assert response.status_code == 404
    assert "--config" in response.json()["error"]["message"]


# The fields of a pacing row that do not move with the clock between two reads.
STEADY = ("budget", "member", "mode", "period", "bucket", "resets_at", "limit_usd", "spent_usd",
          "reserved_usd", "rate_from", "alert_period")  # fmt: skip


def test_budgets_are_what_report_pacing_prints(tmp_path: Path, ledger: str) -> None:
    config = tmp_path / "costcap.toml"
    config.write_text(BUDGETS.format(store=tmp_path / "store.db", ledger=ledger))
    with TestClient(dashboard_app(ledger, config, refresh=0, password=None)) as client:
        shown = client.get("/api/budgets").json()
        csv = client.get("/api/budgets?format=csv").text
    argv = ["report", "pacing", "--config", str(config)]
    expected = json.loads(cli([*argv, "--json"]))
    assert [{k: r[k] for k in STEADY} for r in shown] == [
        {k: r[k] for k in STEADY} for r in expected
    ]
    assert {r["member"] for r in shown} == {"", "looper"}  # the loop spent this month
    header, *lines = csv.splitlines()
    assert header == cli([*argv, "--csv"]).splitlines()[0]
    assert len(lines) == len(expected)
