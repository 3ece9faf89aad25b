"""``/admin/reports/{name}`` and ``/admin/usage``: each report answers what ``costcap report
NAME --json`` prints for the same ledger and options — a ledger filled by real calls through
the gateway, and the reports' hand-built test ledger; bad options 400, no ledger 404; a slow
report never holds the proxy up."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from costcap.gateway import create_app, load_settings
from costcap.ledger import open_sink
from costcap.reports import Reports
from costcap.testing import run_fake_provider
from costcap.testing._server import serve_asgi
from tests.gateway._admin import ADMIN_KEY, ask, call, cli_json, error, refused
from tests.gateway.conftest import GatewayFactory, RunningGateway, gateway_toml
from tests.reports.ledger import EVENTS

TODAY = datetime.now(UTC).date().isoformat()
SOON = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
LOOPS = {"loop-calls": "2", "loop-minutes": "60", "until": SOON}
# Options of the pacing rows that do not move with the clock between two reads.
STEADY = ("budget", "member", "mode", "period", "bucket", "resets_at", "limit_usd", "spent_usd",
          "reserved_usd", "rate_from", "alert_period")  # fmt: skip


@pytest.fixture
def filled(gateway_factory: GatewayFactory) -> RunningGateway:
    """A gateway whose ledger holds real calls: two users, three features, three models, a
    refusal, the same prompt repeated (a loop)."""
    gw = gateway_factory(
        budgets='[[budgets]]\nscope = "global"\nperiod = "day"\nlimit_usd = 10\n'
        '[[budgets]]\nscope = "user:*"\nperiod = "day"\nlimit_usd = 2\n'
    )
    alice, bob = gw.key(user="alice", feature="chat"), gw.key(user="bob", feature="search")
    call(gw, alice)
    call(gw, alice)
    call(gw, alice, model="gpt-4o")
    call(gw, bob)
    sdk = anthropic.Anthropic(base_url=gw.base, api_key=gw.key(user="bob", feature="summarize"))
    sdk.messages.create(
        model="claude-3-5-haiku-latest", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    sdk.close()
    refused(gw, gw.key(user="carol", feature="chat", budgets=("$0.000001/day",)))
    gw.flush_ledger()
    return gw


def cli_report(
    capsys: pytest.CaptureFixture[str], gw: RunningGateway, name: str, options: dict[str, str]
) -> Any:
    """``costcap report NAME --OPTION VALUE… --json`` over the gateway's ledger and config."""
    argv = ["report", name, "--ledger", gw.ledger_url, "--config", str(gw.config)]
    for option, value in options.items():
        argv += [f"--{option}"] if value == "true" else [f"--{option}", value]
    return cli_json(capsys, argv)


CASES = [
    ("features", {}),
    ("features", {"user": "alice"}),
    ("users", {}),
    ("users", {"limit": "1", "feature": "chat"}),
    ("per-user", {}),
    ("per-user", {"since": TODAY}),
    ("models", {}),
    ("models", {"by-tier": "true", "model": "gpt-4o"}),
    ("time", {}),
    ("time", {"granularity": "week", "since": "2026-01-01", "until": TODAY}),
    ("cache", {}),
    ("cache", {"useful-hit-rate": "0.5", "advice-after-calls": "2"}),
    ("refused", {}),
    ("routes", {}),
    ("routes", {"cascades": "true"}),
    ("anomalies", {"until": SOON}),
    ("anomalies", {**LOOPS, "k": "2", "min-hour": "0", "min-day": "0"}),
]


@pytest.mark.parametrize(("name", "options"), CASES)
def test_a_report_answers_what_the_cli_prints_as_json(
    filled: RunningGateway,
    capsys: pytest.CaptureFixture[str],
    name: str,
    options: dict[str, str],
) -> None:
    response = ask(filled, "GET", f"/reports/{name}", params=options)
    assert response.status_code == 200, response.text
    assert response.json() == cli_report(capsys, filled, name, options)


def test_the_reports_of_real_calls_are_not_empty(filled: RunningGateway) -> None:
    """The comparisons above compare something: calls, users, refusals and a loop."""
    answer = {
        name: ask(filled, "GET", f"/reports/{name}", params=options).json()
        for name, options in (("users", {}), ("refused", {}), ("anomalies", LOOPS))
    }
    assert [u["user"] for u in answer["users"]] == ["alice", "bob", "carol"]
    assert answer["refused"][0]["calls"] == 1
    assert any(a["kind"] == "loop" for a in answer["anomalies"])


def test_pacing_answers_the_cli_rows(
    filled: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every field but those the clock moves between two reads (burn rate, projection)."""
    answer = ask(filled, "GET", "/reports/pacing").json()
    expected = cli_report(capsys, filled, "pacing", {})
    assert {r["member"] for r in answer} == {"", "alice", "bob", "carol"}
    assert [{k: r[k] for k in STEADY} for r in answer] == [
        {k: r[k] for k in STEADY} for r in expected
    ]


def test_pacing_of_one_user_answers_the_cli_rows(
    filled: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = ask(filled, "GET", "/reports/pacing", params={"user": "bob"}).json()
    expected = cli_report(capsys, filled, "pacing", {"user": "bob"})
    assert [r["member"] for r in answer] == ["", "bob"]
    assert [{k: r[k] for k in STEADY} for r in answer] == [
        {k: r[k] for k in STEADY} for r in expected
    ]


@pytest.fixture
def hand_built(gateway_factory: GatewayFactory, tmp_path: Path) -> RunningGateway:
    """A gateway over the reports' test ledger: ten days of March 2026, hundreds of calls."""
    sink = open_sink(f"sqlite:///{tmp_path / 'ledger.db'}")
    sink.write(EVENTS)
    sink.close()
    return gateway_factory()


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("features", {"since": "2026-03-02", "until": "2026-03-08T12:00Z"}),
        ("users", {"limit": "5"}),
        ("per-user", {"feature": "chat"}),
        ("models", {"by-tier": "true"}),
        ("time", {"granularity": "day", "since": "2026-03-01", "until": "2026-03-10"}),
        ("cache", {}),
        ("refused", {"model": "gpt-4o"}),
        ("routes", {}),
        ("anomalies", {"until": "2026-03-10T12:00Z", "k": "1", "min-hour": "0"}),
    ],
)
def test_a_report_of_a_large_ledger_answers_what_the_cli_prints(
    hand_built: RunningGateway,
    capsys: pytest.CaptureFixture[str],
    name: str,
    options: dict[str, str],
) -> None:
    answer = ask(hand_built, "GET", f"/reports/{name}", params=options).json()
    assert answer == cli_report(capsys, hand_built, name, options)
    assert answer  # something to compare


@pytest.mark.parametrize(("by", "report"), [("user", "users"), ("feature", "features"),
                                            ("model", "models")])  # fmt: skip
def test_usage_by_answers_the_reports_rows(
    filled: RunningGateway, capsys: pytest.CaptureFixture[str], by: str, report: str
) -> None:
    """By user: every user (the report's --limit at its most)."""
    answer = ask(filled, "GET", "/usage", params={"by": by, "since": TODAY}).json()
    options = {"since": TODAY, **({"limit": "1000000"} if by == "user" else {})}
    assert answer == {"by": by, "rows": cli_report(capsys, filled, report, options)}


def test_usage_by_user_takes_a_limit(filled: RunningGateway) -> None:
    answer = ask(filled, "GET", "/usage", params={"by": "user", "limit": "1"}).json()
    assert [row["user"] for row in answer["rows"]] == ["alice"]


def test_usage_by_key_is_400_pointing_at_the_key_budgets(filled: RunningGateway) -> None:
    found = error(ask(filled, "GET", "/usage", params={"by": "key"}), 400)
    assert "/admin/budgets?key=" in found["message"]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({}, "by must be one of user, feature, model (got None)"),
        ({"by": "colour"}, "got 'colour'"),
        ({"by": "feature", "limit": "3"}, "limit applies to by=user only"),
    ],
)
def test_usage_refuses_a_bad_by(filled: RunningGateway, params: dict[str, str], says: str) -> None:
    assert says in error(ask(filled, "GET", "/usage", params=params), 400)["message"]


@pytest.mark.parametrize(
    ("name", "params", "says"),
    [
        ("features", {"since": "yesterday"}, "is not a date"),
        ("features", {"since": "2026-03-10", "until": "2026-03-01"}, "2026-03-10"),
        ("features", {"user": ""}, "user must not be empty"),
        ("users", {"limit": "0"}, "limit must be 1..1,000,000 (got 0)"),
        ("users", {"limit": "ten"}, "limit must be a whole number"),
        ("models", {"by-tier": "perhaps"}, "by-tier must be true or false"),
        ("time", {"granularity": "hour"}, "granularity must be one of day, week, month"),
        ("cache", {"useful-hit-rate": "2"}, "must be from 0 to 1"),
        ("anomalies", {"until": "2026-03-05"}, "give an ISO datetime"),
        ("anomalies", {"k": "0"}, "k must be positive"),
        ("anomalies", {"min-hour": "lots"}, "is not a number"),
        ("anomalies", {"loop-calls": "1"}, "loop_calls must be 2"),
        ("pacing", {"since": TODAY}, "unknown query parameter 'since'"),
    ],
)
def test_a_bad_report_option_is_400_saying_why(
    filled: RunningGateway, name: str, params: dict[str, str], says: str
) -> None:
    found = error(ask(filled, "GET", f"/reports/{name}", params=params), 400)
    assert says in found["message"]


def test_options_read_with_underscores_too(filled: RunningGateway) -> None:
    dashed = ask(filled, "GET", "/reports/models", params={"by-tier": "true"}).json()
    assert ask(filled, "GET", "/reports/models", params={"by_tier": "true"}).json() == dashed


def test_an_unknown_report_is_404_listing_the_reports(filled: RunningGateway) -> None:
    found = error(ask(filled, "GET", "/reports/whatever"), 404)
    assert "features, users, per-user, models, time, cache, refused, routes" in found["message"]


def test_reports_without_a_ledger_are_404_saying_to_set_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSTCAP_TEST_ADMIN_KEY", ADMIN_KEY)
    with run_fake_provider() as fp:
        config = tmp_path / "costcap.toml"
        text = gateway_toml(tmp_path, fp)
        config.write_text(text.replace("[ledger]\n", "").replace('url = "sqlite', '# "sqlite'))
        with serve_asgi(create_app(load_settings(config)), lifespan="on") as port:
            response = httpx.get(
                f"http://127.0.0.1:{port}/admin/reports/features",
                headers={"authorization": f"Bearer {ADMIN_KEY}"},
            )
    found = error(response, 404)
    assert "[ledger] url" in found["message"]


def test_a_slow_report_does_not_hold_the_proxy_up(
    filled: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger is read in a worker thread: calls go through while a report waits."""
    entered, release = threading.Event(), threading.Event()
    opened = Reports.open

    def slow_open(url: str) -> Reports:
        entered.set()
        assert release.wait(30)
        return opened(url)

    monkeypatch.setattr(Reports, "open", slow_open)
    answers: list[httpx.Response] = []
    reader = threading.Thread(target=lambda: answers.append(ask(filled, "GET", "/reports/users")))
    reader.start()
    try:
        assert entered.wait(30)
        call(filled, filled.key(user="dave"))  # served while the report waits
    finally:
        release.set()
        reader.join(30)
    assert answers[0].status_code == 200


def test_no_calls_in_the_range_is_an_empty_report(filled: RunningGateway) -> None:
    since = (date.today() + timedelta(days=2)).isoformat()
    assert ask(filled, "GET", "/reports/features", params={"since": since}).json() == []
