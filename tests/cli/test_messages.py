"""Error lines name the option at fault once: ``Invalid value for --since: 'foo' is not a date``,
never ``--since: --since: …``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import error

ESTIMATE = ["estimate", "--model", "gpt-4o", "--daily-calls", "1"]


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["report", "features", "--since", "foo"], "--since"),
        (["report", "features", "--until", "2026-13-01"], "--until"),
        (["report", "features", "--json", "--csv"], "--json"),
        (["report", "anomalies", "--alert"], "--alert"),
        (["report", "anomalies", "--min-hour", "0.0000000000001"], "--min-hour"),
        (["report", "anomalies", "--loop-calls", "1"], "--loop-calls"),
        (["report", "anomalies", "--loop-minutes", "1441"], "--loop-minutes"),
        (["report", "users", "--limit", "1000001"], "--limit"),
        (["report", "pacing", "--user", ""], "--user"),
        (["budgets"], "--config"),
        (["budgets", "--config", "costcap.toml", "--feature", " "], "--feature"),
        ([*ESTIMATE, "--input-tokens", "1"], "--output-tokens"),
    ],
)  # fmt: skip
def test_the_option_is_named_once(
    argv: list[str],
    option: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # no costcap.toml, no ledger here
    monkeypatch.delenv("COSTCAP_CONFIG", raising=False)
    (tmp_path / "ledger.db").touch()
    err = error(capsys, [*argv, "--ledger", "sqlite:///ledger.db"] if argv[0] == "report" else argv)
    assert err.count(option) == 1, err
