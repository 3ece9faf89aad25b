"""``costcap estimate``: the planning formula, comparisons, samples, JSON and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from costcap.cli.app import run

EXAMPLE = [
    "estimate", "--model", "claude-sonnet-4-5", "--daily-calls", "1000",
    "--input-tokens", "2000", "--output-tokens", "500",
]  # fmt: skip


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert run([*argv, "--json"]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_the_example_costs_405_a_month(capsys: pytest.CaptureFixture[str]) -> None:
    """1,000 calls a day of 2,000 in / 500 out on Sonnet 4.5: $180 + $225 = $405.00 a month."""
    data = run_json(EXAMPLE, capsys)
    assert (data["input_usd"], data["output_usd"], data["monthly_usd"]) == (
        "180.00",
        "225.00",
        "405.00",
    )
    assert data["daily_usd"] == "13.50"


def test_table_shows_the_monthly_total(capsys: pytest.CaptureFixture[str]) -> None:
    """The rich table prints the breakdown with $405.00."""
    assert run(EXAMPLE) == 0
    out = capsys.readouterr().out
    assert "$180.00" in out
    assert "$225.00" in out
    assert "$405.00" in out


def test_compare_shows_the_haiku_saving(capsys: pytest.CaptureFixture[str]) -> None:
    """Haiku 4.5 ($1/$5) costs $135.00 a month for the same load: a $270.00 saving."""
    data = run_json([*EXAMPLE, "--compare", "claude-haiku-4-5"], capsys)
    comparisons = data["comparisons"]
    assert isinstance(comparisons, list)
    assert comparisons[0]["monthly_usd"] == "135.00"
    assert comparisons[0]["saving_usd"] == "270.00"


def test_days_override(capsys: pytest.CaptureFixture[str]) -> None:
    """--days 7 prices a week."""
    assert run_json([*EXAMPLE, "--days", "7"], capsys)["monthly_usd"] == "94.50"


def test_cache_hit_rate_reduces_the_cost(capsys: pytest.CaptureFixture[str]) -> None:
    """A 40% cache hit rate leaves 60% of the calls to pay for."""
    data = run_json([*EXAMPLE, "--cache-hit-rate", "0.4"], capsys)
    assert data["monthly_usd_with_cache"] == "243.00"


def test_warning_above_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    """Passing --warn-above prints one warning line on stderr and keeps exit code 0."""
    assert run([*EXAMPLE, "--warn-above", "400"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("costcap: warning: $405.00")


def test_from_sample_counts_the_prompts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A JSONL sample of OpenAI and Anthropic bodies is counted per model (exact for gpt-4o)."""
    sample = tmp_path / "sample.jsonl"
    sample.write_text(
        json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}]})
        + "\n\n"
        + json.dumps({"system": "Be brief.", "messages": [{"role": "user", "content": "Hello"}]})
        + "\n"
    )
    data = run_json(
        ["estimate", "--model", "gpt-4o", "--daily-calls", "10", "--from-sample", str(sample),
         "--output-tokens", "100"],
        capsys,
    )  # fmt: skip
    assert data["sample_requests"] == 2
    assert data["input_tokens"] == "11.50"  # 8 and 15 tokens: Cookbook framing, exact o200k


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["estimate", "--model", "gpt-9", "--daily-calls", "1", "--input-tokens", "1",
          "--output-tokens", "1"], "unknown model 'gpt-9'"),
        (["estimate", "--model", "gpt-4o", "--daily-calls", "-3", "--input-tokens", "1",
          "--output-tokens", "1"], "must not be negative"),
        (["estimate", "--model", "gpt-4o", "--daily-calls", "ten", "--input-tokens", "1",
          "--output-tokens", "1"], "--daily-calls"),
        (["estimate", "--model", "gpt-4o", "--daily-calls", "1"], "--input-tokens"),
        (["estimate", "--model", "gpt-4o", "--daily-calls", "1", "--from-sample", "/no/such.jsonl",
          "--output-tokens", "1"], "cannot read sample"),
        ([*EXAMPLE, "--cache-hit-rate", "1.5"], "between 0 and 1"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every bad input exits 2 with exactly one readable line on stderr, never a traceback."""
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("costcap: error: ")
    assert message in err


def test_malformed_sample_line_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A sample line that is not JSON is reported with its file and line number."""
    sample = tmp_path / "bad.jsonl"
    sample.write_text('{"messages": []}\nnot json\n')
    assert run(["estimate", "--model", "gpt-4o", "--daily-calls", "1", "--from-sample", str(sample),
                "--output-tokens", "1"]) == 2  # fmt: skip
    assert f"{sample}:2: not valid JSON" in capsys.readouterr().err
