"""``costcap route explain``: the decision on one prompt, and why."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.cli.helpers import error, out

CONFIG = """
[router]
simple = "gpt-4o-mini"
complex = "gpt-4o"
critical = "o3"

[router.features.support]
fast = "claude-haiku-4-5"
strong = "claude-sonnet-4-5"
auto = false
"""
HARD = "Prove the theorem rigorously, step by step, and explain why each invariant holds"


@pytest.fixture(autouse=True)
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSTCAP_CONFIG", raising=False)
    (tmp_path / "routes.toml").write_text(CONFIG)
    return tmp_path


def test_without_a_config_the_built_in_tier_is_shown(capsys: pytest.CaptureFixture[str]) -> None:
    text = out(capsys, ["route", "explain", "hello there"])
    assert "tier simple (auto)" in text
    assert "no [router] in costcap.toml" in text


def test_with_a_config_the_model_and_reasons_are_shown(capsys: pytest.CaptureFixture[str]) -> None:
    text = out(capsys, ["route", "explain", HARD, "--config", "routes.toml"])
    assert "tier critical → o3 (auto)" in text
    assert "hard: invariant, prove, rigorously, theorem" in text


def test_json_gives_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    info = json.loads(out(capsys, ["route", "explain", "hello", "--config", "routes.toml",
                                   "--json"]))  # fmt: skip
    assert info == {"feature": None, "tier": "simple", "model": "gpt-4o-mini", "reason": "auto",
                    "reasons": ["quick task: hello"], "score": 0}  # fmt: skip


def test_a_feature_with_auto_off_shows_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    info = json.loads(out(capsys, ["route", "explain", HARD, "--feature", "support",
                                   "--config", "routes.toml", "--json"]))  # fmt: skip
    assert (info["tier"], info["model"], info["reason"]) == (
        "strong", "claude-sonnet-4-5", "default",
    )  # fmt: skip


def test_max_tokens_and_system_are_read(capsys: pytest.CaptureFixture[str]) -> None:
    info = json.loads(out(capsys, ["route", "explain", "go on", "--system", "Think step by step",
                                   "--max-tokens", "8000", "--json"]))  # fmt: skip
    assert info["reasons"] == ["reasoning: step by step", "max_tokens 8,000"]


def test_a_dash_reads_the_prompt_from_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(HARD.encode())))
    assert json.loads(out(capsys, ["route", "explain", "-", "--json"]))["tier"] == "critical"


def test_the_config_in_the_current_directory_is_used(
    capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    (here / "costcap.toml").write_text(CONFIG)
    assert "→ gpt-4o-mini" in out(capsys, ["route", "explain", "hello"])


def test_a_missing_config_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert "nope.toml: cannot read the file" in error(
        capsys, ["route", "explain", "hi", "--config", "nope.toml"]
    )


def test_a_bad_router_table_is_one_line_naming_the_key(
    capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    (here / "bad.toml").write_text('[router]\nsimple = "gpt-4o-mini"\ndefault = "huge"\n')
    message = error(capsys, ["route", "explain", "hi", "--config", "bad.toml"])
    assert "bad.toml: router.default: 'huge' is not one of its tiers" in message


def test_a_feature_without_a_config_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--feature needs a costcap.toml" in error(
        capsys, ["route", "explain", "hi", "--feature", "chat"]
    )


def test_an_empty_feature_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--feature" in error(capsys, ["route", "explain", "hi", "--feature", ""])


def test_a_config_with_features_only_needs_a_feature(
    capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    (here / "f.toml").write_text('[router.features.chat]\nsimple = "gpt-4o-mini"\n')
    message = error(capsys, ["route", "explain", "hi", "--config", "f.toml"])
    assert "[router] has no tiers (features with routes: chat); pass --feature NAME" in message
