"""``costcap budgets``: each budget's limit, spent, reserved and reset time."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from costcap.cli.app import app
from costcap.cli.formatting import money
from costcap.cli.options import NO_CONFIG, config_path, not_empty, reading_store
from costcap.cli.rows import cell, json_value
from costcap.errors import ConfigError


@app.command()
def budgets(
    config: Annotated[
        Path | None, typer.Option(help="costcap.toml (default: ./costcap.toml).")
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="Show the budgets that apply to this user.")
    ] = None,
    feature: Annotated[str | None, typer.Option(help="... to this feature.")] = None,
    key: Annotated[str | None, typer.Option(help="... to this API key id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Status of every configured budget in the current period."""
    from costcap.guard import Guard

    not_empty(user=user, feature=feature, key=key)
    path = config_path(config)
    if path is None:
        raise ConfigError(NO_CONFIG)
    guard = Guard.from_config(path, notifiers=[], **reading_store(path))
    try:
        rows = guard.status(user_id=user, feature=feature, api_key=key)
    finally:
        guard.close()
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=json_value) + "\n")
        return
    table = Table(title=f"budgets · {path}", title_justify="left")
    for header in (
        "budget",
        "member",
        "mode",
        "period",
        "limit",
        "spent",
        "reserved",
        "left",
        "resets",
    ):
        table.add_column(  # never cut short: a narrow terminal wraps a cell instead
            header,
            justify="right" if header in ("limit", "spent", "reserved", "left") else "left",
            overflow="fold",
        )
    for row in rows:
        table.add_row(
            str(row["budget"]),
            str(row["member"]) or "-",
            str(row["mode"]),
            str(row["bucket"]),
            money(row["limit_usd"]),
            money(row["spent_usd"]),
            money(row["reserved_usd"]),
            money(row["remaining_usd"]),
            cell(row["resets_at"], "time"),
        )
    Console().print(table)
