"""``costcap demo``: cost before you build, then a simulated day of traffic through costcap."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from costcap.cli.app import app
from costcap.cli.estimate import render_plans
from costcap.cli.options import require_extra
from costcap.planning import CallShape, compare_plans, plan
from costcap.pricing import default_catalog

MAX_CALLS = 100_000  # a few minutes of simulation
DASHBOARD_URL = "http://127.0.0.1:8710/"  # costcap dashboard's default host and port
DEMO_FILES = ("costcap.toml", "costcap.db", "costcap-ledger.db", "costcap-ledger.db.spool")


@app.command()
def demo(
    calls: Annotated[
        int, typer.Option(help=f"Calls in the simulated day (1..{MAX_CALLS:,}).")
    ] = 1000,
    users: Annotated[int, typer.Option(help="Distinct users (1..--calls).")] = 60,
    workdir: Annotated[
        Path | None,
        typer.Option(help="An empty or new directory for its files (default: a temp dir)."),
    ] = None,
) -> None:
    """A realistic day of an AI product through costcap, against the fake provider."""
    if not 0 < calls <= MAX_CALLS:
        raise typer.BadParameter(f"must be 1..{MAX_CALLS:,} (got {calls})", param_hint="--calls")
    if not 0 < users <= calls:
        raise typer.BadParameter(
            f"must be 1..{calls:,}, the number of calls (got {users})", param_hint="--users"
        )
    require_extra(
        "sdk,gateway",
        "costcap demo",
        ("starlette", "uvicorn", "anyio", "openai", "anthropic", "httpx2", "aiohttp"),
    )
    if workdir is not None:
        usable_workdir(workdir)
    os.environ.setdefault("COLUMNS", "150")  # the report tables are wide; this process only
    console = Console()
    if workdir is not None:
        run_demo(console, calls, users, workdir)
        console.print(
            "\nSee the day in the dashboard (charts, budgets, alerts, live as the ledger grows):\n"
            f"  {command_name()} dashboard --config {shlex.quote(str(workdir / 'costcap.toml'))}\n"
            f"  then open {DASHBOARD_URL}"
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        run_demo(console, calls, users, Path(tmp))
    console.print(
        "\nThe day's files were in a temporary directory, now removed: run "
        "costcap demo --workdir DIR to keep them and open the day in costcap dashboard."
    )


def command_name() -> str:
    """``costcap`` when that is what a shell here runs; else the path this process was started
    by (``.venv/bin/costcap`` after ``make demo``, whose venv is not on the PATH)."""
    started = Path(sys.argv[0])
    if started.name != "costcap":
        return "costcap"
    found = shutil.which("costcap")
    if found is not None and Path(found).resolve() == started.resolve():
        return "costcap"
    return shlex.quote(str(started))


def usable_workdir(workdir: Path) -> None:
    """A directory the demo can write its files to without replacing anyone's: it is created if
    missing; one holding a costcap.toml, store or ledger is refused."""
    try:
        if workdir.exists() and not workdir.is_dir():
            raise typer.BadParameter(f"{workdir} is not a directory", param_hint="--workdir")
        workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=workdir):
            pass
        taken = [name for name in DEMO_FILES if (workdir / name).exists()]
    except OSError as exc:  # not writable, a file on the way, a name too long…
        raise typer.BadParameter(
            f"cannot write to {workdir}: {exc.strerror or exc}", param_hint="--workdir"
        ) from None
    if taken:
        raise typer.BadParameter(
            f"{workdir} already holds {', '.join(taken)}; give an empty or new directory",
            param_hint="--workdir",
        )


def run_demo(console: Console, calls: int, users: int, where: Path) -> None:
    from costcap.demo import Outcome, simulate_day
    from costcap.demo._report import render_day
    from costcap.demo._traffic import FEATURES

    console.rule("[bold]1. Cost before you build[/bold]")
    console.print(
        "costcap estimate --model claude-sonnet-4-5 --daily-calls 1000 "
        "--input-tokens 2000 --output-tokens 500 --compare claude-haiku-4-5"
    )
    catalog = default_catalog()
    shape = [CallShape(input_tokens=2000, output_tokens=500)]
    base = plan(catalog, "claude-sonnet-4-5", daily_calls=1000, calls=shape)
    haiku = plan(catalog, "claude-haiku-4-5", daily_calls=1000, calls=shape)
    render_plans(console, base, compare_plans(base, [haiku]))

    console.rule("[bold]2. A day of traffic through costcap[/bold]")
    product = [f for f in FEATURES if f.service is None]
    features = ", ".join(
        f.name + (f" at {f.service_tier} tier" if f.service_tier else "") for f in product
    )
    services = "; ".join(
        f"{f.service.name} ({f.service.language}, {f.name}: a key of {f.service.budget} and "
        f"{f.service.limit})"
        for f in FEATURES
        if f.service is not None
    )
    console.print(
        f"{calls:,} calls from {users} users. The product's {len(product)} features ({features}) "
        "call the real openai and anthropic SDKs wrapped by costcap (two lines) to costcap's "
        "fake provider. A costcap.toml sets the policy, the budgets (global $4/day, each user "
        "$0.12/day, code $0.30/month soft) and the rate limits (each user 30 calls a minute, "
        "20,000 tokens an hour, 3 in flight); every call is bounded, admitted in one atomic step "
        "on the embedded SQLite store, metered (some users abandon streams mid-answer), settled "
        "with its exact cost and recorded in the cost ledger. The help-centre questions (faq, "
        "temperature 0) are answered from the response cache after their first asking, for $0. "
        "The chat feature names no model: it asks for costcap:auto, and costcap's router sends "
        "each call to claude-haiku-4-5, claude-sonnet-4-6 or claude-opus-4-6 by what its prompt "
        "asks (one tier down for a user past 40 % of a budget).\n"
        "Other teams' services, not written in Python, reach the models through the gateway — "
        "costcap serve, from the same costcap.toml, in front of the same fake provider — as "
        "plain JSON over HTTP with a virtual key each, some streamed: "
        f"{services}. The gateway shares the store and the ledger: the global budget and each "
        "user's budgets and limits count the calls of both paths."
    )
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[gateway]} through the gateway"),
        TextColumn("spent ${task.fields[spent]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("simulating the day", total=calls, spent="0.00", gateway=0)
        through = 0

        def tick(outcome: Outcome, spent_usd: Decimal) -> None:
            nonlocal through
            through += outcome.request.feature.service is not None
            progress.update(task, advance=1, spent=f"{spent_usd:.4f}", gateway=through)

        day = simulate_day(where, calls=calls, users=users, on_progress=tick)
    console.rule("[bold]3. The report[/bold]")
    render_day(console, day)
    console.print(f"\nstore: {day.store_url}\nledger: {day.ledger_url}\nconfig: {day.config}")
