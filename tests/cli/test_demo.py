"""``costcap demo`` runs end to end against the fake provider."""

from __future__ import annotations

from pathlib import Path

import pytest

from costcap.cli.app import run


def test_demo_reconciles_with_the_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A short simulated day ends with costcap's spend equal to what the provider billed."""
    assert run(["demo", "--calls", "80", "--users", "6", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "$405.00" in out
    assert "exact to the picodollar" in out
    assert (tmp_path / "costcap.db").exists()


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
