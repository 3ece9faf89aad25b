"""What the browser tests of the dashboard share: the system Chromium (skipped, or failed in CI,
when missing), a generated ledger, the dashboard served by ``costcap dashboard`` in a process
of its own, the reference figures from ``costcap report … --json``, and the panels as the page
shows them.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from costcap.alerts import Alert
from costcap.guard import Guard
from costcap.ledger import CostEvent, Status, open_sink
from costcap.ledger._fired import FiredAlert
from costcap.pricing import Usage, default_catalog
from tests.dashboard.reference import cli, text
from tests.fired import fired
from tests.waiting import wait_for

CHROMIUM = os.environ.get("COSTCAP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
]
ARTIFACTS = Path(
    os.environ.get(
        "COSTCAP_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
    )
)


def require_chromium() -> None:
    """Skip (or fail, in CI) unless the playwright package and the system Chromium are here."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"no Chromium at {CHROMIUM}")
    if not missing:
        return
    message = " and ".join(missing)
    if os.environ.get("COSTCAP_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} and COSTCAP_REQUIRE_SERVICES=1")
    pytest.skip(message)


# -- the ledger ------------------------------------------------------------------------------------

FEATURES = ["chat", "search", "summarize", None]  # None: calls recorded without a feature
USERS = [f"user-{i:02d}" for i in range(1, 21)]
MODELS = {
    "gpt-4o-mini": "openai",
    "gpt-4o": "openai",
    "claude-3-5-haiku-latest": "anthropic",
}
REASONS = ["budget user:*/day", "budget global/day", "rate limit 20/minute per user"]
DRAWN: list[Status] = ["ok", "error", "refused"]
DAYS = 10  # days before today with calls
SPIKE_FEATURE = "agent"  # appears only in the last hours, spending far above its (empty) past
SPIKE_USER = "user-07"


def cost_pico(model: str, input_tokens: int, output_tokens: int) -> int:
    """The call's exact price in the catalog costcap prices calls with."""
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    return default_catalog().resolve(model).cost(usage).total_pico


@dataclass
class Calls:
    """Makes events with request ids of their own (``prefix-0``, ``prefix-1``, …)."""

    prefix: str
    count: int = 0

    def event(
        self,
        ts: datetime,
        *,
        model: str,
        user: str | None,
        feature: str | None,
        status: Status = "ok",
        tokens: tuple[int, int] = (0, 0),
        refused_by: str | None = None,
        cache: str | None = None,  # "hit" or "miss": a call of a feature with the cache on
        route: tuple[str, str] | None = None,  # (routing tier, route reason)
    ) -> CostEvent:
        self.count += 1
        price = 0 if status == "refused" else cost_pico(model, *tokens)
        if status == "error":
            price = cost_pico(model, tokens[0], 0)
        hit = cache == "hit"
        return CostEvent(
            request_id=f"{self.prefix}-{self.count}",
            ts=ts,
            status=status,
            model=model,
            provider=MODELS[model],
            user_id=user,
            feature=feature,
            input_tokens=0 if status == "refused" else tokens[0],
            output_tokens=0 if status == "refused" else tokens[1],
            cost_pico=0 if hit else price,
            saved_pico=price if hit else 0,
            cache_hit=hit,
            cache_miss=cache == "miss",
            refused_by=refused_by,
            latency_ms=None if hit or status == "refused" else 800.0,
            tier=route[0] if route else None,
            route_reason=route[1] if route else None,
        )


def make_ledger(now: datetime, seed: int = 7) -> list[CostEvent]:
    """About 450 calls over the ``DAYS`` days before ``now``'s day and that day up to ``now``:
    every feature (and none), twenty users (and anonymous calls), three models of two
    providers, refused and failed calls, cache hits and misses (search has the cache on),
    routed calls (chat), and a spike: ``SPIKE_USER``'s ``SPIKE_FEATURE`` calls over $10 in the
    last hours, with nothing before. No call lies within an hour of ``now - 24h``, so the last
    day's window does not gain or lose one while a test reads it twice."""
    rng = random.Random(seed)
    calls = Calls("call")
    first = datetime.combine(now.date() - timedelta(days=DAYS), datetime.min.time(), UTC)
    span = int((now - timedelta(minutes=5) - first).total_seconds())
    edge = now - timedelta(days=1)
    events: list[CostEvent] = []
    while len(events) < 420:
        ts = first + timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(10**6))
        if abs(ts - edge) < timedelta(hours=1):
            continue
        model = rng.choice(list(MODELS))
        user = rng.choice([*USERS, None])
        feature = rng.choice(FEATURES)
        tokens = (rng.randrange(50, 4000), rng.randrange(0, 1200))
        status = rng.choices(DRAWN, weights=[85, 4, 11])[0]
        if status == "refused":
            events.append(
                calls.event(ts, model=model, user=user, feature=feature, status="refused",
                            refused_by=rng.choice(REASONS))
            )  # fmt: skip
            continue
        cache = rng.choice(["hit", "miss", "miss"]) if feature == "search" else None
        route = None
        if feature == "chat" and rng.random() < 0.6:
            route = rng.choice([("simple", "auto"), ("complex", "auto"), ("complex", "explicit")])
        events.append(
            calls.event(ts, model=model, user=user, feature=feature, status=status,
                        tokens=tokens, cache=cache if status == "ok" else None, route=route)
        )  # fmt: skip
    for i in range(30):  # $0.40 each: $12 in the last hours, none in the last one
        ts = now - timedelta(hours=2, minutes=2 * i)
        events.append(
            calls.event(ts, model="gpt-4o", user=SPIKE_USER, feature=SPIKE_FEATURE,
                        tokens=(120_000, 10_000))
        )  # fmt: skip
    return events


def make_alerts(now: datetime) -> list[FiredAlert]:
    """Alerts the budgets and the anomaly watch fired over the same days: ``SPIKE_USER`` past
    80 % of a $1 daily budget three days ago, the global daily budget exhausted yesterday, and
    the spike two hours ago."""
    midnight = datetime.combine(now.date(), datetime.min.time(), UTC)
    three, one = midnight - timedelta(days=3), midnight - timedelta(days=1)
    spike = now - timedelta(hours=2)
    return [
        fired(1, three + timedelta(hours=15), budget="user:*/day", member=SPIKE_USER,
              period=three.date().isoformat(), spent_usd=Decimal("0.812345"),
              resets_at=three + timedelta(days=1)),
        fired(2, one + timedelta(hours=20, minutes=5), kind="exhausted", budget="global/day",
              period=one.date().isoformat(), threshold_pct=Decimal(100),
              spent_usd=Decimal("0.98"), reserved_usd=Decimal("0.02"), resets_at=midnight),
        fired(3, spike, kind="anomaly", budget="", member=f"user:{SPIKE_USER}", mode="",
              period=spike.strftime("%Y-%m-%dT%H"), threshold_pct=Decimal("120.02"),
              spent_usd=Decimal("12.002"), limit_usd=Decimal(10), resets_at=spike,
              detail=f"user {SPIKE_USER} spent $12.00 in 24 hours"),
    ]  # fmt: skip


CONFIG = """\
[guard]
store = "sqlite:///{store}"

[ledger]
url = "{ledger}"

[[budgets]]
scope = "global"
period = "rolling:24h"
limit_usd = "20"

[[budgets]]
scope = "user:*"
period = "rolling:24h"
limit_usd = "1"
"""
# Spent through the Guard of CONFIG just before the page is read: (user, feature, dollars).
# Under $1 an hour for any user or feature, so no spike of the last hour joins the anomalies;
# rolling windows project what they hold, so their pacing stays put while a test reads it.
GUARD_SPEND = [("user-03", "chat", "0.60"), ("user-11", "summarize", "0.30")]


class _Recorder:
    """A Guard observer writing its events and the alerts it fires straight to the ledger."""

    def __init__(self, url: str) -> None:
        self.sink = open_sink(url)
        self.alerts = 0

    def on_event(self, event: CostEvent) -> None:
        self.sink.write([event])

    def on_alert(self, alert: Alert, at: datetime) -> None:
        self.alerts += 1
        self.sink.write([FiredAlert.of(alert, at=at, alert_id=f"guard-{self.alerts}")])


def plain_config(directory: Path, ledger: str) -> Path:
    """costcap.toml naming only the ledger: the page and the reports read the same file rather
    than whatever ./costcap.toml each one's directory holds."""
    path = directory / "costcap.toml"
    path.write_text(f'[ledger]\nurl = "{ledger}"\n')
    return path


def budgets_config(directory: Path, ledger: str) -> Path:
    """costcap.toml with rolling daily budgets (global $20, $1 per user) over a store in
    ``directory``, and calls of ``GUARD_SPEND`` charged to them by a real Guard: its events and
    the threshold alerts it fires go to the ledger at ``ledger``."""
    path = directory / "costcap.toml"
    path.write_text(CONFIG.format(store=directory / "store.db", ledger=ledger))
    recorder = _Recorder(ledger)
    guard = Guard.from_config(path, notifiers=[], observers=[recorder])
    try:
        for user, feature, usd in GUARD_SPEND:
            admitted = guard.admit(model="gpt-4o-mini", reserve_usd=usd, user_id=user,
                                 feature=feature)  # fmt: skip
            guard.settle_cost(admitted, usd)
    finally:
        guard.close()
        recorder.sink.close()
    assert recorder.alerts, "the Guard fired no alert"
    return path


def write_ledger(url: str, events: Sequence[CostEvent | FiredAlert]) -> None:
    """Record ``events`` (and alerts) in the ledger at ``url`` (its schema made if it has none
    yet)."""
    sink = open_sink(url)
    try:
        sink.write(events)
    finally:
        sink.close()


# -- the reference: costcap report … --json --------------------------------------------------------


# The report behind each panel: its command (and options), where its rows are in the JSON, and
# the key of a row (the page's data-key).
def _joined(*names: str) -> Callable[[dict[str, Any]], str]:
    return lambda row: "|".join(text(row[n]) for n in names)


@dataclass(frozen=True)
class Panel:
    name: str
    report: str  # costcap report REPORT
    key: Callable[[dict[str, Any]], str]
    rows_at: str | None = None  # the rows are this member of the JSON object
    filters: tuple[str, ...] = ("since", "until", "feature", "user", "model")  # its options
    # Instants of the reading itself (the report is "as of now"): two reads a moment apart
    # differ in them, and the page does not show them.
    moving: tuple[str, ...] = ()


_NOW = ("feature", "user", "model")  # the options of a report as of now (no range)
PANELS = {
    p.name: p
    for p in [
        Panel("time", "time", _joined("start")),
        Panel("features", "features", _joined("feature")),
        Panel("users", "users", _joined("user")),
        Panel("models", "models", _joined("model")),
        Panel("refused", "refused", _joined("reason")),
        Panel("cache", "cache", _joined("feature")),
        Panel("routes", "routes", _joined("feature", "tier", "route_reason"), "routes"),
        Panel("budgets", "pacing", _joined("budget", "member"), filters=_NOW,
              moving=("at", "start")),
        Panel("alerts", "alerts", _joined("at", "budget"), filters=("since", "until")),
        Panel("anomalies", "anomalies", _joined("kind", "member"), filters=_NOW,
              moving=("at",)),
    ]
}  # fmt: skip
ALL_PANELS = (
    "time", "features", "users", "models", "budgets", "alerts", "refused", "cache", "routes",
    "anomalies",
)  # fmt: skip


def report_args(panel: str, served: Dashboard, query: dict[str, str]) -> list[str]:
    """``costcap report …`` for ``panel`` with the page's ``query`` as its options, over the
    ledger and costcap.toml the dashboard was started with."""
    spec = PANELS[panel]
    argv = ["report", spec.report, "--ledger", served.ledger, "--config", str(served.config)]
    argv.append("--json")
    for name in spec.filters:
        if name in query:
            argv += [f"--{name}", query[name]]
    if panel == "time":
        argv += ["--granularity", query.get("granularity", "day")]
    return argv


def report_json(panel: str, served: Dashboard, query: dict[str, str]) -> Any:
    return json.loads(cli(report_args(panel, served, query)))


def report_rows(panel: str, served: Dashboard, query: dict[str, str]) -> list[dict[str, Any]]:
    """The rows of the report behind ``panel``, as ``--json`` prints them."""
    data = report_json(panel, served, query)
    rows_at = PANELS[panel].rows_at
    rows: list[dict[str, Any]] = data[rows_at] if rows_at else data
    return rows


# -- the page --------------------------------------------------------------------------------------

# Every row of every panel: its data-key and each cell's data-field → [data-value, shown text].
READ_PANELS = """() => {
  const panels = {};
  for (const section of document.querySelectorAll('section.panel[data-panel]')) {
    panels[section.dataset.panel] = [...section.querySelectorAll('tr[data-row]')].map(tr => ({
      key: tr.getAttribute('data-key'),
      cells: Object.fromEntries([...tr.querySelectorAll('td[data-field]')].map(
        td => [td.dataset.field, [td.getAttribute('data-value'), td.textContent.trim()]])),
    }));
  }
  return panels;
}"""


@dataclass(frozen=True)
class Row:
    key: str | None
    cells: dict[str, tuple[str | None, str]]  # field → (data-value, the text shown)


def rows_of(shown: Any) -> dict[str, list[Row]]:
    """The result of ``READ_PANELS`` as rows."""
    return {
        name: [Row(r["key"], {f: (v[0], v[1]) for f, v in r["cells"].items()}) for r in rows]
        for name, rows in shown.items()
    }


def mismatches(panel: str, shown: list[Row], expected: list[dict[str, Any]]) -> list[str]:
    """How the rows a panel shows differ from the report's rows: a row shown that the report
    lacks or the reverse (by key), a field whose value differs, a field the report has not,
    a value shown without text. Empty when they agree."""
    spec = PANELS[panel]
    by_key = {spec.key(r): r for r in expected}
    problems = []
    keys = [r.key for r in shown]
    if sorted(k or "" for k in keys) != sorted(by_key):
        problems.append(f"{panel}: keys {keys} shown, the report has {list(by_key)}")
    for row in shown:
        want = by_key.get(row.key or "")
        if want is None:
            continue
        if not row.cells:
            problems.append(f"{panel} {row.key!r}: no cell with data-field")
        for field, (value, shown_text) in row.cells.items():
            if field not in want:
                problems.append(f"{panel} {row.key!r}: {field} is not in the report's rows")
            elif value != text(want[field]):
                problems.append(
                    f"{panel} {row.key!r}: {field} {value!r}, the report says {want[field]!r}"
                )
            elif value and not shown_text:
                problems.append(f"{panel} {row.key!r}: {field} {value!r} is not shown")
    return problems


# -- the server ------------------------------------------------------------------------------------


@dataclass
class Dashboard:
    url: str  # http://127.0.0.1:PORT/
    ledger: str
    config: Path
    log: Path  # what the server wrote


@contextlib.contextmanager
def dashboard(ledger: str, config: Path, *, refresh: int = 1) -> Iterator[Dashboard]:
    """``costcap dashboard`` over ``ledger`` and ``config`` on a port the system picks, as its
    users start it (in the directory of ``config``), once it answers; stopped (and waited
    for) afterwards."""
    log = config.parent / f"dashboard-{os.urandom(4).hex()}.log"
    argv = [sys.executable, "-m", "costcap", "dashboard", "--ledger", ledger,
            "--config", str(config), "--port", "0", "--refresh", str(refresh)]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=config.parent)
    try:
        said: list[str] = []

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"costcap dashboard exited: {log.read_text()}")
            if not said:  # "costcap dashboard on http://127.0.0.1:PORT/ (ledger …); …"
                first = log.read_text().partition("\n")
                if not first[1]:
                    return False
                said.append(first[0].split(" on ", 1)[1].split(" ", 1)[0])
            try:
                return httpx.get(said[0], timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answers, timeout=30)
        yield Dashboard(said[0], ledger, config, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
