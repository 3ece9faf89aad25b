"""``create_dashboard_app``: the dashboard as one ASGI app (Starlette).

=====================  =========================================================================
``GET ./``             the page: filters, the totals strip and every panel
``GET ./panels``       the inner HTML of ``<main id="panels">`` for the same query (the live
                       refresh swaps it in; ``x-costcap-calls`` and ``x-costcap-refreshed-at``
                       carry what ``<main>``'s ``data-calls`` and ``data-refreshed-at`` say)
``GET ./api/NAME``     ``costcap report NAME --json`` for the same ledger and options
                       (``format=csv``: ``--csv``)
``GET ./static/…``     the page's script and style, from the package
=====================  =========================================================================

Nothing is opened when the app is built: each request opens the ledger read-only, reads its
panels in a worker thread and closes it, so a ledger that appears, or a database that comes
back, is seen on the next request. An empty or missing ledger is a page saying how to start one
(200), a ledger that cannot be reached a page saying so (503); never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from costcap.dashboard._auth import PasswordGate
from costcap.dashboard._charts import ChartCache
from costcap.dashboard._html import document, filters_form, notice, panels_html
from costcap.dashboard._panels import API_NAMES, api_options, read_page, report_params
from costcap.dashboard._query import PAGE_PARAMS, DashboardQuery
from costcap.errors import ConfigError, StoreUnavailable
from costcap.report_queries import REPORTS, Ask, QueryError, Sources, bad_request, read_report
from costcap.reports import NoLedger

__all__ = ["create_dashboard_app", "no_guard_sources"]

log = logging.getLogger("costcap.dashboard")

STATIC = Path(__file__).parent / "static"
_START = (
    "Record some calls to see them here: `make demo` runs a day of traffic into build/demo "
    "(then `costcap dashboard --config build/demo/costcap.toml`), or point the dashboard at "
    "your app's ledger: `[ledger] url` in costcap.toml, or `--ledger URL`."
)
_NO_GUARD = (
    "budgets need the guard's costcap.toml (its budgets and store): start the dashboard with "
    "`costcap dashboard --config costcap.toml`"
)
#: Scripts and styles from this origin only; inline ``style`` attributes (the charts' SVG, the
#: bars' widths) are allowed, inline scripts are not.
_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def no_guard_sources() -> Sources:
    """Sources without costcap.toml: the bundled prices, no budgets (their panel says how to
    get them), the response cache's default thresholds."""
    from costcap.pricing import default_catalog

    def no_guard() -> Any:
        raise QueryError(404, "not_found_error", _NO_GUARD.replace("`", ""))

    return Sources(catalog=default_catalog, guard=no_guard, config=lambda: None)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json_error(status: int, kind: str, message: str, param: str | None = None) -> Response:
    """An OpenAI-style error object, as the gateway's admin API answers."""
    error = {"message": message, "type": kind, "param": param, "code": f"costcap_{kind}"}
    return JSONResponse({"error": error}, status_code=status)


class _Dashboard:
    """The routes, over one ledger URL and the sources its reports read."""

    def __init__(
        self, ledger_url: str | None, sources: Sources, refresh: float, no_ledger: str
    ) -> None:
        self.url, self.sources, self.refresh = ledger_url, sources, refresh
        self.no_ledger = no_ledger
        self.charts = ChartCache()

    def shown_ledger(self) -> str:
        from costcap.reports._open import shown_url

        return "none" if self.url is None else shown_url(self.url)

    # -- the panels, read in a worker thread -------------------------------------------------------

    def view(self, query: DashboardQuery) -> tuple[int, str, int, dict[str, list[str]]]:
        """(status, inner HTML of ``<main>``, calls in the range, the filters' choices)."""
        from costcap.reports import Reports

        if self.url is None:
            return 200, notice("No ledger", [self.no_ledger]), 0, {}
        try:
            reports = Reports.open(self.url)
        except NoLedger as exc:
            return 200, notice("No ledger yet", [str(exc), _START]), 0, {}
        except StoreUnavailable as exc:
            return 503, self._unreachable(exc), 0, {}
        try:
            page = read_page(reports, query, self.sources, self.charts)
        except StoreUnavailable as exc:
            return 503, self._unreachable(exc), 0, {}
        finally:
            reports.close()
        if page.empty:
            lines = [f"The ledger at {self.shown_ledger()} holds no calls yet.", _START]
            return 200, notice("The ledger is empty", lines), 0, {}
        lists = {
            name: [str(r[field]) for r in _data(page.panels[panel].answer) if r.get(field)]
            for name, panel, field in (
                ("feature", "features", "feature"),
                ("user", "users", "user"),
                ("model", "models", "model"),
            )
        }
        return 200, panels_html(page, query.text()), int(page.totals["calls"]), lists

    def _unreachable(self, exc: Exception) -> str:
        lines = [str(exc), f"The ledger is {self.shown_ledger()}."]
        if self.refresh > 0:
            lines.append(f"This page tries again every {self.refresh:g} s.")
        return notice("The ledger is unreachable", lines, kind="error")

    # -- routes ------------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        values = {n: v for n, v in request.query_params.multi_items() if n in PAGE_PARAMS}
        try:
            query, _ = DashboardQuery.read(request.query_params.multi_items())
        except QueryError as exc:
            main = notice("Bad request", [exc.message], kind="error")
            return self._document(main, 0, filters_form(values, {}), exc.status)
        status, main, calls, lists = await anyio.to_thread.run_sync(lambda: self.view(query))
        return self._document(main, calls, filters_form(values, lists), status)

    def _document(self, main: str, calls: int, form: str, status: int) -> Response:
        html = document(
            main=main,
            calls=calls,
            refreshed_at=_now(),
            refresh=self.refresh,
            form=form,
            ledger=self.shown_ledger(),
        )
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    async def panels(self, request: Request) -> Response:
        try:
            query, _ = DashboardQuery.read(request.query_params.multi_items())
        except QueryError as exc:
            status, main, calls = exc.status, notice("Bad request", [exc.message], kind="error"), 0
        else:
            status, main, calls, _ = await anyio.to_thread.run_sync(lambda: self.view(query))
        headers = {
            "cache-control": "no-store",
            "x-costcap-calls": str(calls),
            "x-costcap-refreshed-at": _now(),
        }
        return HTMLResponse(main, status_code=status, headers=headers)

    async def api(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in API_NAMES:
            known = ", ".join(API_NAMES)
            return _json_error(404, "not_found_error", f"no panel {name!r} (api: {known})")
        try:
            return await self._answer(name, request)
        except QueryError as exc:
            return _json_error(exc.status, exc.kind, exc.message, exc.param)
        except StoreUnavailable as exc:
            return _json_error(503, "api_error", str(exc))
        except NoLedger as exc:
            return _json_error(404, "not_found_error", str(exc))
        except ConfigError as exc:  # a ledger of a schema this costcap does not read
            return _json_error(400, "invalid_request_error", str(exc))

    async def _answer(self, name: str, request: Request) -> Response:
        items = request.query_params.multi_items()
        query, given = DashboardQuery.read(items, extra=(*api_options(name), "format"))
        fmt = given.text("format", "json")
        if fmt not in ("json", "csv"):
            raise bad_request(f"format must be json or csv (got {fmt!r})", "format")
        if self.url is None:
            raise QueryError(404, "not_found_error", self.no_ledger)
        params = report_params(name, query, given)
        read, url = REPORTS[API_NAMES[name]][0], self.url
        ask = Ask(params, self.sources)
        found = await anyio.to_thread.run_sync(lambda: read_report(url, read, ask))
        headers = {"cache-control": "no-store"}
        if fmt == "csv":
            headers["content-disposition"] = f'inline; filename="costcap-{name}.csv"'
            return Response(found.csv(), media_type="text/csv; charset=utf-8", headers=headers)
        body = json.dumps(found.data, indent=2) + "\n"  # byte for byte what --json prints
        return Response(body, media_type="application/json", headers=headers)


def _data(answer: Any) -> list[Mapping[str, Any]]:
    return [] if answer is None else list(answer.data)


async def _not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return Response(f"costcap dashboard: {request.method} is not allowed here\n", 405)
    return Response(f"costcap dashboard: no such page: {request.url.path}\n", exc.status_code)


async def _crash(request: Request, exc: Exception) -> Response:
    log.error("costcap dashboard: %s %s failed", request.method, request.url.path, exc_info=exc)
    return Response("costcap dashboard: this request failed (see the dashboard's log)\n", 500)


class _Headers:
    """Adds the security headers to every answer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in _HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


def create_dashboard_app(
    ledger_url: str | None,
    *,
    sources: Sources | None = None,
    refresh: float = 5,
    password: str | None = None,
    no_ledger: str | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> Any:
    """The dashboard over the ledger at ``ledger_url`` (None: there is none; ``no_ledger``
    says how to get one). ``sources``: what the reports read besides the ledger (default:
    :func:`no_guard_sources`); ``refresh``: seconds between live updates (0: none);
    ``password``: every request needs it (HTTP Basic); ``on_shutdown``: called when the ASGI
    server stops (closing a guard opened for the budgets)."""
    dashboard = _Dashboard(
        ledger_url, sources or no_guard_sources(), refresh, no_ledger or _START.replace("`", "")
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if on_shutdown is not None:
                await anyio.to_thread.run_sync(on_shutdown)

    app = Starlette(
        routes=[
            Route("/", dashboard.page, methods=["GET", "HEAD"]),
            Route("/panels", dashboard.panels, methods=["GET", "HEAD"]),
            Route("/api/{name}", dashboard.api, methods=["GET", "HEAD"]),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={HTTPException: _not_found, Exception: _crash},
        lifespan=lifespan,
    )
    wrapped: Any = _Headers(app)
    return wrapped if password is None else PasswordGate(wrapped, password)
