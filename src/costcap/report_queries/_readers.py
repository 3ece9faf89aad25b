"""Every ``costcap report`` read from query parameters: the same :class:`~costcap.reports.Reports`
methods the CLI calls, with the CLI's own option readers (``--since``, ``--useful-hit-rate``…),
turned into what its ``--json`` prints and the rows its ``--csv`` writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import typer

from costcap.cli.rows import record
from costcap.report_queries._answer import Answer, Ask, listed
from costcap.report_queries._params import Params, QueryError, bad_request

if TYPE_CHECKING:
    from costcap.reports import Reports

__all__ = ["FILTERS", "REPORTS", "Read", "answer", "read_report"]

FILTERS = ("since", "until", "user", "feature", "model")
_ANOMALY_OPTIONS = ("k", "min-hour", "min-day", "loop-calls", "loop-minutes")

Read = Callable[["Reports", Ask], Answer]


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


def _features(reports: Reports, ask: Ask) -> Answer:
    from costcap.reports import FeatureSpend

    return listed(reports.by_feature(**_query(ask.params)), FeatureSpend)


def _users(reports: Reports, ask: Ask) -> Answer:
    from costcap.cli.report import MAX_LIMIT
    from costcap.reports import UserSpend

    limit = ask.params.integer("limit")
    limit = ask.users_limit if limit is None else limit
    if not 0 < limit <= MAX_LIMIT:
        raise bad_request(f"limit must be 1..{MAX_LIMIT:,} (got {limit})", "limit")
    return listed(reports.top_users(limit=limit, **_query(ask.params)), UserSpend)


def _per_user(reports: Reports, ask: Ask) -> Answer:
    from costcap.reports import CostPerUser

    summary = reports.cost_per_user(**_query(ask.params))
    return Answer(record(summary), [summary], CostPerUser)


def _models(reports: Reports, ask: Ask) -> Answer:
    from costcap.reports import ModelEfficiency, ModelTierEfficiency

    q = _query(ask.params)
    if ask.params.flag("by-tier"):
        return listed(reports.by_model_tier(**q), ModelTierEfficiency)
    return listed(reports.by_model(**q), ModelEfficiency)


def _time(reports: Reports, ask: Ask) -> Answer:
    from costcap.reports import GRANULARITIES, SpendBucket

    grain = ask.params.text("granularity", "day")
    if grain not in GRANULARITIES:
        raise bad_request(
            f"granularity must be one of {', '.join(GRANULARITIES)} (got {grain!r})", "granularity"
        )
    return listed(reports.over_time(granularity=grain, **_query(ask.params)), SpendBucket)


def _cache(reports: Reports, ask: Ask) -> Answer:
    from costcap.cli.report import cache_rules
    from costcap.reports import FeatureCache

    rate, calls = ask.params.text("useful-hit-rate"), ask.params.integer("advice-after-calls")
    rules = cache_rules(rate, calls, ask.sources.config())  # unset: [cache]'s, else the defaults
    return listed(reports.cache_use(rules=rules, **_query(ask.params)), FeatureCache)


def _refused(reports: Reports, ask: Ask) -> Answer:
    from costcap.reports import RefusedCalls

    return listed(reports.refused(**_query(ask.params)), RefusedCalls)


def _routes(reports: Reports, ask: Ask) -> Answer:
    """Both lists and the assumption in JSON; the CSV of the routes (with ``cascades``: of the
    cascades alone), as ``report routes --csv`` writes."""
    from costcap.reports import CASCADE_ASSUMPTION, CascadeSavings, RouteSpend

    q, only = _query(ask.params), ask.params.flag("cascades")
    spend = [] if only else reports.routes(**q)
    cascades = reports.cascades(catalog=ask.sources.catalog(), **q)
    data: dict[str, Any] = {} if only else {"routes": [record(r) for r in spend]}
    data["cascades"] = [record(row) for row in cascades]
    data["cascade_assumption"] = CASCADE_ASSUMPTION
    if only:
        return Answer(data, cascades, CascadeSavings)
    return Answer(data, spend, RouteSpend)


def _pacing(reports: Reports, ask: Ask) -> Answer:
    from costcap.reports import BudgetPace, pacing

    p = ask.params
    rows = pacing(
        ask.sources.guard(),
        reports=reports,
        user_id=p.text("user"),
        feature=p.text("feature"),
        api_key=p.text("key"),
        model=p.text("model"),
    )
    return listed(rows, BudgetPace)


def _alerts(reports: Reports, ask: Ask) -> Answer:
    from costcap.reports import AlertRecord

    p = ask.params
    limit = p.integer("limit")
    rows = reports.alerts(
        since=_when(p, "since"),
        until=_when(p, "until"),
        kind=p.text("kind"),
        limit=100 if limit is None else limit,
    )
    return listed(rows, AlertRecord)


def _anomalies(reports: Reports, ask: Ask) -> Answer:
    from costcap.cli.options import decimal_option
    from costcap.reports import Anomaly, AnomalyRules

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
    return listed(found, Anomaly)


#: Every ``costcap report`` command: what it reads and the query parameters it takes (named as
#: its options).
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
    "alerts": (_alerts, ("since", "until", "kind", "limit")),
    "anomalies": (_anomalies, (*_ANOMALY_OPTIONS, "until", "user", "feature", "model")),
}


def answer(reports: Reports, read: Read, ask: Ask) -> Answer:
    """One report over an open ledger. A bad range, filter or option — found by the reports or
    by the CLI's option readers — is a 400 naming it; a database with no ledger stays
    :class:`~costcap.reports.NoLedger`."""
    from costcap.reports import NoLedger

    try:
        return read(reports, ask)
    except (NoLedger, QueryError):
        raise
    except typer.BadParameter as exc:  # one of the CLI's option checks, named as the parameter
        hint = exc.param_hint if isinstance(exc.param_hint, str) else None
        param = None if hint is None else hint.removeprefix("--")
        message = exc.message if param is None else f"{param}: {exc.message}"
        raise bad_request(message, param) from None
    except ValueError as exc:  # a bad range, filter or rule; a ledger too old for the report
        raise bad_request(str(exc)) from None


def read_report(url: str, read: Read, ask: Ask) -> Answer:
    """Open the ledger at ``url`` read-only, run one report, close it (blocking: call it from
    a worker thread in a server)."""
    from costcap.reports import Reports

    reports = Reports.open(url)
    try:
        return answer(reports, read, ask)
    finally:
        reports.close()
