"""The dashboard in a real browser: headless Chromium (the system's) driven by Playwright
against ``costcap dashboard`` serving a generated ledger.

The rows of every panel, the totals and the cost-per-user figures are checked against
``costcap report NAME --json`` over the same ledger and filters. Every test runs in a fresh
browser context that lets requests to the dashboard through and aborts (and records) any
other; a JavaScript error or an error on the console fails the test.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest

from tests.dashboard.browser import (
    ALL_PANELS,
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    PANELS,
    READ_PANELS,
    Calls,
    Dashboard,
    Row,
    budgets_config,
    dashboard,
    make_alerts,
    make_ledger,
    mismatches,
    plain_config,
    report_args,
    report_rows,
    require_chromium,
    rows_of,
    write_ledger,
)
from tests.dashboard.reference import cli, text
from tests.waiting import wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route

pytestmark = pytest.mark.slow

DEADLINE_MS = 15_000  # a refresh every second: a busy machine gets this long to show one


@pytest.fixture(scope="module", autouse=True)
def chromium() -> None:
    """Before anything is built: skip (or fail, in CI) without the browser."""
    require_chromium()


@dataclass
class Ledger:
    url: str
    config: Path
    now: datetime


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """The generated ledger, and costcap.toml with budgets a Guard has spent from."""
    directory = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{directory / 'ledger.db'}"
    now = datetime.now(UTC)
    write_ledger(url, [*make_ledger(now), *make_alerts(now)])
    return Ledger(url, budgets_config(directory, url), now)


@pytest.fixture(scope="module")
def served(ledger: Ledger) -> Iterator[Dashboard]:
    with dashboard(ledger.url, ledger.config) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Tab:
    """A page in a browser context of its own: the requests it let through and those it
    stopped, and the errors the page raised or logged."""

    page: Page
    origin: str
    passed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def route(self, route: Route, request: Request) -> None:
        parts = urlsplit(request.url)
        if f"{parts.scheme}://{parts.netloc}" == self.origin:
            self.passed.append(request.url)
            route.continue_()
        else:
            self.blocked.append(request.url)
            route.abort()

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def visit(self, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None
        assert response.status == 200, response.text()

    def panels(self) -> dict[str, list[Row]]:
        """Every panel's rows as the page shows them now."""
        return rows_of(self.page.evaluate(READ_PANELS))

    def query(self) -> dict[str, str]:
        """The filters of the page's URL (those the form left empty are not filters)."""
        return {k: v for k, v in parse_qsl(urlsplit(self.page.url).query) if v}

    def main(self, name: str) -> str | None:
        """An attribute of ``<main id="panels">`` (``calls``: ``data-calls``)."""
        return self.page.locator("main#panels").get_attribute(f"data-{name}")


@contextmanager
def opened(browser: Browser, served: Dashboard) -> Iterator[Tab]:
    """A new context and page on ``served``; its errors fail the test when it closes."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        parts = urlsplit(served.url)
        tab = Tab(context.new_page(), f"{parts.scheme}://{parts.netloc}")
        context.route("**/*", tab.route)
        tab.page.on("console", tab.console)
        tab.page.on("pageerror", lambda error: tab.errors.append(f"pageerror: {error}"))
        tab.page.set_default_timeout(DEADLINE_MS)
        yield tab
    finally:
        context.close()
    assert tab.errors == [], f"the page had errors: {tab.errors}"


@pytest.fixture
def tab(browser: Browser, served: Dashboard) -> Iterator[Tab]:
    with opened(browser, served) as page:
        yield page


def check_panels(tab: Tab, served: Dashboard, query: dict[str, str], names: list[str]) -> None:
    """The rows of the panels ``names`` are the rows of their reports for ``query``."""
    shown = tab.panels()
    problems = [
        problem
        for name in names
        for problem in mismatches(name, shown[name], report_rows(name, served, query))
    ]
    assert problems == [], "\n".join(problems)


def submit_filters(tab: Tab, values: dict[str, str]) -> None:
    """Set the filters in the form as a user would and send it; waits for the new page."""
    form = tab.page.locator("form#filters")
    for name, value in values.items():
        control = form.locator(f"[name={name}]")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    with tab.page.expect_navigation():
        form.locator("[type=submit]").click()


def changed(tab: Tab, name: str, old: str | None) -> None:
    """Wait until the live refresh has changed ``main``'s ``data-NAME`` from ``old``."""
    # Polled from here, not with page.wait_for_function: older Playwright (1.49) evaluates a
    # string predicate with eval() inside the page, which the dashboard's CSP forbids.
    wait_for(lambda: tab.main(name) != old, timeout=30)


# -- tests -----------------------------------------------------------------------------------------


def test_every_panel_renders(tab: Tab, served: Dashboard) -> None:
    tab.visit(served.url)
    names = tab.page.locator("main#panels section.panel").evaluate_all(
        "sections => sections.map(s => s.dataset.panel)"
    )
    assert sorted(names) == sorted(ALL_PANELS)
    problems = tab.page.locator("main#panels [role=alert], main#panels .error").all_inner_texts()
    assert problems == []
    body = tab.page.inner_text("body")
    assert not [sign for sign in ("Traceback", "Internal Server Error") if sign in body]
    for name in ("time", "features"):
        assert tab.page.locator(f'section[data-panel="{name}"] svg').count() >= 1, name


def test_panels_show_what_the_reports_say(tab: Tab, served: Dashboard) -> None:
    tab.visit(served.url)
    empty = [name for name, rows in tab.panels().items() if not rows]
    assert empty == [], "the generated ledger has rows for every panel"
    check_panels(tab, served, {}, list(PANELS))


def test_totals_are_the_sums_of_the_time_report(tab: Tab, served: Dashboard) -> None:
    tab.visit(served.url)
    shown = tab.page.locator("[data-total]").evaluate_all(
        "totals => Object.fromEntries(totals.map(t => [t.dataset.total, t.dataset.value]))"
    )
    time = report_rows("time", served, {})
    sums = {
        n: sum(Decimal(r[n]) for r in time) for n in ("calls", "refused", "cost_usd", "saved_usd")
    }
    assert {n: Decimal(v) for n, v in shown.items()} == sums
    assert tab.main("calls") == str(sums["calls"])


def test_cost_per_user_is_what_the_report_says(tab: Tab, served: Dashboard) -> None:
    tab.visit(served.url)
    shown = tab.page.locator('[data-panel="users"] [data-per-user] [data-field]').evaluate_all(
        "cells => Object.fromEntries(cells.map(c => [c.dataset.field, c.dataset.value]))"
    )
    argv = ["report", "per-user", "--ledger", served.ledger, "--config", str(served.config)]
    figures = json.loads(cli([*argv, "--json"]))
    assert len(shown) >= 5
    assert shown == {name: text(figures[name]) for name in shown}


def _day(now: datetime, days_ago: int) -> str:
    return (now - timedelta(days=days_ago)).date().isoformat()


FILTERED: dict[str, Callable[[datetime], dict[str, str]]] = {
    "feature": lambda now: {"feature": "search"},
    "user": lambda now: {"user": "user-03"},
    "model": lambda now: {"model": "claude-3-5-haiku-latest"},
    "range": lambda now: {"since": _day(now, 7), "until": _day(now, 3)},
    "week": lambda now: {"granularity": "week"},
}


@pytest.mark.parametrize("case", list(FILTERED))
def test_filters_change_the_panels(tab: Tab, served: Dashboard, ledger: Ledger, case: str) -> None:
    values = FILTERED[case](ledger.now)
    tab.visit(served.url)
    before = tab.panels()
    submit_filters(tab, values)
    query = tab.query()
    assert {k: query.get(k) for k in values} == values
    after = tab.panels()
    watched = "time" if case == "week" else "features"
    assert after[watched] != before[watched], f"{watched} did not change"
    assert mismatches(watched, after[watched], report_rows(watched, served, {})) != []
    # the anomalies are judged at the end of the range: the CLI takes an instant, not a date
    names = [n for n in PANELS if not (n == "anomalies" and "until" in query)]
    check_panels(tab, served, query, names)


def test_live_refresh_shows_new_calls(browser: Browser, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    now = datetime.now(UTC)
    write_ledger(url, make_ledger(now, seed=11)[:60])
    with (
        dashboard(url, plain_config(tmp_path, url), refresh=1) as served,
        opened(browser, served) as tab,
    ):
        tab.visit(served.url)
        calls = tab.main("calls")
        assert calls is not None
        tab.page.evaluate("window.loadedOnce = 'still here'")
        loaded_at = tab.page.evaluate("performance.timeOrigin")
        new = Calls("live")
        write_ledger(url, [
            new.event(now - timedelta(seconds=30 - i), model="gpt-4o", user="user-02",
                      feature="chat", tokens=(1000, 500))
            for i in range(7)
        ])  # fmt: skip
        changed(tab, "calls", calls)
        assert tab.page.evaluate("window.loadedOnce") == "still here", "the page was reloaded"
        assert tab.page.evaluate("performance.timeOrigin") == loaded_at, "a new document"
        assert tab.main("calls") == str(int(calls) + 7)
        time = report_rows("time", served, {})
        assert tab.main("calls") == str(sum(r["calls"] for r in time))
        spend = tab.page.locator('[data-total="cost_usd"]').get_attribute("data-value")
        assert Decimal(spend or "NaN") == sum(Decimal(r["cost_usd"]) for r in time)
        check_panels(tab, served, {}, ["time", "features", "users", "models"])


def test_no_request_leaves_the_machine(tab: Tab, served: Dashboard) -> None:
    tab.visit(served.url)
    submit_filters(tab, {"feature": "chat"})
    changed(tab, "refreshed-at", tab.main("refreshed-at"))
    refreshes = [u for u in tab.passed if "/panels?" in u and "feature=chat" in u]
    assert refreshes, f"no refresh of the filtered panels went through: {tab.passed}"
    assert tab.blocked == []


def _link(tab: Tab, panel: str, fmt: str) -> str:
    href = tab.page.locator(f'section[data-panel="{panel}"] a[data-format="{fmt}"]').get_attribute(
        "href"
    )
    assert href is not None
    assert not href.startswith(("/", "http:", "https:")), f"{href} is not relative"
    return urljoin(tab.page.url, href)


def same_answer(panel: str, got: Any, want: Any) -> None:
    """``got`` is ``want`` but for the instants of the reading in its rows (``Panel.moving``),
    which may differ by the moment between the two reads."""
    moving = PANELS[panel].moving
    if not moving:
        assert got == want, panel
        return
    settled = [[{k: v for k, v in r.items() if k not in moving} for r in x] for x in (got, want)]
    assert settled[0] == settled[1], panel
    for row, other in zip(got, want, strict=True):
        for name in moving:
            apart = datetime.fromisoformat(row[name]) - datetime.fromisoformat(other[name])
            assert abs(apart) < timedelta(minutes=1), (panel, name, row[name], other[name])


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_panel_links_answer_what_the_cli_prints(tab: Tab, served: Dashboard, fmt: str) -> None:
    tab.visit(served.url + "?feature=chat&granularity=week")
    query = tab.query()
    for panel in PANELS:
        answer = tab.page.request.get(_link(tab, panel, fmt))
        assert answer.status == 200, answer.text()
        argv = report_args(panel, served, query)
        if fmt == "csv":
            argv = [a for a in argv if a != "--json"] + ["--csv"]
        printed = cli(argv)
        if fmt == "csv" and not PANELS[panel].moving:
            assert answer.text() == printed, panel
        elif fmt == "json":
            same_answer(panel, answer.json(), json.loads(printed))
        else:
            assert answer.text().partition("\n")[0] == printed.partition("\n")[0], panel
            got, want = (list(csv.DictReader(io.StringIO(t))) for t in (answer.text(), printed))
            same_answer(panel, got, want)


def test_an_unknown_filter_is_a_readable_400(tab: Tab, served: Dashboard) -> None:
    response = tab.page.goto(served.url + "?colour=red")
    assert response is not None
    assert response.status == 400
    message = tab.page.inner_text("body")
    assert "colour" in message
    assert all(name in message for name in ("since", "feature", "granularity", "stack"))
    # Chromium logs the status of a page answered 400 as an error: that one is expected here.
    tab.errors[:] = [e for e in tab.errors if "status of 400" not in e]


def test_screenshot_is_not_blank(tab: Tab, served: Dashboard) -> None:
    from PIL import Image

    tab.visit(served.url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "dashboard.png"
    tab.page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as shot:
        image = shot.convert("RGB")
    width, height = image.size
    assert width >= 1000
    assert height >= 900
    colours: Any = image.getcolors(maxcolors=width * height)
    assert colours is not None
    assert len(colours) >= 128, f"{len(colours)} colours: hardly anything drawn"
    background = max(colours)[0]
    share = 1 - background / (width * height)
    assert share >= 0.1, f"only {share:.1%} of the page differs from its background"
