"""``costcap estimate``: bad numbers and bad samples end as exit 2 and one line naming them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import error, out

BASE = ["estimate", "--model", "gpt-4o", "--daily-calls", "10"]
FIXED = [*BASE, "--input-tokens", "5", "--output-tokens", "5"]
HELLO = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


def sample(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "sample.jsonl"
    path.write_text("".join(f"{line}\n" for line in lines))
    return str(path)


def test_deeply_nested_json_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """100,000 nested arrays: not a RecursionError but ``file:line: JSON nested too deeply``."""
    path = sample(tmp_path, json.dumps(HELLO), "[" * 100_000)
    assert f"{path}:2: JSON nested too deeply" in error(capsys, [*BASE, "--from-sample", path])


def test_negative_max_tokens_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sample(tmp_path, json.dumps(HELLO), "", json.dumps({**HELLO, "max_tokens": -5}))
    assert f"{path}:3: max_tokens must be 0..10,000,000 (got -5)" in error(
        capsys, [*BASE, "--from-sample", path]
    )


def test_uncountable_content_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {"messages": [{"role": "user", "content": 5}], "max_tokens": 5}
    path = sample(tmp_path, json.dumps(body))
    assert f"{path}:1: cannot count the tokens" in error(capsys, [*BASE, "--from-sample", path])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\xff\xfe\x00garbage", "cannot read sample"),
        (b"", "the sample holds no requests"),
        (b"\x00\x01\x02\x03", "not valid JSON"),
    ],
)
def test_unreadable_samples_are_one_line(
    tmp_path: Path, content: bytes, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sample.jsonl"
    path.write_bytes(content)
    assert problem in error(capsys, [*BASE, "--from-sample", str(path)])


def test_a_missing_sample_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.jsonl"
    assert f"cannot read sample {path}: No such file or directory" in error(
        capsys, [*BASE, "--from-sample", str(path)]
    )


def test_from_sample_and_input_tokens_are_exclusive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sample's input tokens are counted: a fixed --input-tokens with it is refused."""
    path = sample(tmp_path, json.dumps(HELLO))
    err = error(capsys, [*BASE, "--from-sample", path, "--input-tokens", "100"])
    assert "Invalid value for --input-tokens: cannot be combined with --from-sample" in err


def test_from_sample_with_output_tokens_prices_that_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--output-tokens with a sample replaces each request's max_tokens (documented): 7 out."""
    path = sample(tmp_path, json.dumps(HELLO))
    argv = [*BASE, "--from-sample", path, "--output-tokens", "7", "--json"]
    assert json.loads(out(capsys, argv))["output_tokens"] == "7.00"


@pytest.mark.parametrize(
    ("argv", "option", "problem"),
    [
        (["--warn-above", "-1"], "--warn-above", "must not be negative (got -1)"),
        (["--days", "367"], "--days", "must be 1..366 (got 367)"),
        (
            ["--daily-calls", "1000000001"],
            "--daily-calls",
            "must be at most 1,000,000,000 (got 1,000,000,001)",
        ),
        (
            ["--input-tokens", "10000001"],
            "--input-tokens",
            "must be at most 10,000,000 (got 10,000,001)",
        ),
        (
            ["--cache-hit-rate", "1e-99"],
            "--cache-hit-rate",
            "'1e-99' is out of range (1e-18 … 1e18)",
        ),
        (["--warn-above", "nan"], "--warn-above", "'nan' is not a finite number"),
    ],
)
def test_numbers_out_of_range_are_refused(
    argv: list[str], option: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = f"costcap: error: Invalid value for {option}: {problem}\n"
    assert error(capsys, [*FIXED, *argv]) == line


def test_without_tokens_or_sample_the_missing_option_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = error(capsys, [*BASE, "--input-tokens", "5"])
    assert "Invalid value for --output-tokens: required unless --from-sample is given" in err


def test_a_zero_warning_threshold_warns(capsys: pytest.CaptureFixture[str]) -> None:
    """--warn-above 0 is allowed: any cost passes it. 10 calls × (5 × $2.50 + 5 × $10) per
    million × 30 days = $0.01875."""
    from costcap.cli.app import run

    assert run([*FIXED, "--warn-above", "0"]) == 0
    err = capsys.readouterr().err
    assert err == (
        "costcap: warning: $0.01875 over 30 days passes the warning threshold of $0.00 "
        "(--warn-above)\n"
    )
