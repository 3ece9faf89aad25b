"""``costcap dashboard``: the ledger's reports as a web page that updates itself."""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from costcap.cli.app import app
from costcap.cli.fake_provider import listening
from costcap.cli.options import catalog_from, config_path, require_extra
from costcap.cli.report import Config, Ledger, ledger_url, settings
from costcap.errors import ConfigError

if TYPE_CHECKING:
    from costcap.guard import Guard
    from costcap.report_queries import Sources

__all__ = ["dashboard", "dashboard_app", "serve"]

DEFAULT_PORT = 8710
MAX_REFRESH = 3600


class _Budgets:
    """costcap.toml's Guard, opened when the budgets are first read (only its ``status`` is
    read: a store that does not exist yet is read as empty, not created), closed when the
    dashboard stops."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stack = ExitStack()
        self._guard: Guard | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Guard:
        from costcap.cli.report_watch import _alerting_guard

        with self._lock:
            if self._guard is None:
                self._guard = self._stack.enter_context(_alerting_guard(self._path, alert=False))
            return self._guard

    def close(self) -> None:
        with self._lock:
            self._stack.close()
            self._guard = None


def _sources(path: Path | None) -> tuple[Sources, _Budgets | None]:
    """What the reports read besides the ledger: with costcap.toml its prices, budgets and
    settings; without, the bundled prices and no budgets."""
    from costcap.dashboard import no_guard_sources
    from costcap.report_queries import Sources

    if path is None:
        return no_guard_sources(), None
    budgets = _Budgets(path)
    loaded = functools.cache(lambda: settings(path))
    return Sources(catalog=functools.cache(lambda: catalog_from(path)), guard=budgets,
                   config=loaded), budgets  # fmt: skip


def dashboard_app(url: str, config: Path | None, *, refresh: int, password: str | None) -> Any:
    """The app ``costcap dashboard`` serves: the ledger at ``url``, and with ``config``
    (costcap.toml) its budgets, prices and cache thresholds; its guard closes with the app."""
    from costcap.dashboard import create_dashboard_app

    sources, budgets = _sources(config)
    return create_dashboard_app(
        url,
        sources=sources,
        refresh=refresh,
        password=password,
        on_shutdown=None if budgets is None else budgets.close,
    )


def _password(variable: str | None) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise typer.BadParameter(
            f"${variable} is not set (or is empty): it holds the dashboard's password",
            param_hint="--password-env",
        )
    return value


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.partition("%")[0]).is_loopback
    except ValueError:
        return False


@app.command("dashboard")
def dashboard(
    ledger: Ledger = None,
    config: Config = None,
    host: Annotated[
        str, typer.Option(help="Interface to bind (beyond loopback: --password-env too).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = DEFAULT_PORT,
    refresh: Annotated[
        int, typer.Option(help="Seconds between live updates of the page (0: none).")
    ] = 5,
    password_env: Annotated[
        str | None,
        typer.Option(
            help="A variable holding a password every request must send (HTTP Basic, any "
            "user name); needed to bind beyond loopback."
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "warning",
) -> None:
    """Serve the dashboard: spend over time, by feature, user and model, budgets, alerts,
    refusals, the cache, routing and anomalies, live from the ledger (budgets need
    costcap.toml)."""
    require_extra("dashboard", "costcap dashboard", ("starlette", "uvicorn", "anyio"))
    if not 0 <= port < 65536:
        raise typer.BadParameter(f"must be 0..65535 (got {port})", param_hint="--port")
    if not 0 <= refresh <= MAX_REFRESH:
        raise typer.BadParameter(
            f"must be 0..{MAX_REFRESH} (got {refresh})", param_hint="--refresh"
        )
    if log_level not in ("critical", "error", "warning", "info", "debug", "trace"):
        raise typer.BadParameter(f"not a log level: {log_level!r}", param_hint="--log-level")
    password = _password(password_env)
    path = config_path(config)
    url, _ = ledger_url(ledger, path)
    from costcap.ledger._urls import check_ledger_url
    from costcap.reports._open import shown_url

    check_ledger_url(url)  # a URL that cannot work: one line now, not a page later
    sock = listening(host, port)  # a port in use: one line, exit 2
    bound, chosen = sock.getsockname()[:2]
    if password is None and not _loopback(bound):
        sock.close()
        raise ConfigError(
            f"--host {host} is reachable from other machines: pass --password-env VAR naming a "
            "variable that holds the dashboard's password"
        )
    served = dashboard_app(url, path, refresh=refresh, password=password)
    where = f"http://{host if ':' not in host else f'[{host}]'}:{chosen}/"
    asked = f"; password: ${password_env} (any user name)" if password_env else ""
    typer.echo(f"costcap dashboard on {where} (ledger {shown_url(url)}{asked}); Ctrl+C stops it")
    serve(served, sock, log_level=log_level)


def serve(served: Any, sock: socket.socket, *, log_level: str) -> None:
    """Serve ``served`` on ``sock`` (bound by the caller) until interrupted: Ctrl+C or SIGTERM
    let requests under way finish, then the app's shutdown closes what it opened."""
    import uvicorn

    options = uvicorn.Config(
        served, log_level=log_level, access_log=False, lifespan="on", server_header=False
    )
    with sock:
        uvicorn.Server(options).run(sockets=[sock])
