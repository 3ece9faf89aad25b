"""``costcap report cache``: the response cache per feature, its advice thresholds from options
or ``[cache]`` in costcap.toml, and bad input as one line. Figures worked out by hand on the
ledger of ``tests.reports.cache_ledger``."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costcap.config import parse_config
from costcap.errors import ConfigError
from costcap.ledger import open_sink
from tests.cli.helpers import error, out
from tests.ledger.older import make_older
from tests.reports.cache_ledger import CACHED
from tests.reports.conftest import ledger_url

CACHE = ["report", "cache"]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite ledger holding the cache ledger's calls."""
    url = ledger_url("sqlite", tmp_path_factory)
    sink = open_sink(url)
    sink.write(CACHED)
    sink.close()
    return url


@pytest.fixture(autouse=True)
def no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No costcap.toml but the ones a test writes: none in the working directory, no
    $COSTCAP_CONFIG."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSTCAP_CONFIG", raising=False)


def rows(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str | None, dict[str, Any]]:
    return {r["feature"]: r for r in json.loads(out(capsys, [*CACHE, *argv, "--json"]))}


def test_json_carries_every_figure_with_exact_money(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """faq: 8 cacheable = 6 hits + 2 misses, rate 0.75, $0.12 saved, misses $0.06, as exact
    decimal strings."""
    faq = rows(capsys, ["--ledger", ledger])["faq"]
    assert (faq["cacheable"], faq["cache_hits"], faq["cache_misses"]) == (8, 6, 2)
    assert [faq[k] for k in ("hit_rate", "saved_usd", "miss_cost_usd")] == ["0.75", "0.12", "0.06"]


def test_json_carries_the_repeats_of_features_without_a_cache(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """search: 6 hashed calls, 3 repeats costing $0.09, a share of 0.5; no advice by default."""
    search = rows(capsys, ["--ledger", ledger])["search"]
    found = [search[k] for k in ("hashed", "repeats", "repeat_cost_usd", "advice")]
    assert found == [6, 3, "0.09", None]
    assert Decimal(search["repeat_share"]) == Decimal("0.5")


def test_the_thresholds_are_options(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    """At 0.5 after 6 calls: search on (3 of 6 repeated), chat off (1 hit in 10)."""
    found = rows(capsys, ["--ledger", ledger, "--useful-hit-rate", "0.5",
                          "--advice-after-calls", "6"])  # fmt: skip
    assert (found["search"]["advice"], found["chat"]["advice"]) == (
        "turn caching on",
        "turn caching off",
    )


def test_the_thresholds_come_from_costcap_toml(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``[cache] useful_hit_rate`` and ``advice_after_calls`` (next to the response cache's own
    keys) set the advice: 0.5 after 6 calls advises search on."""
    config = tmp_path / "costcap.toml"
    config.write_text(
        f'[ledger]\nurl = "{ledger}"\n\n'
        '[cache]\nurl = "memory://"\nuseful_hit_rate = 0.5\nadvice_after_calls = 6\n'
    )
    assert rows(capsys, ["--config", str(config)])["search"]["advice"] == "turn caching on"


def test_options_win_over_costcap_toml(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """costcap.toml says 0.5 after 6; --advice-after-calls 7 leaves search one call short."""
    config = tmp_path / "costcap.toml"
    config.write_text("[cache]\nuseful_hit_rate = 0.5\nadvice_after_calls = 6\n")
    argv = ["--ledger", ledger, "--config", str(config), "--advice-after-calls", "7"]
    assert rows(capsys, argv)["search"]["advice"] is None


def test_the_table_has_the_advice_and_a_total_row(
    ledger: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headers, chat's advice, and the total: 18 cacheable, 7 hits, 11 misses, 38.89 %, $0.13."""
    monkeypatch.setenv("COLUMNS", "200")  # one line per row
    text = out(capsys, [*CACHE, "--ledger", ledger, "--advice-after-calls", "10"])
    for header in ("cacheable", "hits", "misses", "hit rate", "saved", "advice"):
        assert f" {header} " in text
    (chat,) = [line for line in text.splitlines() if " chat " in line]
    assert "turn caching off" in chat
    (total,) = [line for line in text.splitlines() if line.startswith("│ all ")]
    assert [c.strip() for c in total.split("│")[2:7]] == ["18", "7", "11", "38.89%", "$0.13"]


def test_csv_has_a_row_per_feature(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = out(capsys, [*CACHE, "--ledger", ledger, "--csv"])
    found = {r["feature"]: r["cache_misses"] for r in csv.DictReader(io.StringIO(text))}
    assert found == {"faq": "2", "chat": "9", "search": "0", "": "0"}


def test_an_older_ledger_shows_no_misses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A schema-4 ledger: faq's hits and savings, its misses and hit rate null (unknown)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_older(url, 4, CACHED)
    faq = rows(capsys, ["--ledger", url])["faq"]
    assert [faq[k] for k in ("cache_hits", "saved_usd", "cache_misses", "hit_rate")] == [
        6, "0.12", None, None
    ]  # fmt: skip


def test_the_time_report_counts_misses(ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    (day,) = json.loads(out(capsys, ["report", "time", "--ledger", ledger, "--json"]))
    assert (day["cache_hits"], day["cache_misses"]) == (7, 11)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--useful-hit-rate", "-0.1"], "--useful-hit-rate: must be from 0 to 1 (got -0.1)"),
        (["--useful-hit-rate", "1.5"], "--useful-hit-rate: must be from 0 to 1 (got 1.5)"),
        (["--useful-hit-rate", "lots"], "--useful-hit-rate: 'lots' is not a number"),
        (["--advice-after-calls", "2.5"], "'--advice-after-calls'"),
        (["--advice-after-calls", "0"], "--advice-after-calls: must be at least 1 (got 0)"),
    ],
)
def test_bad_thresholds_exit_2_with_one_line(
    ledger: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in error(capsys, [*CACHE, "--ledger", ledger, *argv])


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("useful_hit_rate = 1.5", "cache.useful_hit_rate: a share from 0 to 1, not 1.5"),
        ("useful_hit_rate = -0.2", "cache.useful_hit_rate: a share from 0 to 1, not -0.2"),
        ('useful_hit_rate = "0.2"', "cache.useful_hit_rate: a share from 0 to 1, not '0.2'"),
        ("advice_after_calls = 2.5", "cache.advice_after_calls: a whole number >= 1, not 2.5"),
        ("advice_after_calls = 0", "cache.advice_after_calls: a whole number >= 1, not 0"),
    ],
)
def test_a_bad_threshold_in_costcap_toml_is_one_line_naming_it(
    ledger: str, tmp_path: Path, toml: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "costcap.toml"
    config.write_text(f"[cache]\n{toml}\n")
    assert message in error(capsys, [*CACHE, "--ledger", ledger, "--config", str(config)])


def test_costcap_toml_accepts_the_cache_table() -> None:
    """``[cache]`` is the response cache's table: its other keys are left to it, the two
    thresholds are read (absent: None, the report's defaults apply)."""
    config = parse_config(
        {"cache": {"url": "memory://", "ttl": "1h", "useful_hit_rate": 0.25,
                   "advice_after_calls": 500}}
    )  # fmt: skip
    assert (config.cache_useful_hit_rate, config.cache_advice_after_calls) == (
        Decimal("0.25"),
        500,
    )
    assert parse_config({}).cache_useful_hit_rate is None
    with pytest.raises(ConfigError, match=r"cache: must be a table"):
        parse_config({"cache": 5})
