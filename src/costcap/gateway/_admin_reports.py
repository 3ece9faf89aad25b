"""``/admin/reports/{name}`` and ``/admin/usage``: the ledger's reports, as JSON.

Each report answers what ``costcap report NAME --json`` prints for the same ledger and the
same options, given as query parameters named as the options (``?since=2026-03-01&by-tier=true``;
``by_tier`` reads the same). The same :class:`costcap.reports.Reports` methods produce the rows,
and the CLI's own ``record`` turns them into JSON. Every read runs in a worker thread; the
ledger is the one ``[ledger] url`` names, opened read-only for each request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio.from_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from costcap.cli.rows import record
from costcap.gateway._admin_http import AdminError, Params, bad_request, blocking, json_response
from costcap.gateway._app import GatewayState

if TYPE_CHECKING:
    from costcap import admission as adm
    from costcap.config import GuardConfig
    from costcap.guard import AsyncGuard, Guard
    from costcap.reports import Reports

__all__ = ["REPORTS", "report_routes"]

FILTERS = ("since", "until", "user", "feature", "model")
_ANOMALY_OPTIONS = ("k", "min-hour", "min-day", "loop-calls", "loop-minutes")
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


@dataclass(frozen=True)
class _Ask:
    """What a report reads besides the ledger: the query's parameters and the gateway."""

    params: Params
    state: GatewayState
    config: _Config
    users_limit: int = 10  # ``report users`` lists 10 by default; ``/admin/usage`` every user


Read = Callable[["Reports", _Ask], Any]


def _when(params: Params, name: str) -> date | datetime | None:
    """``since`` / ``until``, read as the CLI reads ``--since`` / ``--until``."""
    from costcap.cli.report import when

    return when(params.text(name), f"--{name}")


def _query(params: Params) -> dict[str, Any]:
    """``since``, ``until``, ``user``, ``feature``, ``model``: what every spend report takes."""
    return {
        "since": _when(params, "since"),
        "until": _when(params, "until"),
        **{name: params.text(name) for name in ("user", "feature", "model")},
    }


def _features(reports: Reports, ask: _Ask) -> Any:
    return [record(row) for row in reports.by_feature(**_query(ask.params))]


def _users(reports: Reports, ask: _Ask) -> Any:
    from costcap.cli.report import MAX_LIMIT

    limit = ask.params.integer("limit")
    limit = ask.users_limit if limit is None else limit
    if not 0 < limit <= MAX_LIMIT:
        raise bad_request(f"limit must be 1..{MAX_LIMIT:,} (got {limit})", "limit")
    return [record(row) for row in reports.top_users(limit=limit, **_query(ask.params))]


def _per_user(reports: Reports, ask: _Ask) -> Any:
    return record(reports.cost_per_user(**_query(ask.params)))


def _models(reports: Reports, ask: _Ask) -> Any:
    q = _query(ask.params)
    by_tier = ask.params.flag("by-tier")
    return [record(r) for r in (reports.by_model_tier(**q) if by_tier else reports.by_model(**q))]


def _time(reports: Reports, ask: _Ask) -> Any:
    from costcap.reports import GRANULARITIES

    grain = ask.params.text("granularity", "day")
    if grain not in GRANULARITIES:
        raise bad_request(
            f"granularity must be one of {', '.join(GRANULARITIES)} (got {grain!r})", "granularity"
        )
    rows = reports.over_time(granularity=grain, **_query(ask.params))
    return [record(row) for row in rows]


def _cache(reports: Reports, ask: _Ask) -> Any:
    from costcap.cli.report import cache_rules

    rate, calls = ask.params.text("useful-hit-rate"), ask.params.integer("advice-after-calls")
    rules = cache_rules(rate, calls, ask.config())  # unset: [cache]'s, else the defaults
    return [record(row) for row in reports.cache_use(rules=rules, **_query(ask.params))]


def _refused(reports: Reports, ask: _Ask) -> Any:
    return [record(row) for row in reports.refused(**_query(ask.params))]


def _routes(reports: Reports, ask: _Ask) -> Any:
    from costcap.reports import CASCADE_ASSUMPTION

    q, only = _query(ask.params), ask.params.flag("cascades")
    data: dict[str, Any] = {} if only else {"routes": [record(r) for r in reports.routes(**q)]}
    cascades = reports.cascades(catalog=ask.state.guard.catalog, **q)
    data["cascades"] = [record(row) for row in cascades]
    data["cascade_assumption"] = CASCADE_ASSUMPTION
    return data


class _ThreadGuard:
    """The face of the gateway's AsyncGuard that :func:`costcap.reports.pacing` reads (its
    clock, budgets and ``status``), for a worker thread: each status read runs on the event
    loop, against the gateway's own store."""

    def __init__(self, guard: AsyncGuard) -> None:
        self._guard = guard
        self.clock = guard.clock
        self.budgets = guard.budgets

    def status(self, **scope: str | None) -> list[adm.BudgetStatus]:
        return anyio.from_thread.run(functools.partial(self._guard.status, **scope))


def _pacing(reports: Reports, ask: _Ask) -> Any:
    from costcap.reports import pacing

    p = ask.params
    guard = cast("Guard", _ThreadGuard(ask.state.guard))
    rows = pacing(
        guard,
        reports=reports,
        user_id=p.text("user"),
        feature=p.text("feature"),
        api_key=p.text("key"),
        model=p.text("model"),
    )
    return [record(row) for row in rows]


def _anomalies(reports: Reports, ask: _Ask) -> Any:
    from costcap.cli.options import decimal_option
    from costcap.reports import AnomalyRules

    p = ask.params
    at = _when(p, "until")
    if at is not None and not isinstance(at, datetime):
        raise bad_request("until: give an ISO datetime (2026-03-05T14:00Z), not a date", "until")
    numbers = {
        name: decimal_option(p.text(name, default), name=name)
        for name, default in (("k", "5"), ("min-hour", "1"), ("min-day", "10"))
    }
    calls, minutes = p.integer("loop-calls"), p.integer("loop-minutes")
    rules = AnomalyRules(
        k=numbers["k"],  # type: ignore[arg-type]  # never None: each has a default
        min_hour_usd=numbers["min-hour"],  # type: ignore[arg-type]
        min_day_usd=numbers["min-day"],  # type: ignore[arg-type]
        loop_calls=20 if calls is None else calls,
        loop_minutes=10 if minutes is None else minutes,
    )
    found = reports.anomalies(
        at=at, rules=rules, user=p.text("user"), feature=p.text("feature"), model=p.text("model")
    )
    return [record(row) for row in found]


#: Every ``costcap report`` command: what it reads and the query parameters it takes.
REPORTS: dict[str, tuple[Read, tuple[str, ...]]] = {
    "features": (_features, FILTERS),
    "users": (_users, (*FILTERS, "limit")),
    "per-user": (_per_user, FILTERS),
    "models": (_models, (*FILTERS, "by-tier")),
    "time": (_time, (*FILTERS, "granularity")),
    "cache": (_cache, (*FILTERS, "useful-hit-rate", "advice-after-calls")),
    "refused": (_refused, FILTERS),
    "routes": (_routes, (*FILTERS, "cascades")),
    "pacing": (_pacing, ("user", "feature", "key", "model")),
    "anomalies": (_anomalies, (*_ANOMALY_OPTIONS, "until", "user", "feature", "model")),
}


def _read(url: str, read: Read, ask: _Ask) -> Any:
    """Open the ledger read-only, run one report, close it (in a worker thread)."""
    from costcap.reports import NoLedger, Reports

    reports = Reports.open(url)
    try:
        return read(reports, ask)
    except (NoLedger, AdminError):
        raise
    except ValueError as exc:  # a bad range, filter or rule, found by the reports
        raise bad_request(str(exc)) from None
    finally:
        reports.close()


def report_routes(state: GatewayState) -> list[Route]:
    config = _Config(state.settings.config)

    async def run(read: Read, ask: _Ask) -> Any:
        url = state.ledger_url
        if url is None:
            raise AdminError(404, "not_found_error", _NO_LEDGER)
        return await blocking(lambda: _read(url, read, ask))

    async def report(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in REPORTS:
            raise AdminError(
                404,
                "not_found_error",
                f"no report {name!r} (reports: {', '.join(REPORTS)})",
            )
        read, allowed = REPORTS[name]
        return json_response(await run(read, _Ask(Params(request, allowed), state, config)))

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
        rows = await run(read, _Ask(params, state, config, users_limit=MAX_LIMIT))
        return json_response({"by": by, "rows": rows})

    return [
        Route("/reports/{name}", report, methods=["GET"]),
        Route("/usage", usage, methods=["GET"]),
    ]
