"""``/admin/reports/{name}`` and ``/admin/usage``: the ledger's reports, as JSON.

Each report answers what ``costcap report NAME --json`` prints for the same ledger and the
same options, given as query parameters named as the options (``?since=2026-03-01&by-tier=true``;
``by_tier`` reads the same). They are read through :mod:`costcap.report_queries`, the
dashboard's path too, with the gateway's prices, guard and costcap.toml as their sources. Every
read runs in a worker thread; the ledger is the one ``[ledger] url`` names, opened read-only
for each request.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio.from_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from costcap.gateway._admin_http import AdminError, Params, bad_request, blocking, json_response
from costcap.gateway._app import GatewayState
from costcap.report_queries import FILTERS, REPORTS, Ask, Read, Sources, read_report

if TYPE_CHECKING:
    from costcap import admission as adm
    from costcap.config import GuardConfig
    from costcap.guard import AsyncGuard, Guard

__all__ = ["REPORTS", "ThreadGuard", "gateway_sources", "report_routes"]

_USAGE = {"user": "users", "feature": "features", "model": "models"}
_NO_LEDGER = (
    'this gateway keeps no ledger: set [ledger] url = "sqlite:///costcap-ledger.db" (or '
    "postgresql://…) in costcap.toml and restart it"
)


class _Config:
    """costcap.toml as the guard's settings, read once, when a report first needs them (its
    webhooks closed at once: nothing is sent from here)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._loaded: GuardConfig | None = None

    def __call__(self) -> GuardConfig:
        if self._loaded is None:
            from costcap.config import load_config

            loaded = load_config(self._path)
            for notifier in loaded.notifiers:
                close = getattr(notifier, "close", None)
                if callable(close):
                    close()
            self._loaded = loaded
        return self._loaded


class ThreadGuard:
    """The face of the gateway's AsyncGuard that :func:`costcap.reports.pacing` reads (its
    clock, budgets and ``status``), for a worker thread: each status read runs on the event
    loop, against the gateway's own store."""

    def __init__(self, guard: AsyncGuard) -> None:
        self._guard = guard
        self.clock = guard.clock
        self.budgets = guard.budgets

    def status(self, **scope: str | None) -> list[adm.BudgetStatus]:
        return anyio.from_thread.run(functools.partial(self._guard.status, **scope))


def gateway_sources(state: GatewayState) -> Sources:
    """What the reports read besides the ledger, here: the guard's prices, the guard itself
    (its store's counters, read on the event loop) and costcap.toml."""
    return Sources(
        catalog=lambda: state.guard.catalog,
        guard=lambda: cast("Guard", ThreadGuard(state.guard)),
        config=_Config(state.settings.config),
    )


def report_routes(state: GatewayState) -> list[Route]:
    sources = gateway_sources(state)

    async def run(read: Read, ask: Ask) -> Any:
        url = state.ledger_url
        if url is None:
            raise AdminError(404, "not_found_error", _NO_LEDGER)
        return (await blocking(lambda: read_report(url, read, ask))).data

    async def report(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in REPORTS:
            raise AdminError(
                404,
                "not_found_error",
                f"no report {name!r} (reports: {', '.join(REPORTS)})",
            )
        read, allowed = REPORTS[name]
        return json_response(await run(read, Ask(Params(request, allowed), sources)))

    async def usage(request: Request) -> Response:
        from costcap.cli.report import MAX_LIMIT

        params = Params(request, ("by", *FILTERS, "limit"))
        by = params.text("by")
        if by == "key":
            raise bad_request(
                "by=key: the ledger keeps no spend per virtual key yet; a key's budgets now: "
                "GET /admin/budgets?key={id}",
                "by",
            )
        if by not in _USAGE:
            raise bad_request(f"by must be one of {', '.join(_USAGE)} (got {by!r})", "by")
        read = REPORTS[_USAGE[by]][0]
        if by != "user" and params.integer("limit") is not None:
            raise bad_request("limit applies to by=user only", "limit")
        rows = await run(read, Ask(params, sources, users_limit=MAX_LIMIT))
        return json_response({"by": by, "rows": rows})

    return [
        Route("/reports/{name}", report, methods=["GET"]),
        Route("/usage", usage, methods=["GET"]),
    ]
