"""``costcap whatif``: per feature actual, what-if and the difference under --route, --tiers,
--prices and --cache-hit-rate, as a table with its assumptions or as JSON; every bad input one
line, exit 2. Expected dollars are worked out from the catalog's per-token prices (picodollars
per token, checked in tests/reports/test_whatif.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costcap.ledger import CostEvent, open_sink
from tests.cli.helpers import error, out
from tests.ledger.older import make_older

GPT_4O = (2_500_000, 10_000_000)
MINI = (150_000, 600_000)
HAIKU = (1_000_000, 5_000_000)
SONNET = (3_000_000, 15_000_000)
PICO = Decimal("1e-12")
T = datetime(2026, 3, 2, 12, tzinfo=UTC)

W1 = 1000 * GPT_4O[0] + 200 * GPT_4O[1]  # chat, gpt-4o: 4_500_000_000
W2 = 800 * HAIKU[0] + 100 * HAIKU[1]  # faq, tier simple on Haiku: 1_300_000_000
W3 = 400 * SONNET[0] + 40 * SONNET[1]  # faq, tier complex on Sonnet: 1_800_000_000


def _event(
    n: int, feature: str, model: str, tokens: tuple[int, int], cost: int, **more: Any
) -> CostEvent:
    return CostEvent(
        request_id=f"w{n}", ts=T, status="ok", feature=feature, model=model,
        input_tokens=tokens[0], output_tokens=tokens[1], cost_pico=cost, **more,
    )  # fmt: skip


EVENTS = [
    _event(1, "chat", "gpt-4o", (1000, 200), W1),
    _event(2, "faq", "claude-haiku-4-5", (800, 100), W2, tier="simple", route_reason="auto"),
    _event(3, "faq", "claude-sonnet-4-5", (400, 40), W3, tier="complex", route_reason="auto"),
]


def usd(pico: int) -> Decimal:
    return Decimal(pico) * PICO


@pytest.fixture(autouse=True)
def no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No costcap.toml found by default: the bundled prices price the moved calls."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSTCAP_CONFIG", raising=False)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('whatif') / 'ledger.db'}"
    sink = open_sink(url)
    sink.write(EVENTS)
    sink.close()
    return url


def whatif_json(capsys: pytest.CaptureFixture[str], ledger: str, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(out(capsys, ["whatif", "--ledger", ledger, "--json", *args]))
    return data


def rows(data: dict[str, Any]) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    return {
        r["feature"]: (
            Decimal(r["actual_usd"]),
            Decimal(r["whatif_usd"]),
            Decimal(r["difference_usd"]),
        )
        for r in data["rows"]
    }


def test_json_prices_a_moved_feature(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--route chat=gpt-4o-mini: chat's call at mini's prices; faq as it was."""
    data = whatif_json(capsys, ledger, "--route", "chat=gpt-4o-mini")
    mini = 1000 * MINI[0] + 200 * MINI[1]  # 270_000_000
    assert rows(data) == {
        "chat": (usd(W1), usd(mini), usd(mini - W1)),
        "faq": (usd(W2 + W3), usd(W2 + W3), Decimal(0)),
    }
    assert Decimal(data["total"]["whatif_usd"]) == usd(mini + W2 + W3)
    assert data["scenario"] == {
        "routes": {"chat": "gpt-4o-mini"}, "tiers": None, "prices": None, "cache_hit_rate": "0",
    }  # fmt: skip


def test_json_money_is_exact_decimal_text(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = whatif_json(capsys, ledger, "--route", "chat=gpt-4o-mini")
    assert data["rows"][0]["whatif_usd"] == "0.00027"
    assert data["rows"][0]["difference_pct"] == "-94.00"  # 0.27 / 4.5 = 6 %


def test_json_lists_the_token_ratios(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    """faq → gpt-4o: Claude's input × 0.8 (1 / 1.25), for each model the feature had."""
    data = whatif_json(capsys, ledger, "--route", "faq=gpt-4o")
    assert [
        (r["from_model"], r["to_model"], r["ratio"], r["calls"]) for r in data["token_ratios"]
    ] == [
        ("claude-haiku-4-5", "gpt-4o", "0.80", 1),
        ("claude-sonnet-4-5", "gpt-4o", "0.80", 1),
    ]
    faq = (640 * GPT_4O[0] + 100 * GPT_4O[1]) + (320 * GPT_4O[0] + 40 * GPT_4O[1])
    assert rows(data)["faq"][1] == usd(faq)


def test_prices_from_a_file(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--prices: gpt-4o at $2 / $8 per million re-prices chat's call; faq's models keep their
    prices, so their cost."""
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."gpt-4o"]\ninput = 2.0\noutput = 8.0\n')
    data = whatif_json(capsys, ledger, "--prices", str(prices))
    assert rows(data)["chat"][1] == usd(1000 * 2_000_000 + 200 * 8_000_000)
    assert rows(data)["faq"][2] == 0
    assert any(f"[models] of {prices}" in line for line in data["assumptions"])


def test_tiers_from_a_router_table(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--tiers: faq's simple tier to gpt-4o-mini, complex to gpt-4o (input × 0.8); chat, not
    routed, as it was."""
    config = tmp_path / "routes.toml"
    config.write_text('[router.features.faq]\nsimple = "gpt-4o-mini"\ncomplex = "gpt-4o"\n')
    data = whatif_json(capsys, ledger, "--tiers", str(config))
    faq = (640 * MINI[0] + 100 * MINI[1]) + (320 * GPT_4O[0] + 40 * GPT_4O[1])  # 1_356_000_000
    assert rows(data) == {
        "chat": (usd(W1), usd(W1), Decimal(0)),
        "faq": (usd(W2 + W3), usd(faq), usd(faq - W2 - W3)),
    }


def test_a_cache_hit_rate(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--cache-hit-rate 0.25: three quarters of each call's cost."""
    data = whatif_json(capsys, ledger, "--cache-hit-rate", "0.25")
    assert {f: r[1] for f, r in rows(data).items()} == {
        "chat": usd(W1 * 3 // 4), "faq": usd((W2 + W3) * 3 // 4),
    }  # fmt: skip


def test_filters_select_the_calls(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = whatif_json(capsys, ledger, "--route", "chat=gpt-4o-mini", "--feature", "faq")
    assert list(rows(data)) == ["faq"]


def test_the_table_has_a_total_and_the_assumptions(
    ledger: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    text = out(capsys, ["whatif", "--ledger", ledger, "--route", "chat=claude-haiku-4-5"])
    assert "│ feature │ calls │ priced │ moved │" in text.replace("┃", "│")
    assert "│ all     │     3 │      3 │     1 │" in text
    assert "Assumptions:\n- Features moved: chat → claude-haiku-4-5" in text
    assert (
        "- Token ratio gpt-4o (o200k_base) → claude-haiku-4-5 (claude): × 1.25 on input (1 call)."
        in text
    )
    assert "the bundled prices (genai-prices), as in force now" in text


def test_no_calls_is_one_line(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = out(capsys, ["whatif", "--ledger", ledger, "--cache-hit-rate", "0.1", "--user", "zed"])
    assert text == "no calls of user=zed in the ledger\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--route", "chat"], "expected FEATURE=MODEL, such as chat=gpt-4o-mini (got 'chat')"),
        (["--route", "=gpt-4o"], "expected FEATURE=MODEL"),
        (["--route", "chat="], "expected FEATURE=MODEL"),
        (["--route", "chat=gpt-4o", "--route", "chat=gpt-4o-mini"], "'chat' is routed twice"),
        (["--route", "chat=no-such-model"], "unknown model 'no-such-model'"),
        (["--cache-hit-rate", "1.5"], "must be from 0 to 1 (got 1.5)"),
        (["--cache-hit-rate", "-0.1"], "must be from 0 to 1"),
        (["--cache-hit-rate", "lots"], "'lots' is not a number"),
        (["--prices", "missing.toml"], "missing.toml: cannot read the file"),
        (["--tiers", "missing.toml"], "missing.toml: cannot read the file"),
        ([], "nothing to change: give --route, --tiers, --prices or --cache-hit-rate"),
        (["--cache-hit-rate", "0.1", "--since", "yesterday"], "not a date"),
    ],
)
def test_bad_input_is_one_line(
    ledger: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in error(capsys, ["whatif", "--ledger", ledger, *args])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[models\n", "not valid TOML"),
        ('[models."x"]\ninput = "cheap"\n', 'models."x"'),
    ],
)
def test_a_bad_prices_file_is_one_line(
    ledger: str, tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(text)
    assert message in error(capsys, ["whatif", "--ledger", ledger, "--prices", str(prices)])


def test_a_bad_router_table_is_one_line(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "routes.toml"
    config.write_text('[router.features.faq]\nsimple = "no-such-model"\n')
    assert "router.features.faq" in error(
        capsys, ["whatif", "--ledger", ledger, "--tiers", str(config)]
    )


def test_tiers_on_a_ledger_before_routing_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_older(url, 5, [e for e in EVENTS if e.tier is None])
    config = tmp_path / "routes.toml"
    config.write_text('[router.features.faq]\nsimple = "gpt-4o-mini"\n')
    assert "predates routing tiers (version 6)" in error(
        capsys, ["whatif", "--ledger", url, "--tiers", str(config)]
    )


def test_costcap_toml_prices_the_models_calls_move_to(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model of ./costcap.toml's [models] ($1 / $2 per million) prices chat's call moved to
    it (a model of no known family: 1.25 tokens per o200k_base token, 1,250 input tokens), and
    the assumptions name the file."""
    (tmp_path / "costcap.toml").write_text('[models."house-1"]\ninput = 1.0\noutput = 2.0\n')
    data = whatif_json(capsys, ledger, "--route", "chat=house-1")
    assert rows(data)["chat"][1] == usd(1250 * 1_000_000 + 200 * 2_000_000)
    assert any("[models] of costcap.toml" in line for line in data["assumptions"])
