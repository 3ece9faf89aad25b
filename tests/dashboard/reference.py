"""What the dashboard's tests share: a ledger written through the real ledger sink with known
calls and alerts, the reference figures (``costcap report … --json`` / ``--csv`` run in
process), and the panels read back out of the page's HTML.

The ledger is the reports' test ledger (:data:`tests.reports.ledger.EVENTS`: ten days of March
2026), the alert history of :data:`tests.fired.HISTORY`, and a runaway loop in the last minutes
(so that the anomalies, judged now, find something).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from starlette.testclient import TestClient

from costcap.cli.app import run
from costcap.ledger import CostEvent, open_sink
from tests.fired import HISTORY
from tests.reports.ledger import EVENTS

__all__ = [
    "BUDGETS",
    "LOOP_USER",
    "PanelRows",
    "cli",
    "cli_json",
    "loop_events",
    "panels_of",
    "served",
    "text",
    "write_ledger",
    "written",
]

LOOP_USER = "looper"
# costcap.toml for the budgets panel: a global daily budget and a monthly one per user.
BUDGETS = """
[guard]
store = "sqlite:///{store}"

[ledger]
url = "{ledger}"

[[budgets]]
scope = "global"
period = "day"
limit_usd = 10

[[budgets]]
scope = "user:*"
period = "month"
limit_usd = 2
"""
# The report behind each panel (``costcap report NAME``) where its name differs.
REPORT_OF = {"budgets": "pacing"}


def loop_events(now: datetime) -> list[CostEvent]:
    """25 calls of one user with one prompt in the five minutes before ``now``: a loop."""
    return [
        CostEvent(
            request_id=f"loop-{i}",
            ts=now - timedelta(minutes=5) + timedelta(seconds=10 * i),
            status="ok",
            model="gpt-4o-mini",
            user_id=LOOP_USER,
            feature="chat",
            input_tokens=100,
            output_tokens=20,
            cost_pico=27_000_000,
            prompt_hash="same-prompt",
        )
        for i in range(25)
    ]


def write_ledger(url: str, *, loop: bool = True) -> None:
    """The test ledger at ``url``: the reports' events, the alert history, and (``loop``) a
    runaway loop just now."""
    sink = open_sink(url)
    try:
        sink.write([*EVENTS, *HISTORY, *(loop_events(datetime.now(UTC)) if loop else [])])
    finally:
        sink.close()


def written(factory: pytest.TempPathFactory, name: str) -> str:
    """The URL of a new SQLite ledger holding the test ledger (:func:`write_ledger`)."""
    url = f"sqlite:///{factory.mktemp(name) / 'ledger.db'}"
    write_ledger(url)
    return url


def served(url: str, *, refresh: int = 5, password: str | None = None) -> Iterator[TestClient]:
    """A client of the app ``costcap dashboard --ledger URL`` serves (for a fixture to yield
    from: its lifespan runs around the test)."""
    from costcap.cli.dashboard import dashboard_app

    with TestClient(dashboard_app(url, None, refresh=refresh, password=password)) as client:
        yield client


def cli(argv: Sequence[str]) -> str:
    """What ``costcap ARGV`` prints (it must succeed)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(list(argv))
    assert code == 0, f"costcap {' '.join(argv)}: {err.getvalue()}"
    return out.getvalue()


def report_argv(name: str, ledger: str, options: Mapping[str, str]) -> list[str]:
    """``costcap report NAME --ledger URL --OPTION VALUE…`` (``true``: a flag)."""
    argv = ["report", REPORT_OF.get(name, name), "--ledger", ledger]
    for option, value in options.items():
        argv += [f"--{option}"] if value == "true" else [f"--{option}", value]
    return argv


def cli_json(name: str, ledger: str, options: Mapping[str, str] | None = None) -> Any:
    """What ``costcap report NAME … --json`` prints, parsed."""
    return json.loads(cli([*report_argv(name, ledger, options or {}), "--json"]))


def text(value: Any) -> str:
    """A JSON value as the page writes it in ``data-value``: null as empty, booleans as JSON
    spells them, the rest as it is."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class PanelRows:
    """One panel as the page shows it: its links and rows (key → field → data-value)."""

    links: dict[str, str] = field(default_factory=dict)  # data-format → href
    rows: dict[str, dict[str, str]] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    svg: int = 0  # charts in it
    error: str = ""


class _Panels(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.panels: dict[str, PanelRows] = {}
        self.main: dict[str, str] = {}
        self.totals: dict[str, str] = {}
        self._panel: PanelRows | None = None
        self._row: dict[str, str] | None = None
        self._error = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "main":
            self.main = a
        elif tag == "section" and "data-panel" in a:
            self._panel = self.panels.setdefault(a["data-panel"], PanelRows())
        elif self._panel is None:
            if "data-total" in a:
                self.totals[a["data-total"]] = a["data-value"]
            return
        elif tag == "a" and "data-format" in a:
            self._panel.links[a["data-format"]] = a["href"]
        elif tag == "tr" and "data-row" in a:
            self._row = self._panel.rows.setdefault(a["data-key"], {})
            self._panel.keys.append(a["data-key"])
        elif tag == "td" and "data-field" in a and self._row is not None:
            self._row[a["data-field"]] = a["data-value"]
        elif tag == "svg":
            self._panel.svg += 1
        elif tag == "p" and "error" in a.get("class", ""):
            self._error = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._panel = None
        elif tag == "tr":
            self._row = None
        elif tag == "p":
            self._error = False

    def handle_data(self, data: str) -> None:
        if self._error and self._panel is not None:
            self._panel.error += data


def panels_of(html: str) -> tuple[dict[str, PanelRows], dict[str, str], dict[str, str]]:
    """The panels of a page (or of the ``panels`` fragment), ``<main>``'s attributes and the
    totals strip (data-total → data-value)."""
    parser = _Panels()
    parser.feed(html)
    return parser.panels, parser.main, parser.totals
