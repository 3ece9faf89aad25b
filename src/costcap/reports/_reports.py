"""``Reports``: the ledger's analytics, as methods that return lists of frozen rows.

Every method takes the same keyword filters: ``since`` / ``until`` (dates — whole days, the end
date included — or aware datetimes, ``until`` excluded), ``user``, ``feature`` and ``model``.
The SQL lives in :mod:`costcap.reports._sql`, the arithmetic in pure functions
(:mod:`costcap.reports._spend`); this class only moves rows between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any, Literal

from costcap.errors import ConfigError, UnknownModel
from costcap.ledger import LedgerSink
from costcap.ledger._migrate import VERSION_QUERY
from costcap.ledger._schema import DAILY_ROUTE, DAILY_TIER, MEASURES_SINCE, ROLLUPS
from costcap.pricing import PriceCatalog, default_catalog
from costcap.reports._alerts import AlertQuery, AlertRecord, read_alerts
from costcap.reports._anomalies import find_anomalies
from costcap.reports._cache import CacheRules, feature_cache, never_asked
from costcap.reports._detect import AnomalyRules
from costcap.reports._open import open_readonly, shown_url
from costcap.reports._range import Granularity, TimeRange
from costcap.reports._refused import refused_calls
from costcap.reports._repeats import read_repeats
from costcap.reports._reprice import input_cutoffs, target_price, token_ratio
from costcap.reports._routes import (
    CascadeSavings,
    RouteSpend,
    cascade_savings,
    cascades_sql,
    long_singles,
    read_cascades,
    read_single,
    route_spend,
    singles_sql,
)
from costcap.reports._rows import (
    MEASURE_NAMES,
    Anomaly,
    CacheSavings,
    CostPerUser,
    FeatureCache,
    FeatureSpend,
    ModelEfficiency,
    ModelTierEfficiency,
    RefusedCalls,
    SpendBucket,
    StackedBucket,
    Totals,
    UserSpend,
)
from costcap.reports._spend import (
    cache_savings,
    check_granularity,
    check_top,
    cost_per_user,
    feature_spend,
    merge,
    model_efficiency,
    model_tier_efficiency,
    spend_over_time,
    stacked_over_time,
    top_groups,
    top_users,
)
from costcap.reports._sql import (
    EVENTS,
    MAX_LISTED_DAYS,
    Dialect,
    choose_rollup,
    covering_rollup,
    dialect_for,
    grouped_sql,
    in_list,
    rollup_since,
)
from costcap.reports._whatif import (
    CallGroup,
    Scenario,
    WhatIf,
    cells_conditions,
    groups_sql,
    long_cells_sql,
    read_group,
    read_rollup,
    rollup_sql,
    span_conditions,
    what_if,
)
from costcap.service_tiers import STANDARD_TIERS

__all__ = ["ANOMALIES_EARLIEST", "Query", "Reports"]

ANOMALIES_EARLIEST = datetime(1, 2, 1, tzinfo=UTC)

When = date | datetime | None
_FILTERS = (("user", "user_id"), ("feature", "feature"), ("model", "model"))
_SPEND = ("calls", "refused", "input_tokens", "output_tokens", "cost_pico")
_CACHE = ("calls", "refused", "cache_hits", "saved_pico", "cache_misses", "cache_miss_cost_pico")
_MISSES = MEASURES_SINCE["cache_misses"]  # the schema version that records cache misses
_GROUP_COLUMNS = {"feature": "feature", "model": "model", "user": "user_id"}


@dataclass(frozen=True, slots=True)
class Query:
    """A time range and filters, as every report takes them."""

    range: TimeRange
    user: str | None = None
    feature: str | None = None
    model: str | None = None

    @classmethod
    def of(
        cls,
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> Query:
        for name, value in (("user", user), ("feature", feature), ("model", model)):
            if value is not None and not value:
                raise ValueError(f"the {name} filter must not be empty")
        return cls(TimeRange.of(since, until), user, feature, model)

    @property
    def filters(self) -> list[tuple[str, str]]:
        """``(column, value)`` for each filter given."""
        return [(col, v) for name, col in _FILTERS if (v := getattr(self, name)) is not None]


class Reports:
    """``Reports.open(url)`` (read-only: never creates nor migrates a ledger; a URL with no
    ledger raises :class:`~costcap.reports.NoLedger`) or ``Reports(sink)``; reads only."""

    def __init__(self, sink: LedgerSink) -> None:
        self.sink = sink
        self.dialect: Dialect = dialect_for(sink.dialect)
        self._version: int | None = None  # the ledger's schema version, once read

    @classmethod
    def open(cls, url: str) -> Reports:
        return cls(open_readonly(url))

    def close(self) -> None:
        self.sink.close()

    def __enter__(self) -> Reports:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- reports -----------------------------------------------------------------------------------

    def by_feature(
        self,
        *,
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> list[FeatureSpend]:
        """Spend per feature, most expensive first."""
        query = Query.of(since, until, user, feature, model)
        return feature_spend(self._by("feature", query, _SPEND))

    def top_users(
        self,
        *,
        limit: int = 10,
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> list[UserSpend]:
        """The ``limit`` users who spent most (calls, answered, refused, spend, cost per
        answered call, share)."""
        if not 0 <= limit < 2**63:  # a SQL integer
            raise ValueError(f"limit must be 0..2**63 - 1, not {limit}")
        query = Query.of(since, until, user, feature, model)
        measures = ("calls", "refused", "cost_pico")
        total = self._grouped((), query, ("cost_pico",)).get((), Totals()).cost_pico
        # Without edge days one rollup answers: the database ranks and cuts (never ships every
        # user to Python); with edges the parts are merged first, then ranked.
        top = limit if not query.range.split().edges else None
        groups = {
            str(k[0]): t for k, t in self._grouped(("user_id",), query, measures, top).items()
        }
        return top_users(groups, limit, total_pico=total)

    def cost_per_user(
        self,
        *,
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> CostPerUser:
        """How spend spreads over users: mean, median, p90, max; unattributed calls apart."""
        query = Query.of(since, until, user, feature, model)
        return cost_per_user(self._by("user_id", query, ("calls", "cost_pico")))

    def by_model(
        self,
        *,
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> list[ModelEfficiency]:
        """Token efficiency per model: tokens and cost per answered call, cost per 1k output."""
        query = Query.of(since, until, user, feature, model)
        return model_efficiency(self._by("model", query, _SPEND))

    def by_model_tier(
        self,
        *,
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> list[ModelTierEfficiency]:
        """:meth:`by_model` per model and service tier: one row for each tier a model's calls
        were priced at (``service_tier`` None: the standard price — no tier recorded, OpenAI's
        ``default``, Anthropic's ``standard`` — in one row). A ledger
        older than service tiers (schema version 3 or below) raises ``ConfigError``. With
        ``user``, reads that user's events (no rollup keeps users by tier)."""
        query = Query.of(since, until, user, feature, model)
        self._check_tiers()
        grouped = self._grouped(("model", "service_tier"), query, _SPEND)
        merged: dict[tuple[str, str], Totals] = {}
        for (name, tier), totals in grouped.items():
            # the standard price under any of its names (none, OpenAI default, Anthropic standard)
            key = (str(name), "" if tier in STANDARD_TIERS else str(tier))
            merged[key] = merged.get(key, Totals()) + totals
        return model_tier_efficiency(merged)

    def over_time(
        self,
        *,
        granularity: Granularity = "day",
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> list[SpendBucket]:
        """Spend per UTC day, ISO week or month; buckets without calls are listed at zero."""
        query = Query.of(since, until, user, feature, model)
        measures = (*_SPEND, "cache_hits", "saved_pico", "cache_misses")
        grouped = self._grouped(("day",), query, measures)
        return spend_over_time(
            {self.dialect.read_day(key[0]): t for key, t in grouped.items()},
            granularity,
            first=query.range.first_day(),
            last=query.range.last_day(),
            misses_known=self._ledger_version() >= _MISSES,
        )

    def over_time_by(
        self,
        *,
        by: Literal["feature", "model", "user"],
        top: int = 8,
        granularity: Granularity = "day",
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> list[StackedBucket]:
        """:meth:`over_time` split by feature, model or user, for a stacked chart: per bucket,
        the spend of each of the ``top`` (1..50) groups that cost most over the range, the
        rest together as ``(other)`` (:func:`~costcap.reports._spend.stacked_over_time`).
        Three reads, each as :meth:`over_time` reads (rollups, edge days from events): the
        groups' totals, to rank them; the kept groups per day; and each day's total, read
        exactly as :meth:`over_time` reads it — "(other)" is what the kept groups leave of it,
        so each bucket's groups sum exactly to its :meth:`over_time` spend."""
        column = _GROUP_COLUMNS.get(by)
        if column is None:
            raise ValueError(f"by must be one of {', '.join(_GROUP_COLUMNS)}, not {by!r}")
        check_top(top)
        check_granularity(granularity)
        query = Query.of(since, until, user, feature, model)
        measures, missing = ("calls", "cost_pico"), f"(no {by})"
        groups = self._by(column, query, measures)
        kept = top_groups(groups, top, missing=missing)
        # Only the kept groups per day (thousands of users × 90 days would be as many rows);
        # what they leave of each day's total is "(other)".
        among = (column, kept) if len(kept) < len(groups) else None
        cells = self._grouped(("day", column), query, measures, among=among)
        days = self._grouped(("day",), query, measures)
        return stacked_over_time(
            kept,
            {(self.dialect.read_day(day), str(key)): t for (day, key), t in cells.items()},
            {self.dialect.read_day(key[0]): t for key, t in days.items()},
            granularity,
            missing=missing,
            first=query.range.first_day(),
            last=query.range.last_day(),
        )

    def cache_savings(
        self,
        *,
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> list[CacheSavings]:
        """What the response cache saved, per feature: hits per answered call, saved dollars and
        their share of cost + saved (:meth:`cache_use` has the cache's own hit rate, over the
        calls it was asked about, and advice)."""
        query = Query.of(since, until, user, feature, model)
        measures = ("calls", "refused", "cache_hits", "cost_pico", "saved_pico")
        return cache_savings(self._by("feature", query, measures))

    def cache_use(
        self,
        *,
        rules: CacheRules | None = None,
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> list[FeatureCache]:
        """The response cache per feature: hits, misses, hit rate (hits ÷ cacheable calls),
        dollars saved, what the misses cost; for a feature whose cache was never asked, the
        answered calls that repeated an earlier request and their cost; and advice by ``rules``
        (:mod:`costcap.reports._cache`). Sums from the rollups; repeats from those features'
        events in the range (:mod:`costcap.reports._repeats`). On a ledger older than cache
        misses (schema 4 or older) misses and hit rates are None."""
        query = Query.of(since, until, user, feature, model)
        rules = CacheRules() if rules is None else rules
        groups = self._by("feature", query, _CACHE)
        quiet = [key for key, t in groups.items() if never_asked(t) and t.answered]
        filters = [(col, v) for col, v in query.filters if col != "feature"]
        found = read_repeats(self.sink, self.dialect, quiet, query.range, filters) if quiet else {}
        return feature_cache(groups, found, rules, misses_known=self._ledger_version() >= _MISSES)

    def routes(
        self,
        *,
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> list[RouteSpend]:
        """Spend per feature, routing tier and route reason (:mod:`costcap.reports._routes`),
        from the routing rollup (with ``user``, the rollup of users' routing; on a ledger older
        than it, schema version 7 or below, that user's events). A ledger older than routing
        (schema version 5 or below) raises ``ConfigError``."""
        query = Query.of(since, until, user, feature, model)
        self._check_version(DAILY_ROUTE.since, "routing")
        grouped = self._grouped(("feature", "tier", "route_reason"), query, _SPEND)
        return route_spend({(str(f), str(t), str(r)): v for (f, t, r), v in grouped.items()})

    def cascades(
        self,
        *,
        catalog: PriceCatalog | None = None,
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> list[CascadeSavings]:
        """Per feature, its cascades over the range: how many, how many escalated, what they
        cost and what sending each straight to the upper tier would have cost, priced with
        ``catalog`` (default: the bundled prices) where no call says it
        (:mod:`costcap.reports._routes`). Reads the cascaded events through their index. A
        ledger older than routing raises ``ConfigError``."""
        query = Query.of(since, until, user, feature, model)
        self._check_version(DAILY_ROUTE.since, "routing")
        pricing = catalog or default_catalog()
        sql, params = cascades_sql(self.dialect, query.range, query.filters)
        escalated, singles = read_cascades(self.sink.query(sql, params))
        long, cutoffs = long_singles(pricing, escalated, singles)
        if long:  # read again by band of input: some may be priced at a long-context tier
            sql, params = singles_sql(self.dialect, query.range, query.filters, cutoffs, long)
            singles = [s for s in singles if s not in long]
            singles += [read_single(row) for row in self.sink.query(sql, params)]
        return cascade_savings(escalated, singles, pricing)

    def whatif(
        self,
        scenario: Scenario,
        *,
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> WhatIf:
        """What the calls of the range would have cost under ``scenario``, per feature
        (:mod:`costcap.reports._whatif`): the events grouped by the database, each group priced
        once. A model the scenario moves calls to that the catalog cannot price raises
        ``UnknownModel``; routing tiers on a ledger older than routing raise ``ConfigError``."""
        query = Query.of(since, until, user, feature, model)
        version = self._ledger_version()
        if scenario.tier_model is not None:
            self._check_version(DAILY_ROUTE.since, "routing tiers")
        pricing = scenario.pricing
        for target in dict.fromkeys([*scenario.routes.values(), *scenario.tier_models]):
            target_price(pricing, target, None)  # UnknownModel before any reading
        # the models of the range (from a rollup), to bound the calls long-context prices need
        # apart: the thresholds of every model each may be priced at
        pairs = []
        for (source,) in self._grouped(("model",), query, ("calls",)):
            for target in scenario.targets(str(source)):
                if target == source and scenario.prices is None:
                    continue
                try:
                    price = target_price(pricing, target, None)
                except UnknownModel:  # a logged model the catalog cannot price: kept as logged
                    continue
                pairs.append((price, token_ratio(str(source), target)))
        cutoffs = input_cutoffs(pairs)
        return what_if(self._call_groups(query, cutoffs, version), scenario)

    def totals(
        self,
        *,
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> Totals:
        """Integer sums over the range and filters."""
        grouped = self._grouped((), Query.of(since, until, user, feature, model), MEASURE_NAMES)
        return sum(grouped.values(), Totals())

    def refused(
        self,
        *,
        since: When = None,
        until: When = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> list[RefusedCalls]:
        """Refused calls per ``refused_by`` reason, most frequent first: calls, distinct users
        (calls without a user are not counted) and the last refusal. Reads the refusal rollups
        (edge days: refused events); see :mod:`costcap.reports._refused`."""
        query = Query.of(since, until, user, feature, model)
        return refused_calls(self.sink, self.dialect, query.range, query.filters)

    def alerts(
        self,
        *,
        since: When = None,
        until: When = None,
        kind: str | None = None,
        limit: int = 100,
    ) -> list[AlertRecord]:
        """The last ``limit`` (1..10,000) alerts the Guards writing to the ledger fired in the
        range, newest first; ``kind`` one of the alert kinds. A ledger older than the alerts
        table has none (:mod:`costcap.reports._alerts`)."""
        query = AlertQuery.of(since, until, kind, limit)
        return read_alerts(self.sink, self.dialect, query, version=self._ledger_version())

    def anomalies(
        self,
        *,
        at: datetime | None = None,
        rules: AnomalyRules | None = None,
        user: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> list[Anomaly]:
        """Spend spikes of users and features, and runaway loops, as of ``at`` (default: now;
        reads events). The method is described in :mod:`costcap.reports._detect`."""
        query = Query.of(None, None, user, feature, model)
        moment = datetime.now(UTC) if at is None else at
        if moment.tzinfo is None:
            raise ValueError(f"at must be timezone-aware, not {moment.isoformat()}")
        if moment < ANOMALIES_EARLIEST:  # the baseline looks 8 days back from it
            raise ValueError(
                f"at {moment.isoformat()} is too early for anomalies "
                f"({ANOMALIES_EARLIEST.isoformat()} at least)"
            )
        return find_anomalies(
            self.sink, self.dialect, at=moment, rules=rules or AnomalyRules(), filters=query.filters
        )

    def _call_groups(self, query: Query, cutoffs: Sequence[int], version: int) -> list[CallGroup]:
        """The calls of ``query`` in groups priced alike (:mod:`costcap.reports._whatif`):
        whole days from the routing rollup (its rows with a call of at least the first of
        ``cutoffs`` input tokens from their day's events), partial days from events; a user's
        calls, or a ledger before routing, from the events."""
        groups: list[CallGroup] = []

        def events(conditions: list[str], params: list[object]) -> None:
            self._filter(query, conditions, params)
            sql, args = groups_sql(self.dialect, conditions, params, cutoffs, version=version)
            groups.extend(read_group(row) for row in self.sink.query(sql, args))

        if version < DAILY_ROUTE.since or query.user is not None:
            events(*span_conditions(self.dialect, query.range))
            return groups
        split = query.range.split()
        days = self._rollup_days(DAILY_ROUTE.table, query, split.first, split.end)
        first = cutoffs[0] if cutoffs else None
        if split.whole and days is not None:
            conditions, params = days
            self._filter(query, conditions, params)
            sql, args = rollup_sql(self.dialect, conditions, params, first)
            for row in self.sink.query(sql, args):
                groups += read_rollup(row)
            if first is not None:
                sql, args = long_cells_sql(self.dialect, conditions, params, first)
                cells = self.sink.query(sql, args)
                for cell_conditions, cell_params in cells_conditions(self.dialect, cells):
                    events(cell_conditions, cell_params)
        for edge in split.edges:
            events(*span_conditions(self.dialect, TimeRange(edge.start, edge.end)))
        return groups

    # -- plumbing ----------------------------------------------------------------------------------

    def _ledger_version(self) -> int:
        """The ledger's schema version (read once)."""
        if self._version is None:
            ((found,),) = self.sink.query(VERSION_QUERY) or [(None,)]
            self._version = int(found or 0)
        return self._version

    def _check_tiers(self) -> None:
        """A ConfigError unless the ledger keeps service tiers (reports read older ones too)."""
        self._check_version(DAILY_TIER.since, "service tiers")

    def _check_version(self, since: int, what: str) -> None:
        """A ConfigError unless the ledger is schema version ``since`` or later, the first to
        keep ``what``."""
        version = self._ledger_version()
        if version < since:
            raise ConfigError(
                f"the ledger at {shown_url(self.sink.url)} is schema version {version}, which "
                f"predates {what} (version {since}); reports do not migrate "
                "it: run a costcap that writes to it (a Ledger) once to upgrade it"
            )

    def _readable(self, measures: Sequence[str]) -> tuple[str, ...]:
        """``measures`` less those the ledger's schema does not keep yet (cache misses before
        version 5): their sums stay 0. The version is read only when such a measure is asked."""
        if not any(m in MEASURES_SINCE for m in measures):
            return tuple(measures)
        version = self._ledger_version()
        return tuple(m for m in measures if MEASURES_SINCE.get(m, 1) <= version)

    def _by(self, key: str, query: Query, measures: Sequence[str]) -> dict[str, Totals]:
        return {str(k[0]): t for k, t in self._grouped((key,), query, measures).items()}

    def _grouped(
        self,
        keys: Sequence[str],
        query: Query,
        measures: Sequence[str],
        top: int | None = None,
        among: tuple[str, Sequence[str]] | None = None,
    ) -> dict[tuple[object, ...], Totals]:
        """Sums of ``measures`` per ``keys`` over the query: whole days from the narrowest
        rollup, partial edge days from events; the parts merged by key. ``top``: only the
        ``top`` non-empty first keys with the most cost (then calls, then name), for a query
        without edge days. ``among``: ``(column, values)``, only the calls whose ``column`` (one
        of ``keys``; ``''``: none recorded) is one of ``values``."""
        measures = self._readable(measures)
        split = query.range.split()
        assert top is None or not split.edges, "a top-N cut needs a single rollup read"
        parts: list[tuple[str, list[object]]] = []
        dims = {*keys, *(col for col, _ in query.filters)}
        table = covering_rollup(dims)
        if table is not None and rollup_since(table) > 1:  # absent from an older ledger
            table = covering_rollup(dims, self._ledger_version())
        if table is None:  # no rollup is keyed so (a user's calls by tier): the events, all of it
            assert top is None, "a top-N cut needs a rollup"
            parts.append(
                self._events(
                    keys, query, measures, query.range.since, query.range.until, among=among
                )
            )
        elif split.whole:
            days = self._rollup_days(table, query, split.first, split.end)
            if days is not None:
                conditions, params = days
                self._filter(query, conditions, params)
                if among is not None:
                    conditions.append(in_list(f"e.{among[0]}", len(among[1])))
                    params.extend(among[1])
                sql = grouped_sql(self.dialect, table, keys, measures, conditions, top=top)
                parts.append((sql, [*params, top] if top is not None else params))
        if table is not None:
            parts += [
                self._events(keys, query, measures, e.start, e.end, among=among)
                for e in split.edges
            ]
        rows: list[tuple[tuple[object, ...], Totals]] = []
        for sql, params in parts:
            for row in self.sink.query(sql, params):
                rows.append((tuple(row[: len(keys)]), Totals.of(measures, row[len(keys) :])))
        return merge(rows)

    def _events(
        self,
        keys: Sequence[str],
        query: Query,
        measures: Sequence[str],
        start: datetime | None,
        end: datetime | None,
        *,
        among: tuple[str, Sequence[str]] | None = None,
    ) -> tuple[str, list[object]]:
        """The SQL and parameters of the events in ``[start, end)`` (None: unbounded), grouped
        (``among`` as in :meth:`_grouped`). Bounds on ts alone: its index (or with a user, the
        user's) reads just that part."""
        conditions: list[str] = []
        params: list[object] = []
        for bound, op in ((start, ">="), (end, "<")):
            if bound is not None:
                conditions.append(f"e.ts {op} ?")
                params.append(self.dialect.ts(bound))
        self._filter(query, conditions, params)
        if among is not None:  # an event stores a missing user or feature as NULL, a rollup ''
            conditions.append(in_list(f"COALESCE(e.{among[0]}, '')", len(among[1])))
            params.extend(among[1])
        return grouped_sql(self.dialect, EVENTS, keys, measures, conditions), params

    def _rollup_days(
        self, table: str, query: Query, first: date | None, end: date | None
    ) -> tuple[list[str], list[object]] | None:
        """Day conditions (and their parameters) for a rollup; None when no day can match."""
        conditions: list[str] = []
        params: list[object] = []
        if query.user is not None and ROLLUPS[table][1] == "user_id":
            if first is None or end is None:
                low, high = self._day_bounds()
                if low is None or high is None:
                    return None
                first = low if first is None else first
                end = high + timedelta(days=1) if end is None else end
            count = (end - first).days
            if count <= 0:
                return None
            if count <= MAX_LISTED_DAYS:
                conditions.append(in_list("e.day", count))
                params.extend(self.dialect.day(first + timedelta(days=i)) for i in range(count))
                return conditions, params
        if first is not None:
            conditions.append("e.day >= ?")
            params.append(self.dialect.day(first))
        if end is not None:
            conditions.append("e.day < ?")
            params.append(self.dialect.day(end))
        return conditions, params

    def _day_bounds(self) -> tuple[date | None, date | None]:
        table = choose_rollup(())
        row = self.sink.query(f"SELECT MIN(day), MAX(day) FROM {table}")[0]
        if row[0] is None:
            return None, None
        return self.dialect.read_day(row[0]), self.dialect.read_day(row[1])

    @staticmethod
    def _filter(query: Query, conditions: list[str], params: list[Any]) -> None:
        for column, value in query.filters:
            conditions.append(f"e.{column} = ?")
            params.append(value)
