"""The page and its ``panels`` fragment: every panel, each row's data-value equal to ``costcap
report NAME --json`` for the same filters, the totals strip and ``<main>``'s call count, the
filters changing the figures, relative links, and a bad query answered with a 400 page."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from costcap.cli.dashboard import dashboard_app
from costcap.ledger import CostEvent, open_sink
from tests.dashboard.reference import PanelRows, cli_json, panels_of, served, text, written

PANELS = ("time", "features", "users", "models", "budgets", "alerts", "refused", "cache",
          "routes", "anomalies")  # fmt: skip
# The fields joined into each panel's data-key, and where its rows are in the report's JSON.
KEYS = {
    "time": ("start",), "features": ("feature",), "users": ("user",), "models": ("model",),
    "refused": ("reason",), "cache": ("feature",), "routes": ("feature", "tier", "route_reason"),
    "alerts": ("at", "budget"), "anomalies": ("kind", "member"),
}  # fmt: skip
FILTERED = {"since": "2026-03-03", "until": "2026-03-08", "feature": "search"}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    return written(tmp_path_factory, "page")


@pytest.fixture(scope="module")
def client(ledger: str) -> Iterator[TestClient]:
    yield from served(ledger)


def reference(name: str, ledger: str, query: dict[str, str]) -> list[dict[str, Any]]:
    """The rows ``costcap report`` prints for the panel ``name`` with the page's query."""
    spend = {k: v for k, v in query.items() if k in ("since", "until", "user", "feature", "model")}
    if name == "time":
        spend["granularity"] = query.get("granularity", "day")
    if name == "alerts":
        spend = {k: v for k, v in spend.items() if k in ("since", "until")}
    if name == "anomalies":
        spend = {k: v for k, v in spend.items() if k in ("user", "feature", "model")}
    data = cli_json(name, ledger, spend)
    rows: list[dict[str, Any]] = data["routes"] if name == "routes" else data
    return rows


def agree(panel: PanelRows, expected: list[dict[str, Any]], key: tuple[str, ...]) -> None:
    by_key = {"|".join(text(r[f]) for f in key): r for r in expected}
    assert panel.keys == list(by_key)  # every row, in the report's order
    for name, cells in panel.rows.items():
        assert cells  # each row shows fields
        assert cells == {f: text(by_key[name][f]) for f in cells}


@pytest.mark.parametrize("query", [{}, FILTERED, {"granularity": "week", "user": "user-05"}])
def test_every_row_of_every_panel_is_what_the_cli_prints(
    client: TestClient, ledger: str, query: dict[str, str]
) -> None:
    response = client.get("/", params=query)
    assert response.status_code == 200, response.text
    panels, _, _ = panels_of(response.text)
    assert sorted(panels) == sorted(PANELS)
    for name, key in KEYS.items():
        agree(panels[name], reference(name, ledger, query), key)


def test_the_panels_show_rows(client: TestClient) -> None:
    """The comparisons above compare rows: each panel with data in the test ledger has some."""
    panels, _, _ = panels_of(client.get("/").text)
    for name in ("time", "features", "users", "models", "alerts", "refused", "cache", "routes"):
        assert panels[name].rows, name
    assert list(panels["anomalies"].rows) == ["loop|looper"]  # judged now: the loop just now


def test_the_totals_and_the_call_count_are_the_ranges(client: TestClient, ledger: str) -> None:
    _, main, totals = panels_of(client.get("/", params=FILTERED).text)
    buckets = reference("time", ledger, FILTERED)
    assert main["data-calls"] == str(sum(b["calls"] for b in buckets))
    assert totals == {
        "cost_usd": text(sum(Decimal(b["cost_usd"]) for b in buckets)),
        "calls": str(sum(b["calls"] for b in buckets)),
        "refused": str(sum(b["refused"] for b in buckets)),
        "saved_usd": text(sum(Decimal(b["saved_usd"]) for b in buckets)),
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", main["data-refreshed-at"])


def test_filters_change_the_figures(client: TestClient) -> None:
    _, every, _ = panels_of(client.get("/").text)
    panels, search, _ = panels_of(client.get("/", params={"feature": "search"}).text)
    assert int(search["data-calls"]) < int(every["data-calls"])
    assert list(panels["features"].rows) == ["search"]


def test_each_panel_links_its_json_and_csv_with_the_pages_query(client: TestClient) -> None:
    query = urlencode(FILTERED)
    panels, _, _ = panels_of(client.get("/?" + query).text)
    for name, panel in panels.items():
        assert panel.links == {
            "json": f"api/{name}?{query}",
            "csv": f"api/{name}?{query}&format=csv",
        }
        assert client.get(panel.links["json"]).status_code in (200, 404)  # 404: budgets


def test_the_time_and_features_panels_have_charts(client: TestClient) -> None:
    panels, _, _ = panels_of(client.get("/", params={"stack": "model"}).text)
    assert panels["time"].svg == 1
    assert panels["features"].svg == 1


def test_the_panels_fragment_is_the_pages_main(client: TestClient) -> None:
    page = client.get("/", params=FILTERED).text
    fragment = client.get("/panels", params=FILTERED)
    assert fragment.status_code == 200
    inner = re.search(r'<main id="panels"[^>]*>(.*)</main>', page, re.S)
    assert inner is not None
    assert fragment.text == inner[1]
    _, main, _ = panels_of(page)
    assert fragment.headers["x-costcap-calls"] == main["data-calls"]
    assert "x-costcap-refreshed-at" in fragment.headers


def test_budgets_without_costcap_toml_say_how_to_get_them(client: TestClient) -> None:
    panels, _, _ = panels_of(client.get("/").text)
    assert "costcap dashboard --config costcap.toml" in panels["budgets"].error


def test_the_filter_form_names_the_pages_parameters(client: TestClient) -> None:
    page = client.get("/", params={"user": "user-05"}).text
    form = re.search(r'<form id="filters" method="get".*?</form>', page, re.S)
    assert form is not None
    names = re.findall(r'<(?:input|select)[^>]* name="([^"]+)"', form[0])
    assert names == ["since", "until", "feature", "user", "model", "granularity", "stack"]
    assert 'name="user" value="user-05"' in form[0]


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ({"days": "7"}, "'days'"),
        ({"since": "2026-13-01"}, "since"),
        ({"granularity": "year"}, "granularity"),
        ({"stack": "key"}, "stack"),
    ],
)
def test_a_bad_query_is_a_400_page_saying_what_is_wrong(
    client: TestClient, query: dict[str, str], said: str
) -> None:
    for path in ("/", "/panels"):
        response = client.get(path, params=query)
        assert response.status_code == 400
        assert said in html.unescape(response.text)
        assert "Traceback" not in response.text
    page = client.get("/", params={"days": "7"}).text
    for allowed in ("since", "until", "feature", "user", "model", "granularity", "stack"):
        assert allowed in page


def test_text_from_the_ledger_is_escaped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    sink = open_sink(url)
    sink.write([
        CostEvent(request_id="x", ts=datetime(2026, 3, 1, tzinfo=UTC), status="ok",
                  model="gpt-4o", feature='<script>alert("x")</script>', user_id="a&b",
                  input_tokens=1, output_tokens=1, cost_pico=10**9)
    ])  # fmt: skip
    sink.close()
    with TestClient(dashboard_app(url, None, refresh=0, password=None)) as client:
        page = client.get("/").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    panels, _, _ = panels_of(page)
    assert list(panels["features"].rows) == ['<script>alert("x")</script>']
    assert list(panels["users"].rows) == ["a&b"]


def test_without_matplotlib_the_charts_say_how_to_get_them(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from costcap._extras import missing_extra
    from costcap.charts import _figure

    def missing() -> None:
        raise missing_extra(extra="dashboard", what="charts")

    monkeypatch.setattr(_figure, "_import_matplotlib", missing)
    page = client.get("/", params={"stack": "user", "granularity": "month"}).text  # not drawn yet
    panels, _, _ = panels_of(page)
    assert panels["time"].svg == 0
    assert panels["time"].rows  # the figures are all there
    assert "charts needs: pip install 'costcap[dashboard]'" in html.unescape(page)


def test_a_panel_that_fails_says_so_and_the_others_are_shown(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from costcap.reports import Reports

    def broken(self: Reports, **options: object) -> None:
        raise RuntimeError("a bug in the report")

    monkeypatch.setattr(Reports, "refused", broken)
    response = client.get("/")
    assert response.status_code == 200
    panels, _, _ = panels_of(response.text)
    assert "see the dashboard's log" in panels["refused"].error
    assert not panels["refused"].rows
    assert panels["features"].rows
    assert "a bug in the report" not in response.text
    assert "a bug in the report" in caplog.text  # logged in full
