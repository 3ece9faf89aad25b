"""``costcap route eval``: confusion matrix, accuracy and costs of labelled prompts."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costcap.tokens import count_messages
from tests.cli.helpers import error, out

# Prices in USD per million tokens, so that each line's cost is easy to work out by hand.
PRICED = """
[models."cheap-model"]
input = "1"
output = "2"
[models."mid-model"]
input = "3"
output = "6"
[models."top-model"]
input = "10"
output = "20"

[router]
simple = "cheap-model"
complex = "mid-model"
critical = "top-model"
"""
HARD = "Prove the theorem rigorously, step by step, and explain why each invariant holds"
THREE = [
    {"prompt": "hello", "tier": "simple", "input_tokens": 1000, "output_tokens": 100},
    {"prompt": HARD, "tier": "critical", "input_tokens": 2000, "output_tokens": 500},
    {"prompt": "Explain why the sky is blue", "tier": "critical", "input_tokens": 500,
     "output_tokens": 200},
]  # fmt: skip
SHIPPED = Path(__file__).parents[1] / "router" / "data" / "prompts.jsonl"


@pytest.fixture(autouse=True)
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSTCAP_CONFIG", raising=False)
    (tmp_path / "priced.toml").write_text(PRICED)
    return tmp_path


def jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def report(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(out(capsys, ["route", "eval", *argv, "--json"]))
    return result


def test_the_confusion_matrix_of_three_lines(
    capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    got = report(capsys, jsonl(here / "p.jsonl", THREE), "--config", "priced.toml")
    assert got["confusion"] == {
        "simple": {"simple": 1, "complex": 0, "critical": 0},
        "complex": {"simple": 0, "complex": 0, "critical": 0},
        "critical": {"simple": 0, "complex": 1, "critical": 1},
    }


def test_accuracy_and_misroutes_of_three_lines(
    capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    got = report(capsys, jsonl(here / "p.jsonl", THREE), "--config", "priced.toml")
    assert (got["correct"], got["accuracy"], got["routed_below_label"],
            got["routed_above_label"]) == (2, "0.6667", 1, 0)  # fmt: skip


def test_costs_of_three_lines_by_hand(capsys: pytest.CaptureFixture[str], here: Path) -> None:
    """Per line (input × in + output × out, per million): cheap 1/2, mid 3/6, top 10/20.
    line 1 (1000, 100): cheap 0.0012, mid 0.0036, top 0.012
    line 2 (2000, 500): cheap 0.003,  mid 0.009,  top 0.03
    line 3 (500, 200):  cheap 0.0009, mid 0.0027, top 0.009
    routed: cheap, top, mid = 0.0012 + 0.03 + 0.0027 = 0.0339
    labelled: cheap, top, top = 0.0012 + 0.03 + 0.009 = 0.0402
    always top = 0.051; always default (complex, mid) = 0.0036 + 0.009 + 0.0027 = 0.0153"""
    got = report(capsys, jsonl(here / "p.jsonl", THREE), "--config", "priced.toml")
    assert got["cost_usd"] == {"routed": "0.0339", "labelled": "0.0402", "top": "0.051",
                               "default": "0.0153"}  # fmt: skip


def test_the_table_shows_the_figures(capsys: pytest.CaptureFixture[str], here: Path) -> None:
    text = out(capsys, ["route", "eval", jsonl(here / "p.jsonl", THREE), "--config",
                        "priced.toml"])  # fmt: skip
    assert "accuracy 66.7 % (2 of 3); routed below the label 1, above it 0" in text
    assert "always critical" in text
    assert "$0.051" in text


def test_a_line_without_input_tokens_is_counted_for_each_model(
    capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    (here / "oa.toml").write_text('[router]\nsimple = "gpt-4o-mini"\n')
    rows = [{"prompt": "hello", "tier": "simple", "output_tokens": 10}]
    got = report(capsys, jsonl(here / "p.jsonl", rows), "--config", "oa.toml")
    counted = count_messages([{"role": "user", "content": "hello"}], "gpt-4o-mini").tokens
    expected = (Decimal(counted) * Decimal("0.15") + 10 * Decimal("0.6")) / 10**6
    assert Decimal(got["cost_usd"]["routed"]) == expected


def test_the_default_output_length_is_used_and_stated(
    capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    rows = [{"prompt": "hello", "tier": "simple", "input_tokens": 0}]
    got = report(capsys, jsonl(here / "p.jsonl", rows), "--config", "priced.toml",
                 "--output-tokens", "1000")  # fmt: skip
    assert (got["default_output_tokens"], got["cost_usd"]["routed"]) == (1000, "0.002")


def test_without_a_config_the_built_in_tiers_and_no_costs(
    capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    got = report(capsys, jsonl(here / "p.jsonl", THREE))
    assert (got["tiers"], got["cost_usd"]) == (["simple", "complex", "critical"], None)


def test_a_feature_s_own_tier_names_label_the_lines(
    capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    (here / "f.toml").write_text(
        '[router.features.chat]\nfast = "gpt-4o-mini"\nstrong = "gpt-4o"\n'
    )
    rows = [{"prompt": "hello", "tier": "fast"}, {"prompt": HARD, "tier": "critical"}]
    got = report(capsys, jsonl(here / "p.jsonl", rows), "--config", "f.toml", "--feature", "chat")
    assert got["confusion"] == {
        "fast": {"fast": 1, "strong": 0},
        "strong": {"fast": 0, "strong": 1},
    }


def test_the_shipped_prompt_set_adds_up(capsys: pytest.CaptureFixture[str]) -> None:
    """The command runs on the shipped set; its accuracy is printed, not asserted."""
    lines = sum(1 for line in SHIPPED.read_text().splitlines() if line.strip())
    got = report(capsys, str(SHIPPED), "--config", "priced.toml")
    matrix = got["confusion"]
    assert got["lines"] == lines == sum(sum(row.values()) for row in matrix.values())
    assert got["correct"] == sum(matrix[t][t] for t in got["tiers"])
    assert got["correct"] + got["routed_below_label"] + got["routed_above_label"] == lines


def test_the_shipped_prompt_set_has_every_tier(capsys: pytest.CaptureFixture[str]) -> None:
    labels = [json.loads(line)["tier"] for line in SHIPPED.read_text().splitlines()]
    assert 60 <= len(labels) <= 120
    assert {labels.count(t) >= 20 for t in ("simple", "complex", "critical")} == {True}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"prompt": "hi", "tier": "simple"}\n{"prompt": "hi", tier}\n', r"line 2: not JSON"),
        ('{"prompt": "hi", "tier": "medium"}\n', r"line 1: unknown tier 'medium'"),
        ('{"tier": "simple"}\n', r'line 1: needs "prompt" \(a string\) or "messages"'),
        ('["hi", "simple"]\n', r"line 1: not a JSON object"),
        ('{"prompt": "hi", "tier": "simple", "output_tokens": -1}\n', r"line 1: output_tokens"),
        ("\n\n", r"no prompts"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_line(
    capsys: pytest.CaptureFixture[str], here: Path, text: str, message: str
) -> None:
    (here / "bad.jsonl").write_text(text)
    assert re.search(message, error(capsys, ["route", "eval", "bad.jsonl", "--config",
                                             "priced.toml"]))  # fmt: skip


def test_a_missing_prompts_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert "missing.jsonl: cannot read the file" in error(
        capsys, ["route", "eval", "missing.jsonl"]
    )


def test_an_unknown_feature_in_a_config_without_general_routes_is_one_line(
    capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    (here / "f.toml").write_text('[router.features.chat]\nsimple = "gpt-4o-mini"\n')
    message = error(capsys, ["route", "eval", jsonl(here / "p.jsonl", THREE), "--config",
                             "f.toml", "--feature", "search"])  # fmt: skip
    assert "feature 'search' has no tiers" in message
