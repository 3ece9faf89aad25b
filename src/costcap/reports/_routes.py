"""Routing: spend per feature, routing tier and route reason, and whether cascades pay.

The spend comes from the routing rollup (``costcap_rollup_daily_route``; one user's from
``costcap_rollup_daily_user_route``). Cascades come from the events that carry a ``cascade_id``
over the range, read through their partial index on ``ts`` (only cascaded calls have an entry).
Refused calls are left out of cascades: they reached no model. Each cascade's calls are ordered
by time; the first is the cheap tier's, the last the answer that was kept (the *upper* call). A
cascade with more than one call escalated.

**What the cascade saved.** What the cascaded answers cost is every call of every cascade. What
sending each of them straight to the upper tier would have cost is, for an escalated cascade,
its upper call's own cost (that call is what the upper tier charged for the request); for a
cascade that did not escalate, its call's tokens priced at the upper model — the model the
feature's escalations from the same model reached most often (else its escalations' most
frequent upper model), its input re-counted by the tokenizer ratio of
:mod:`costcap.reports._reprice`, its output tokens as they were, at the prices in force now and
its service tier; a cache hit at $0. A feature without an escalation in the range has no known
upper model: its upper cost is unknown (None). Saved = upper cost − cascade cost (negative: the
cascade cost more than going straight to the upper tier).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from costcap.errors import UnknownModel
from costcap.pricing import PriceCatalog
from costcap.reports._range import TimeRange
from costcap.reports._reprice import (
    Tokens,
    band_sql,
    convert,
    group_cost,
    input_cutoffs,
    target_price,
    token_ratio,
)
from costcap.reports._rows import Totals, pct, rate, usd
from costcap.reports._sql import EVENTS, Dialect

__all__ = [
    "CASCADE_ASSUMPTION",
    "CascadeSavings",
    "Escalated",
    "RouteSpend",
    "Single",
    "cascade_savings",
    "cascades_sql",
    "read_cascades",
    "read_single",
    "route_spend",
    "singles_sql",
    "upper_models",
]

CASCADE_ASSUMPTION = (
    "Straight to the upper tier: an escalated cascade costs what its upper (last) call cost; a "
    "cascade that did not escalate costs its call's tokens priced at the upper model its "
    "feature's escalations from that model reached most often (input re-counted by tokenizer "
    "ratio, output tokens as logged, prices in force now, its service tier; a cache hit $0). "
    "Without an escalation in the range a feature's upper model is unknown."
)


@dataclass(frozen=True, slots=True)
class RouteSpend:
    """Spend of one feature's calls at one routing tier for one route reason (``tier`` and
    ``route_reason`` None: a call the router did not route, or recorded before routing).
    ``share_pct`` is of the spend in the report."""

    feature: str | None
    tier: str | None
    route_reason: str | None
    calls: int  # every call, refused ones included
    answered: int  # calls not refused
    refused: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    share_pct: Decimal


@dataclass(frozen=True, slots=True)
class CascadeSavings:
    """One feature's cascades over the range (:mod:`costcap.reports._routes`): ``cascades``
    (distinct cascade ids), ``escalations`` (cascades of more than one call),
    ``escalation_rate`` (escalations ÷ cascades), ``calls`` in them, ``cost_usd`` what they
    cost, ``upper_cost_usd`` what sending each straight to the upper tier would have cost and
    ``saved_usd`` the difference (negative: the cascade cost more); both None when the upper
    model of some cascade is unknown (no escalation to learn it from)."""

    feature: str | None
    cascades: int
    escalations: int
    escalation_rate: Decimal
    calls: int
    cost_usd: Decimal
    upper_cost_usd: Decimal | None
    saved_usd: Decimal | None
    saved_pct: Decimal | None  # saved ÷ upper cost


def route_spend(groups: Mapping[tuple[str, str, str], Totals]) -> list[RouteSpend]:
    """Rows of ``{(feature, tier, reason): totals}``: features by their spend, then a feature's
    rows by spend, calls and names."""
    total = sum(t.cost_pico for t in groups.values())
    by_feature: dict[str, int] = {}
    for (feature, _, _), t in groups.items():
        by_feature[feature] = by_feature.get(feature, 0) + t.cost_pico

    def rank(item: tuple[tuple[str, str, str], Totals]) -> tuple[int, str, int, int, str, str]:
        (feature, tier, reason), t = item
        return (-by_feature[feature], feature, -t.cost_pico, -t.calls, tier, reason)

    return [
        RouteSpend(
            feature=feature or None,
            tier=tier or None,
            route_reason=reason or None,
            calls=t.calls,
            answered=t.answered,
            refused=t.refused,
            input_tokens=t.input_tokens,
            output_tokens=t.output_tokens,
            cost_usd=usd(t.cost_pico),
            share_pct=pct(t.cost_pico, total),
        )
        for (feature, tier, reason), t in sorted(groups.items(), key=rank)
    ]


# -- cascades --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Escalated:
    """Escalated cascades of one feature from one first model to one upper model."""

    feature: str
    first_model: str
    upper_model: str
    cascades: int
    calls: int
    cost_pico: int
    upper_cost_pico: int  # their upper calls' cost


@dataclass(frozen=True, slots=True)
class Single:
    """Cascades of one call (not escalated) of one feature, model and service tier, alike for
    pricing (a cache hit; ``input_floor``: the band of input counts, which sets a long-context
    tier, :func:`costcap.reports._reprice.band_sql`)."""

    feature: str
    model: str
    service_tier: str
    cache_hit: bool
    input_floor: int
    cascades: int
    tokens: Tokens
    cost_pico: int
    most_input: int = 0  # the most input tokens one of them had (0: not read)


def _cascaded(
    dialect: Dialect, span: TimeRange, filters: Sequence[tuple[str, str]], extra: str = ""
) -> tuple[str, list[object]]:
    """The answered calls of cascades in ``span``, numbered in each cascade (``n``, from 1 by
    time) with its size. ``cascade_id IS NOT NULL`` selects the partial index on ``ts``."""
    conditions = ["e.cascade_id IS NOT NULL", "e.status <> 'refused'"]
    params: list[object] = []
    for bound, op in ((span.since, ">="), (span.until, "<")):
        if bound is not None:
            conditions.append(f"e.ts {op} ?")
            params.append(dialect.ts(bound))
    for column, value in filters:
        conditions.append(f"e.{column} = ?")
        params.append(value)
    sql = (
        "SELECT e.cascade_id AS cascade_id, COALESCE(e.feature, '') AS feature, "
        f"e.model AS model, COALESCE(e.service_tier, '') AS service_tier, {extra}"
        "CASE WHEN e.cache_hit THEN 1 ELSE 0 END AS hit, e.input_tokens AS input_tokens, "
        "e.output_tokens AS output_tokens, e.cache_read_tokens AS cache_read_tokens, "
        "e.cache_write_tokens AS cache_write_tokens, e.cost_pico AS cost_pico, "
        "ROW_NUMBER() OVER (PARTITION BY e.cascade_id ORDER BY e.ts, e.request_id) AS n, "
        "COUNT(*) OVER (PARTITION BY e.cascade_id) AS size "
        f"FROM {EVENTS} e WHERE {' AND '.join(conditions)}"
    )
    return sql, params


def cascades_sql(
    dialect: Dialect, span: TimeRange, filters: Sequence[tuple[str, str]] = ()
) -> tuple[str, list[object]]:
    """Every cascade of ``span`` in one read of its calls (numbered once, the two parts reading
    the numbered calls): rows ``('escalated', feature, first model, upper model, '', 0, 0,
    cascades, calls, cost, upper calls' cost, 0, 0)`` per feature (of the first call), first and
    upper model; rows ``('single', feature, model, '', service tier, cache hit, most input
    tokens of a call, cascades, input, output, cache read and cache write tokens, cost)`` of the
    cascades of one call."""
    inner, params = _cascaded(dialect, span, filters)
    sql = (
        f"WITH r AS ({inner}) "
        "SELECT 'escalated', c.feature, c.first_model, c.upper_model, '', 0, 0, COUNT(*), "
        "SUM(c.calls), SUM(c.cost), SUM(c.upper_cost), 0, 0 FROM (SELECT r.cascade_id, "
        "MAX(CASE WHEN r.n = 1 THEN r.feature END) AS feature, "
        "MAX(CASE WHEN r.n = 1 THEN r.model END) AS first_model, "
        "MAX(CASE WHEN r.n = r.size THEN r.model END) AS upper_model, "
        "COUNT(*) AS calls, SUM(r.cost_pico) AS cost, "
        "SUM(CASE WHEN r.n = r.size THEN r.cost_pico ELSE 0 END) AS upper_cost "
        "FROM r WHERE r.size > 1 GROUP BY r.cascade_id) c "
        "GROUP BY c.feature, c.first_model, c.upper_model "
        "UNION ALL "
        "SELECT 'single', r.feature, r.model, '', r.service_tier, r.hit, MAX(r.input_tokens), "
        "COUNT(*), SUM(r.input_tokens), SUM(r.output_tokens), SUM(r.cache_read_tokens), "
        "SUM(r.cache_write_tokens), SUM(r.cost_pico) FROM r WHERE r.size = 1 "
        "GROUP BY r.feature, r.model, r.service_tier, r.hit"
    )
    return dialect.sql(sql), params


def read_cascades(rows: Sequence[Sequence[object]]) -> tuple[list[Escalated], list[Single]]:
    """The rows of :func:`cascades_sql`: escalated cascades, and cascades of one call."""
    escalated, singles = [], []
    for kind, feature, model, upper, service_tier, hit, most, *counts in rows:
        a, b, c, d, e, f = (int(v or 0) for v in counts)  # type: ignore[call-overload]
        if kind == "escalated":
            escalated.append(Escalated(str(feature), str(model), str(upper), a, b, c, d))
        else:
            singles.append(
                Single(
                    str(feature), str(model), str(service_tier), bool(hit), 0, a,
                    Tokens(b, c, d, e), f, most_input=int(most),  # type: ignore[call-overload]
                )
            )  # fmt: skip
    return escalated, singles


def singles_sql(
    dialect: Dialect,
    span: TimeRange,
    filters: Sequence[tuple[str, str]],
    cutoffs: Sequence[int],
    only: Sequence[Single],
) -> tuple[str, list[object]]:
    """Cascades of one call of the groups ``only`` (of :func:`cascades_sql`), grouped again by
    the band of ``cutoffs`` their input is in: how many, their token sums and cost."""
    inner, params = _cascaded(dialect, span, filters, f"{band_sql(cutoffs)} AS band, ")
    one = "(r.feature = ? AND r.model = ? AND r.service_tier = ? AND r.hit = ?)"
    only_params: list[object] = []
    for s in only:
        only_params += [s.feature, s.model, s.service_tier, int(s.cache_hit)]
    sql = (
        "SELECT r.feature, r.model, r.service_tier, r.hit, r.band, COUNT(*), "
        "SUM(r.input_tokens), SUM(r.output_tokens), SUM(r.cache_read_tokens), "
        "SUM(r.cache_write_tokens), SUM(r.cost_pico) "
        f"FROM ({inner}) r WHERE r.size = 1 AND ({' OR '.join([one] * len(only))}) "
        "GROUP BY r.feature, r.model, r.service_tier, r.hit, r.band"
    )
    return dialect.sql(sql), [*params, *only_params]


def read_single(row: Sequence[object]) -> Single:
    feature, model, service_tier, hit, band, *counts = row
    cascades, inp, out, read, write, cost = (int(v or 0) for v in counts)  # type: ignore[call-overload]
    return Single(
        str(feature), str(model), str(service_tier), bool(hit), int(band),  # type: ignore[call-overload]
        cascades, Tokens(inp, out, read, write), cost,
    )  # fmt: skip


def upper_models(escalated: Sequence[Escalated]) -> dict[tuple[str, str | None], str]:
    """The upper model of a feature's cascades from a first model (key ``(feature, model)``),
    and of the feature's cascades at all (key ``(feature, None)``): the one reached by most
    escalated cascades (ties: the name first in order)."""
    counts: dict[tuple[str, str | None], dict[str, int]] = {}
    for e in escalated:
        for key in ((e.feature, e.first_model), (e.feature, None)):
            seen = counts.setdefault(key, {})
            seen[e.upper_model] = seen.get(e.upper_model, 0) + e.cascades
    return {k: min(v.items(), key=lambda item: (-item[1], item[0]))[0] for k, v in counts.items()}


def upper_of(uppers: Mapping[tuple[str, str | None], str], feature: str, model: str) -> str | None:
    return uppers.get((feature, model)) or uppers.get((feature, None))


def long_singles(
    catalog: PriceCatalog, escalated: Sequence[Escalated], singles: Sequence[Single]
) -> tuple[list[Single], list[int]]:
    """The groups of ``singles`` with a call that may cross a long-context threshold of the
    upper model it is priced at, and the input cutoffs to read them again by
    (:func:`costcap.reports._reprice.input_cutoffs`)."""
    uppers = upper_models(escalated)
    long: list[Single] = []
    cutoffs: set[int] = set()
    for s in singles:
        upper = upper_of(uppers, s.feature, s.model)
        if upper is None or s.cache_hit:
            continue
        try:
            price = target_price(catalog, upper, s.service_tier)
        except UnknownModel:
            continue
        found = input_cutoffs([(price, token_ratio(s.model, upper))])
        if found and s.most_input >= found[0]:
            long.append(s)
            cutoffs.update(found)
    return long, sorted(cutoffs)


@dataclass
class _Feature:
    cascades: int = 0
    escalations: int = 0
    calls: int = 0
    cost: int = 0
    upper: int = 0
    unknown: bool = False


def cascade_savings(
    escalated: Sequence[Escalated], singles: Sequence[Single], catalog: PriceCatalog
) -> list[CascadeSavings]:
    """One row per feature with cascades, the most cascades first (then by name)."""
    uppers = upper_models(escalated)
    features: dict[str, _Feature] = {}
    for e in escalated:
        f = features.setdefault(e.feature, _Feature())
        f.cascades += e.cascades
        f.escalations += e.cascades
        f.calls += e.calls
        f.cost += e.cost_pico
        f.upper += e.upper_cost_pico
    for s in singles:
        f = features.setdefault(s.feature, _Feature())
        f.cascades += s.cascades
        f.calls += s.cascades
        f.cost += s.cost_pico
        upper = upper_of(uppers, s.feature, s.model)
        if s.cache_hit:
            continue
        if upper is None:
            f.unknown = True
            continue
        try:
            price = target_price(catalog, upper, s.service_tier)
        except UnknownModel:
            f.unknown = True
            continue
        ratio = token_ratio(s.model, upper)
        per_call = round(s.input_floor * ratio)
        tokens = convert(s.tokens, ratio)
        f.upper += group_cost(price, s.cascades, tokens, per_call)
    rows = []
    for feature, f in sorted(features.items(), key=lambda item: (-item[1].cascades, item[0])):
        known = None if f.unknown else f.upper
        rows.append(
            CascadeSavings(
                feature=feature or None,
                cascades=f.cascades,
                escalations=f.escalations,
                escalation_rate=rate(f.escalations, f.cascades),
                calls=f.calls,
                cost_usd=usd(f.cost),
                upper_cost_usd=None if known is None else usd(known),
                saved_usd=None if known is None else usd(known - f.cost),
                saved_pct=pct(known - f.cost, known) if known else None,
            )
        )
    return rows
