"""The dashboard's query: the range, filters and chart options its page, panels and API take.

``since`` / ``until`` are read as ``costcap report --since / --until`` (a date — whole days, the
end date included — or an ISO datetime), ``user`` / ``feature`` / ``model`` filter the calls,
``granularity`` (day, week, month) sizes the time buckets and ``stack`` (feature, model, user)
splits the spend-over-time chart. A parameter sent empty is as if not sent (a filter form sends
its empty fields); any other parameter is refused, naming the ones allowed.

Each panel reads one ``costcap report`` through :mod:`costcap.report_queries`, with the
parameters of the query that report takes as its options
(:func:`costcap.dashboard._panels.report_params`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from urllib.parse import urlencode

import typer

from costcap.report_queries import Params, bad_request

__all__ = ["FILTERS", "PAGE_PARAMS", "STACKS", "DashboardQuery", "Stack"]

Stack = Literal["feature", "model", "user"]
STACKS: tuple[Stack, ...] = ("feature", "model", "user")
FILTERS = ("user", "feature", "model")
PAGE_PARAMS = ("since", "until", *FILTERS, "granularity", "stack")


def _given(items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The parameters sent with a value (an empty form field is not a filter)."""
    return [(name, value) for name, value in items if value.strip()]


@dataclass(frozen=True)
class DashboardQuery:
    """The page's parameters, checked: every one the CLI would refuse is a 400 here."""

    params: Params
    since: date | datetime | None
    until: date | datetime | None
    user: str | None
    feature: str | None
    model: str | None
    granularity: Literal["day", "week", "month"]
    stack: Stack

    @classmethod
    def read(
        cls, items: Iterable[tuple[str, str]], extra: Sequence[str] = ()
    ) -> tuple[DashboardQuery, Params]:
        """The query from ``items`` (a request's query parameters), and every parameter given
        as :class:`~costcap.report_queries.Params` — ``extra`` names more that are allowed (an
        API route's report options, ``format``)."""
        from costcap.cli.report import when
        from costcap.reports import GRANULARITIES, Query

        given = _given(items)
        every = Params(given, (*PAGE_PARAMS, *extra))
        page = Params([(n, v) for n, v in every.items() if n in PAGE_PARAMS], PAGE_PARAMS)
        grain = page.text("granularity", "day")
        if grain not in GRANULARITIES:
            raise bad_request(
                f"granularity must be one of {', '.join(GRANULARITIES)} (got {grain!r})",
                "granularity",
            )
        stack = page.text("stack", "feature")
        if stack not in STACKS:
            raise bad_request(f"stack must be one of {', '.join(STACKS)} (got {stack!r})", "stack")
        bounds = {}
        for name in ("since", "until"):
            try:
                bounds[name] = when(page.text(name), f"--{name}")
            except typer.BadParameter as exc:  # the CLI's check, named as the parameter
                raise bad_request(f"{name}: {exc.message}", name) from None
        filters = {name: page.text(name) for name in FILTERS}
        try:
            Query.of(bounds["since"], bounds["until"], **filters)  # an empty range, say
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        query = cls(
            page,
            bounds["since"],
            bounds["until"],
            granularity=grain,
            stack=stack,
            **filters,
        )
        return query, every

    def text(self) -> str:
        """The query string of the parameters given (without a leading ``?``)."""
        return urlencode(self.params.items())
