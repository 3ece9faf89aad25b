"""``costcap report chart`` and ``--plot`` on ``report time`` / ``report features``: the file
written in the format its suffix names, the rows the reports give, bad input as one line."""

from __future__ import annotations

import io
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from costcap.cli import report_chart
from costcap.cli.app import run
from costcap.reports import Reports
from tests.cli.helpers import error, out, write_ledger

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite ledger holding the test events (ten days of March 2026)."""
    return write_ledger(f"sqlite:///{tmp_path_factory.mktemp('chart') / 'ledger.db'}")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    return Image.open(io.BytesIO(data)).size


def test_time_writes_an_svg(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line says what was written; the file is an SVG document."""
    path = tmp_path / "spend.svg"
    said = out(capsys, ["report", "chart", "time", "--out", str(path), "--ledger", ledger])
    assert said.count("\n") == 1
    assert said.startswith(f"wrote {path} (SVG, {path.stat().st_size:,} bytes): Spend per day")
    assert ET.fromstring(path.read_bytes()).tag == "{http://www.w3.org/2000/svg}svg"


def test_features_writes_a_png(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "features.PNG"  # the suffix in any case
    said = out(capsys, ["report", "chart", "features", "--out", str(path), "--ledger", ledger])
    assert said.startswith(f"wrote {path} (PNG, ")
    assert png_size(path) == (1000, 450)


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The arguments each chart is drawn with (the chart functions then run as usual)."""
    calls: list[dict[str, Any]] = []

    def spy(draw: Callable[..., bytes]) -> Callable[..., bytes]:
        def wrapper(rows: Sequence[object], **kwargs: Any) -> bytes:
            calls.append({"rows": list(rows), **kwargs})
            return draw(rows, **kwargs)

        return wrapper

    for name in ("spend_over_time_chart", "by_feature_chart"):
        monkeypatch.setattr(report_chart, name, spy(getattr(report_chart, name)))
    return calls


def test_filters_reach_the_report(
    ledger: str, tmp_path: Path, drawn: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """--by, --top, --granularity, the range and the filters: the chart draws exactly the rows
    Reports.over_time_by gives for them, over the range's days."""
    argv = ["report", "chart", "time", "--out", str(tmp_path / "c.svg"), "--ledger", ledger]
    argv += ["--by", "user", "--top", "3", "--granularity", "week", "--model", "gpt-4o"]
    argv += ["--feature", "chat", "--since", "2026-03-02", "--until", "2026-03-08"]
    out(capsys, argv)
    with Reports.open(ledger) as reports:
        expected = reports.over_time_by(
            by="user", top=3, granularity="week", model="gpt-4o", feature="chat",
            since=date(2026, 3, 2), until=date(2026, 3, 8),
        )  # fmt: skip
    (call,) = drawn
    assert expected
    assert call["rows"] == expected
    assert (call["granularity"], call["by"], call["fmt"]) == ("week", "user", "svg")
    assert (call["first"], call["last"]) == (date(2026, 3, 2), date(2026, 3, 8))


def test_features_filters_reach_the_report(
    ledger: str, tmp_path: Path, drawn: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """--user and an instant --until: the chart draws Reports.by_feature's rows for them."""
    argv = ["report", "chart", "features", "--out", str(tmp_path / "c.png"), "--ledger", ledger]
    out(capsys, [*argv, "--user", "user-03", "--until", "2026-03-05T12:00"])
    with Reports.open(ledger) as reports:
        expected = reports.by_feature(user="user-03", until=datetime(2026, 3, 5, 12, tzinfo=UTC))
    (call,) = drawn
    assert expected
    assert call["rows"] == expected


def test_time_plot_beside_json(
    ledger: str, tmp_path: Path, drawn: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """report time --plot: stdout is the report's JSON as ever, the chart's line is on stderr,
    and the chart is stacked --by model."""
    path = tmp_path / "time.svg"
    argv = ["report", "time", "--ledger", ledger, "--json", "--plot", str(path), "--by", "model"]
    assert run(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["start"] == "2026-03-01"
    size = path.stat().st_size
    assert (
        captured.err == f"wrote {path} (SVG, {size:,} bytes): Spend per day by model · all time\n"
    )
    (call,) = drawn
    assert {r.group for r in call["rows"]} == {"gpt-4o", "gpt-4o-mini", "claude-haiku-4-5"}


def test_features_plot_beside_the_table(
    ledger: str, tmp_path: Path, drawn: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """report features --plot: the table on stdout, the same rows drawn into the PNG."""
    path = tmp_path / "features.png"
    assert run(["report", "features", "--ledger", ledger, "--plot", str(path)]) == 0
    captured = capsys.readouterr()
    assert "spend by feature" in captured.out
    assert captured.err.startswith(f"wrote {path} (PNG, ")
    assert png_size(path) == (1000, 450)
    with Reports.open(ledger) as reports:
        assert drawn[0]["rows"] == reports.by_feature()


def test_no_calls_is_still_a_chart(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A range without calls writes the small chart that says so."""
    path = tmp_path / "empty.png"
    argv = ["report", "chart", "time", "--out", str(path), "--ledger", ledger]
    out(capsys, [*argv, "--since", "2025-01-01", "--until", "2025-01-31"])
    assert png_size(path) == (600, 120)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("chart time --out x.pdf", "Invalid value for --out: x.pdf ends in .pdf: give a .svg or"),
        ("chart time --out chart", "Invalid value for --out: chart has no suffix"),
        ("chart pie --out x.svg", "Invalid value for KIND: must be one of time, features"),
        ("chart time --out x.svg --top 0", "Invalid value for --top: must be 1..50 (got 0)"),
        ("chart time --out x.svg --top 51", "Invalid value for --top: must be 1..50 (got 51)"),
        ("chart time --out x.svg --by team", "Invalid value for --by: must be one of feature,"),
        ("chart time --out x.svg --granularity hour", "Invalid value for --granularity"),
        ("chart time --out x.svg --since 2026-03-09 --until 2026-03-01", "must be before until"),
        ("chart time", "Missing option '--out'"),
        ("time --plot x.txt", "Invalid value for --plot: x.txt ends in .txt"),
        ("time --plot x.svg --by team", "Invalid value for --by"),
        ("features --plot x.jpeg", "Invalid value for --plot: x.jpeg ends in .jpeg"),
        ("chart time --out no/dir/x.svg", "cannot write no/dir/x.svg: No such file or directory"),
        ("chart features --out x.svg --by model", "Invalid value for --by: applies to chart time"),
        ("chart features --out x.svg --top 3", "Invalid value for --top: applies to chart time"),
        ("chart features --out x.svg --granularity week", "--granularity: applies to chart time"),
        ("time --by model", "Invalid value for --by: stacks the chart: give --plot FILE with it"),
    ],
    ids=str,
)
def test_bad_input_is_one_line(
    ledger: str, args: str, message: str, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 and one line on stderr naming the problem; no file written."""
    assert message in error(capsys, ["report", *args.split(), "--ledger", ledger])
    assert list(here.iterdir()) == []


def test_a_missing_ledger_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "chart.svg"
    missing = f"sqlite:///{tmp_path / 'nothing.db'}"
    argv = ["report", "chart", "time", "--out", str(path), "--ledger", missing]
    assert f"no costcap ledger at {missing}" in error(capsys, argv)
    assert not path.exists()


@pytest.mark.parametrize(
    "args", ["chart time --out c.svg", "chart features --out c.png", "time --plot c.svg"], ids=str
)
def test_without_matplotlib_the_extra_is_named(
    ledger: str,
    args: str,
    here: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    message = error(capsys, ["report", *args.split(), "--ledger", ledger])
    assert message == "costcap: error: charts needs: pip install 'costcap[dashboard]'\n"
    assert list(here.iterdir()) == []
