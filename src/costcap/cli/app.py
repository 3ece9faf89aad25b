"""The ``costcap`` command: a typer app run without click's standalone mode, so that every bad
input ends as exit code 2 and one readable line on stderr (never a traceback or a usage box)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any

import typer

from costcap.errors import CostcapError

__all__ = ["app", "run"]

app = typer.Typer(
    name="costcap",
    help="Keep LLM spend bounded: exact costs, budgets, rate limits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_BAD_INPUT = 2


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"costcap {_installed_version()}\n")
        raise typer.Exit(0)


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("costcap")
    except PackageNotFoundError:  # run from a source tree that is not installed
        from costcap import __version__

        return __version__


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_version, help="Print the version and exit."
    ),
) -> None:
    """Keep LLM spend bounded: exact costs, budgets, rate limits."""


def _register() -> None:
    # Commands live in their own modules; importing them registers them on `app`.
    from costcap.cli import (  # noqa: F401
        budgets,
        dashboard,
        demo,
        estimate,
        fake_provider,
        keys,
        prices,
        report,
        report_alerts,
        report_chart,
        report_watch,
        route,
        serve,
        whatif,
    )


def fail(message: str) -> int:
    """Write one line to stderr and return the bad-input exit code."""
    line = f"costcap: error: {message}".encode(errors="backslashreplace").decode()
    sys.stderr.write(f"{line}\n")
    return EXIT_BAD_INPUT


def _not_text(argv: Sequence[str]) -> str | None:
    """The first argument that is not UTF-8 text (bytes a shell passed through), if any."""
    for arg in argv:
        try:
            arg.encode()
        except UnicodeEncodeError:
            return arg
    return None


def _plain_flags(command: Any) -> None:
    """Show flags (``--json``, ``--help``) without a value in help: typer labels every bool
    option ``<bool>``, which reads as if it took one. (Duck-typed: typer builds on click or on
    its own copy of it, depending on its version.)"""
    ctx = command.context_class(command)
    for param in command.get_params(ctx):
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _plain_flags(sub)


@functools.cache
def command_tree() -> Any:
    """The click command behind ``costcap``, every subcommand registered (built once)."""
    _register()
    command = typer.main.get_command(app)
    _plain_flags(command)
    return command


def run(argv: Sequence[str]) -> int:
    """Run the CLI with ``argv`` and return the exit code (tests call this directly)."""
    bad = _not_text(argv)
    if bad is not None:
        return fail(f"argument {bad!r} is not UTF-8 text")
    command = command_tree()
    try:
        result = command.main(args=list(argv), prog_name="costcap", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return fail("aborted")
    except typer.TyperException as exc:  # usage errors: bad option, bad value, missing argument
        format_message = getattr(exc, "format_message", None)
        text = format_message() if callable(format_message) else str(exc)
        line = " ".join(str(text).split())
        # no message: a group run without a command, whose help was just shown
        return fail(line or "missing command (listed above)")
    except CostcapError as exc:
        return fail(str(exc))
    except BrokenPipeError:
        return 0
    return result if isinstance(result, int) else 0
