"""The dashboard's panels: which ``costcap report`` each shows, and reading them all for a page.

Every panel is one report of :data:`costcap.report_queries.REPORTS`, read with the page's query
turned into that report's options (:func:`report_params`): the panel, its ``api/NAME`` JSON and
CSV, and ``costcap report NAME`` with the same options all show the same figures. The reports
read the ledger's rollups; the page opens the ledger once and reads every panel from it.

A panel that cannot be read says why in its card (budgets without costcap.toml, routes on a
ledger older than routing, a store that is down) and the other panels are still shown.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from costcap.cli.rows import Column
from costcap.dashboard._charts import ChartCache, inline_svg
from costcap.dashboard._query import FILTERS, PAGE_PARAMS, DashboardQuery
from costcap.errors import CostcapError
from costcap.report_queries import REPORTS, Answer, Ask, Params, QueryError, Sources, answer

if TYPE_CHECKING:
    from costcap.reports import Reports

__all__ = ["API_NAMES", "PANELS", "Page", "Panel", "Shown", "read_page", "report_params"]

log = logging.getLogger("costcap.dashboard")

_RANGE = ("since", "until")
_SPEND = (*_RANGE, *FILTERS)


@dataclass(frozen=True)
class Panel:
    """A card of the page: ``report`` is the ``costcap report`` it shows (a
    :data:`~costcap.report_queries.REPORTS` name), ``takes`` the page parameters passed on to
    it, ``key`` the fields of a row that name it (joined by ``|``), ``columns`` what its table
    shows, as the CLI's tables do: (header, field, kind)."""

    name: str
    title: str
    report: str
    takes: tuple[str, ...]
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    note: str = ""  # what the panel is not filtered by


PANELS: tuple[Panel, ...] = (
    Panel("time", "Spend over time", "time", (*_SPEND, "granularity"), ("start",), (
        ("from", "start", "text"), ("calls", "calls", "count"), ("refused", "refused", "count"),
        ("cache hits", "cache_hits", "count"), ("spend", "cost_usd", "money"),
        ("saved", "saved_usd", "money"),
    )),
    Panel("features", "Spend by feature", "features", _SPEND, ("feature",), (
        ("feature", "feature", "text"), ("calls", "calls", "count"),
        ("refused", "refused", "count"), ("spend", "cost_usd", "money"),
        ("share", "share_pct", "pct"),
    )),
    Panel("users", "Top users", "users", _SPEND, ("user",), (
        ("user", "user", "text"), ("calls", "calls", "count"), ("refused", "refused", "count"),
        ("spend", "cost_usd", "money"), ("$ / call", "cost_per_answered_usd", "money"),
        ("share", "share_pct", "pct"),
    )),
    Panel("models", "Models", "models", _SPEND, ("model",), (
        ("model", "model", "text"), ("calls", "calls", "count"),
        ("answered", "answered", "count"),
        ("in tok / call", "input_tokens_per_answered", "tokens"),
        ("out tok / call", "output_tokens_per_answered", "tokens"),
        ("spend", "cost_usd", "money"), ("$ / call", "cost_per_answered_usd", "money"),
    ), note="averages per answered call"),
    Panel("budgets", "Budgets", "pacing", FILTERS, ("budget", "member"), (
        ("budget", "budget", "text"), ("member", "member", "text"),
        ("period", "bucket", "text"), ("spent", "spent_usd", "money"),
        ("reserved", "reserved_usd", "money"), ("limit", "limit_usd", "money"),
        ("status", "status", "tag"), ("projected", "projected_usd", "money"),
        ("runs out", "exhausts_at", "time"),
    ), note="now, whatever the range"),
    Panel("alerts", "Alerts fired", "alerts", _RANGE, ("at", "budget"), (
        ("fired", "at", "time"), ("kind", "kind", "text"), ("budget", "budget", "text"),
        ("member", "member", "text"), ("period", "period", "text"),
        ("pct", "threshold_pct", "pct"), ("spent", "spent_usd", "money"),
        ("limit", "limit_usd", "money"),
    ), note="not filtered by user, feature or model"),
    Panel("refused", "Refusals by reason", "refused", _SPEND, ("reason",), (
        ("reason", "reason", "text"), ("kind", "category", "text"), ("calls", "calls", "count"),
        ("users", "users", "count"), ("last", "last_at", "time"),
    )),
    Panel("cache", "Response cache", "cache", _SPEND, ("feature",), (
        ("feature", "feature", "text"), ("cacheable", "cacheable", "count"),
        ("hits", "cache_hits", "count"), ("hit rate", "hit_rate", "rate"),
        ("saved", "saved_usd", "money"), ("advice", "advice", "text"),
    )),
    Panel("routes", "Routing tiers", "routes", _SPEND, ("feature", "tier", "route_reason"), (
        ("feature", "feature", "text"), ("tier", "tier", "text"),
        ("reason", "route_reason", "text"), ("calls", "calls", "count"),
        ("refused", "refused", "count"), ("spend", "cost_usd", "money"),
        ("share", "share_pct", "pct"),
    )),
    Panel("anomalies", "Anomalies and runaway loops", "anomalies", FILTERS, ("kind", "member"), (
        ("kind", "kind", "tag"), ("scope", "scope", "text"), ("member", "member", "text"),
        ("window", "window", "text"), ("spend", "spend_usd", "money"),
        ("median", "baseline_usd", "money"), ("threshold", "threshold_usd", "money"),
        ("calls", "calls", "count"),
    ), note="now, against the week before, whatever the range"),
)  # fmt: skip

#: ``api/NAME``: each panel's report, and the cost-per-user figures the users panel shows.
API_NAMES: dict[str, str] = {**{p.name: p.report for p in PANELS}, "per-user": "per-user"}
_PER_USER_TAKES = _SPEND
_STACK_TOP = 8


def report_params(name: str, query: DashboardQuery, given: Params | None = None) -> Params:
    """The options of ``api/NAME``'s report: the page's parameters it takes, and the report's
    own options ``given`` (its ``limit``, ``by-tier``…)."""
    report = API_NAMES[name]
    takes = next((p.takes for p in PANELS if p.name == name), _PER_USER_TAKES)
    items = [(n, v) for n, v in query.params.items() if n in takes]
    if given is not None:
        items += [(n, v) for n, v in given.items() if n not in PAGE_PARAMS and n != "format"]
    return Params(items, REPORTS[report][1])


def api_options(name: str) -> tuple[str, ...]:
    """The report's own options ``api/NAME`` takes besides the page's parameters."""
    return tuple(o for o in REPORTS[API_NAMES[name]][1] if o not in PAGE_PARAMS)


@dataclass(frozen=True)
class Shown:
    """What a panel shows: its report's answer, or why there is none."""

    answer: Answer | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # charts, the cost-per-user figures


@dataclass(frozen=True)
class Page:
    """Every panel of one page, read from one ledger. ``empty``: the ledger holds no call at
    all (not just none in the range)."""

    panels: dict[str, Shown]
    totals: dict[str, Any]
    empty: bool = False


def _attempt(work: Callable[[], Any], what: str) -> tuple[Any, str | None]:
    """``work()``, or None and the reason it failed, said for the page: a costcap error's own
    message; anything else is logged in full and the page says where to look."""
    try:
        return work(), None
    except QueryError as exc:
        return None, exc.message
    except CostcapError as exc:  # a store down, a ledger too old for the report
        return None, str(exc)
    except Exception:  # one panel's failure must not take the page down
        log.exception("costcap dashboard: the %s panel failed", what)
        return None, f"the {what} panel could not be read (see the dashboard's log)"


def _totals(rows: Sequence[Any]) -> dict[str, Any]:
    """The range's totals from its time buckets (the same rollup rows, summed)."""
    from decimal import Decimal

    return {
        "cost_usd": sum((r.cost_usd for r in rows), Decimal(0)),
        "calls": sum(r.calls for r in rows),
        "refused": sum(r.refused for r in rows),
        "saved_usd": sum((r.saved_usd for r in rows), Decimal(0)),
    }


def _time_chart(reports: Reports, query: DashboardQuery, charts: ChartCache) -> str:
    from costcap.charts import spend_over_time_chart

    rows = reports.over_time_by(
        by=query.stack,
        top=_STACK_TOP,
        granularity=query.granularity,
        since=query.since,
        until=query.until,
        user=query.user,
        feature=query.feature,
        model=query.model,
    )
    first = query.since if query.since is None else _day(query.since)
    last = query.until if query.until is None else _day(query.until)
    key = ("time", query.granularity, query.stack, first, last, tuple(rows))

    def draw() -> str:
        svg = spend_over_time_chart(
            rows, granularity=query.granularity, by=query.stack, first=first, last=last
        )
        label = f"Spend per {query.granularity} by {query.stack}"
        return inline_svg(svg, prefix="time-chart", label=label)

    return charts.get(key, draw)


def _day(value: Any) -> Any:
    return value.date() if isinstance(value, datetime) else value


def _features_chart(shown: Answer, charts: ChartCache) -> str:
    from costcap.charts import by_feature_chart

    rows = tuple(shown.rows)

    def draw() -> str:
        return inline_svg(by_feature_chart(rows), prefix="features-chart", label="Spend by feature")

    return charts.get(("features", rows), draw)


def read_page(
    reports: Reports, query: DashboardQuery, sources: Sources, charts: ChartCache
) -> Page:
    """Every panel over ``reports`` for ``query`` (blocking: run it in a worker thread)."""

    def read(name: str) -> Answer:
        read_one = REPORTS[API_NAMES[name]][0]
        return answer(reports, read_one, Ask(report_params(name, query), sources))

    time = read("time")  # first: a ledger that cannot be read fails the page here, not a card
    totals = _totals(time.rows)
    if not totals["calls"] and not reports.totals().calls:
        return Page({}, totals, empty=True)
    panels: dict[str, Shown] = {}
    for panel in PANELS:
        if panel.name == "time":
            panels["time"] = Shown(time)
            continue
        found, error = _attempt(functools.partial(read, panel.name), panel.name)
        panels[panel.name] = Shown(found, error)
    extra = panels["time"].extra
    extra["chart"], extra["chart_error"] = _attempt(
        lambda: _time_chart(reports, query, charts), "time chart"
    )
    features = panels["features"]
    if features.answer is not None:
        features.extra["chart"], features.extra["chart_error"] = _attempt(
            lambda: _features_chart(features.answer, charts),  # type: ignore[arg-type]
            "features chart",
        )
    panels["users"].extra["per_user"], _ = _attempt(lambda: read("per-user").data, "per-user")
    return Page(panels, totals)
