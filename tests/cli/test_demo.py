"""``costcap demo`` runs end to end against the fake provider."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from costcap.cli.app import run

if TYPE_CHECKING:
    from costcap.demo import DayResult


def test_demo_reconciles_with_the_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A short simulated day ends with costcap's spend equal to what the provider billed."""
    assert run(["demo", "--calls", "80", "--users", "6", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "$405.00" in out
    assert "exact to the picodollar" in out
    assert "through the gateway (costcap serve" in out
    assert "the same as the ledger's" in out
    assert (tmp_path / "costcap.db").exists()


def test_demo_ends_with_the_command_that_opens_its_day_in_the_dashboard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --workdir the day's files stay, and the last lines say how to see them."""
    assert run(["demo", "--calls", "20", "--users", "3", "--workdir", str(tmp_path)]) == 0
    tail = capsys.readouterr().out.rstrip().splitlines()[-2:]
    assert tail[0].split() == ["costcap", "dashboard", "--config", str(tmp_path / "costcap.toml")]
    assert tail[1].strip() == "then open http://127.0.0.1:8710/"


def test_the_demo_day_answers_repeated_questions_from_the_cache(tmp_path: Path) -> None:
    """The help-centre feature asks the same few questions at temperature 0: after the first
    asking each is a hit — $0 in the ledger, saving what the first call cost, and no request to
    the provider — so the day's ledger shows hits, savings, and spend that still reconciles."""
    from costcap.demo import simulate_day
    from costcap.reports import Reports

    day = simulate_day(tmp_path, calls=300, users=40, workers=4)
    with Reports.open(day.ledger_url) as reports:
        [faq] = [row for row in reports.cache_use() if row.feature == "faq"]
    assert faq.cache_hits > 0
    assert faq.saved_usd > 0
    assert faq.cache_misses is not None
    assert faq.cache_hits + faq.cache_misses == faq.cacheable
    answered_faq = [o for o in day.outcomes if o.request.feature.name == "faq" and o.status == "ok"]
    assert len(answered_faq) >= faq.cache_hits
    assert day.recorded_pico - day.recorded_cut_pico == (
        day.provider_billed_pico - day.billed_cut_pico
    )


def test_the_demo_day_routes_chat_by_what_its_prompts_ask(tmp_path: Path) -> None:
    """The chat feature asks for ``costcap:auto``: its calls go to every tier of its routes
    (each event with the route name, a tier and a reason), they cost less than the same tokens
    at the top tier, and the day still reconciles with the provider."""
    from costcap.demo import simulate_day
    from costcap.demo._report import routing_saving

    day = simulate_day(tmp_path, calls=200, users=30, workers=4)
    saving = routing_saving(day)
    assert saving.top_model == "claude-opus-4-6"
    assert set(saving.tiers) == {"simple", "complex", "critical"}
    assert 0 < saving.cost_pico < saving.top_pico
    assert day.recorded_pico - day.recorded_cut_pico == (
        day.provider_billed_pico - day.billed_cut_pico
    )


@pytest.fixture(scope="module")
def gateway_day(tmp_path_factory: pytest.TempPathFactory) -> DayResult:
    """A day long enough for the small gateway key to be refused by its budget and its limit."""
    from costcap.demo import simulate_day

    return simulate_day(tmp_path_factory.mktemp("gateway-day"), calls=400, users=40, workers=4)


def test_the_demo_day_sends_other_teams_services_through_the_gateway(
    gateway_day: DayResult,
) -> None:
    """The services not written in Python call ``costcap serve`` with plain HTTP and a virtual
    key each: their calls are in the same ledger, under their key's id and feature; the small
    key is refused during the day — by its own budget (402) and its own limit (429) — and the
    ledger agrees with what the services got back; the day still reconciles with the
    provider, gateway traffic (streams, some abandoned) included."""
    import sqlite3
    from collections import Counter

    from costcap.demo._report import gateway_usage
    from costcap.ledger._sinks import sqlite_path

    day = gateway_day
    assert day.gateway is not None
    keys = day.gateway.keys
    assert set(keys) == {"translate", "enrich"}
    through = [o for o in day.outcomes if o.request.feature.service is not None]
    assert through
    assert all(o.http_status is not None for o in through)
    assert any(o.request.stream and o.status == "ok" for o in through)
    enrich = keys["enrich"].id
    got = Counter((o.request.feature.name, o.http_status, o.refused_by) for o in through)
    assert got["enrich", 402, f"budget key:{enrich}:day"] > 0
    assert got["enrich", 429, f"rate limit key:{enrich}:2 concurrent"] > 0

    with sqlite3.connect(sqlite_path(day.ledger_url)) as db:
        rows = db.execute(
            "SELECT feature, api_key_id, status, stream, COUNT(*) FROM costcap_events "
            "GROUP BY feature, api_key_id, status, stream"
        ).fetchall()
    by_key: Counter[tuple[str, str, bool]] = Counter()
    for feature, key_id, status, stream, n in rows:
        if feature in keys:
            assert key_id == keys[feature].id, (feature, key_id)
            by_key[feature, status, bool(stream)] += n
        else:
            assert key_id is None, (feature, key_id)  # the SDK path has no key
    assert by_key["translate", "ok", True] > 0  # streamed through the gateway

    usage = {u.key.feature: u for u in gateway_usage(day)}
    assert set(usage) == set(keys)
    for feature, use in usage.items():
        sent = [o for o in through if o.request.feature.name == feature]
        assert use.calls == len(sent) == sum(use.statuses.values())
        assert use.answered == use.statuses.get(200, 0) == sum(o.status == "ok" for o in sent)
        assert use.refused == sum(o.status == "refused" for o in sent)
        assert sum(r.calls for r in use.refusals) == use.refused
    small = usage["enrich"]
    assert {r.reason for r in small.refusals} == {
        f"budget key:{enrich}:day",
        f"rate limit key:{enrich}:2 concurrent",
    }
    assert 0 < small.cost_pico <= 20_000 * 10**6  # its $0.02/day, never passed
    assert day.recorded_pico - day.recorded_cut_pico == (
        day.provider_billed_pico - day.billed_cut_pico
    )


def test_the_report_shows_the_gateway_by_key(
    gateway_day: DayResult, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report's gateway part: each key (id, service, feature), its requests and spend, the
    refusals at the gateway by reason, and the HTTP statuses the services got — the same as
    the ledger's."""
    from rich.console import Console

    from costcap.demo._report import render_day

    day = gateway_day
    assert day.gateway is not None
    console = Console(record=True, width=160)
    render_day(console, day)
    capsys.readouterr()
    text = console.export_text()
    assert "through the gateway (costcap serve" in text
    for feature, key in day.gateway.keys.items():
        assert key.id in text
        assert key.service.name in text
        assert feature in text
    assert "refused at the gateway, by reason" in text
    assert f"budget key:{day.gateway.keys['enrich'].id}:day" in text
    assert "402 ×" in text
    assert "the same as the ledger's" in text
