"""Report rows on the terminal: a rich table, JSON (exact decimal strings) or CSV."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields, is_dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from costcap.cli.formatting import decimal_text, money, tokens_text
from costcap.errors import ConfigError

__all__ = ["Column", "cell", "emit", "json_value", "output_format", "record", "write_csv"]

# (header, field, kind): kind is money, count, tokens, pct (a percentage), rate (0..1), time
# (an instant, shown to the second in UTC), text, or tag (a status like trending_over, shown as
# words: trending over).
Column = tuple[str, str, str]


def output_format(as_json: bool, as_csv: bool) -> str:
    if as_json and as_csv:
        raise ConfigError("choose one of --json and --csv")
    return "json" if as_json else "csv" if as_csv else "table"


def json_value(value: Any) -> Any:
    """A value as JSON-ready data: exact decimal strings, ISO dates (``json.dumps`` default)."""
    return _plain(value) if isinstance(value, Decimal | datetime | date) else str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def record(row: Any) -> dict[str, Any]:
    """A report row as JSON-ready data: exact decimal strings, ISO dates, None as null."""
    assert is_dataclass(row)
    return {f.name: _plain(getattr(row, f.name)) for f in fields(row)}


def write_csv(rows: Sequence[Any], *, row_type: type, out: TextIO) -> None:
    """``rows`` (instances of the dataclass ``row_type``) as CSV on ``out``: a header of every
    field, then one line per row, money as exact decimal strings and None as an empty cell.
    The CLI's ``--csv`` and the HTTP answers in CSV write through it, so they are the same."""
    names = [f.name for f in fields(row_type)]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        data = record(row)
        writer.writerow(["" if data[n] is None else data[n] for n in names])


def cell(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "money":
        return money(value)
    if kind == "count":
        return f"{value:,}"
    if kind == "tokens":
        return tokens_text(Decimal(value))
    if kind == "pct":
        return f"{value}%"
    if kind == "rate":
        return f"{value * 100:.2f}%"
    if kind == "tag":  # trending_over → trending over: wraps between its words
        return str(value).replace("_", " ")
    if kind == "time" and isinstance(value, str):
        value = datetime.fromisoformat(value)
    if kind == "time" and isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(_plain(value))


def emit(
    rows: Sequence[Any],
    *,
    row_type: type,
    fmt: str,
    title: str,
    columns: Sequence[Column],
    empty: str,
    extra: Callable[[Table], None] | None = None,
) -> None:
    """Print ``rows`` (instances of the dataclass ``row_type``) as ``fmt``: JSON and CSV carry
    every field, the table the ``columns``; ``extra`` may add rows to the table (a total).
    Without rows a table is the line ``empty`` instead (JSON: ``[]``, CSV: the header)."""
    if fmt == "json":
        sys.stdout.write(json.dumps([record(r) for r in rows], indent=2) + "\n")
        return
    if fmt == "csv":
        write_csv(rows, row_type=row_type, out=sys.stdout)
        return
    if not rows:
        sys.stdout.write(f"{empty}\n")
        return
    table = Table(title=title, title_justify="left")
    for header, _, kind in columns:
        # Nothing is ever cut short ("trending_…"): a narrow terminal wraps a cell onto more
        # lines, at its spaces first.
        table.add_column(
            header, justify="left" if kind in ("text", "tag") else "right", overflow="fold"
        )
    for row in rows:
        table.add_row(*(cell(getattr(row, name), kind) for _, name, kind in columns))
    if extra is not None:
        extra(table)
    Console().print(table)
