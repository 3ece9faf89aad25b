"""Prometheus metrics: spend, tokens, calls, refusals, the cache, admission latency, budgets.

Needs ``pip install 'costcap[metrics]'`` (``prometheus-client``)::

    from prometheus_client import CollectorRegistry
    from costcap.observability import BudgetCollector, PrometheusObserver, make_asgi_app

    registry = CollectorRegistry()
    guard = Guard("sqlite:///costcap.db", budgets=[...], observers=[PrometheusObserver(registry)])
    registry.register(BudgetCollector(guard))  # budget gauges, read from the store at scrape time
    app.mount("/metrics", make_asgi_app(registry))

Dollar counters are floats, fine for dashboards and alerts; the exact amounts (integer
picodollars) live in the ledger. Labels are bounded on purpose: no user id, key id, request id
or rule name is ever a label value; refusals are counted by kind; ``model`` and ``feature`` keep
at most ``max_label_values`` distinct values each and count the rest as ``_other``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
    from prometheus_client import make_asgi_app as _make_asgi_app
    from prometheus_client.metrics_core import GaugeMetricFamily, Metric
except ImportError as exc:  # the extra is not installed
    raise ImportError(
        "costcap.observability.prometheus needs prometheus-client: pip install 'costcap[metrics]'"
    ) from exc

from costcap.admission import BudgetStatus
from costcap.errors import StoreUnavailable
from costcap.ledger import STATUSES, CostEvent
from costcap.observability._common import (
    ADMISSION_OUTCOMES,
    REFUSAL_KINDS,
    refusal_kind,
    usd_float,
)

__all__ = [
    "ADMISSION_BUCKETS",
    "DEFAULT_BUDGET_SCOPES",
    "OTHER",
    "BudgetCollector",
    "PrometheusObserver",
    "make_asgi_app",
]

log = logging.getLogger("costcap.observability")

# Admission is tens of µs in memory, ~0.1 ms on SQLite, ~0.3–1 ms on Redis/Postgres: fine buckets
# from 5 µs to 10 ms, then coarse ones to catch a slow store.
ADMISSION_BUCKETS: Final = (
    0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
# Budgets whose gauges carry no person: a user or key budget names its member in its id.
DEFAULT_BUDGET_SCOPES: Final = ("global", "feature", "model")
OTHER: Final = "_other"  # the label value past max_label_values
TOKEN_KINDS: Final = ("input", "output", "cache_read", "cache_write")


class _Bounded:
    """A label's values, capped: once ``limit`` distinct values were seen, new ones are OTHER."""

    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return OTHER
        self._seen.add(value)
        return value


@dataclass(frozen=True, slots=True)
class _Series:
    """The children of every per-call metric for one (model, feature, provider)."""

    spend: Counter
    saved: Counter
    cache_hits: Counter
    cache_misses: Counter
    tokens: tuple[Counter, Counter, Counter, Counter]  # in TOKEN_KINDS order
    calls: dict[str, Counter]  # by status


class PrometheusObserver:
    """A Guard observer that counts every call and times every admission.

    ``registry``: where the metrics live (default: prometheus_client's global ``REGISTRY``; one
    observer per registry). ``namespace`` prefixes every name. ``max_label_values`` caps the
    distinct ``model`` and ``feature`` values (each) so a stray input cannot explode cardinality.

    Metrics (``costcap`` namespace):

    - ``costcap_spend_usd_total{model,feature,provider}`` — what providers bill, in dollars
    - ``costcap_tokens_total{model,feature,kind}`` — ``kind``: ``input`` (all input, cache reads
      and writes included), ``output``, ``cache_read``, ``cache_write`` (subsets of ``input``)
    - ``costcap_calls_total{model,feature,status}`` — ``status``: ok, error, refused, cut
    - ``costcap_refusals_total{reason}`` — ``reason``: budget, rate_limit, policy, store, other
    - ``costcap_cache_hits_total{model,feature}``, ``costcap_cache_misses_total{model,feature}``
      (cacheable calls the provider answered: the hit rate is hits over hits and misses),
      ``costcap_saved_usd_total{model,feature}``
    - ``costcap_admission_seconds{outcome}`` (histogram) — ``outcome``: admitted, budget,
      rate_limit, policy, store_unavailable
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        namespace: str = "costcap",
        max_label_values: int = 500,
        buckets: Sequence[float] = ADMISSION_BUCKETS,
    ) -> None:
        self.registry = REGISTRY if registry is None else registry
        reg, ns = self.registry, namespace
        per_call = ["model", "feature"]
        self._spend = Counter(
            "spend_usd", "What providers bill, in US dollars (exact amounts: the ledger).",
            [*per_call, "provider"], namespace=ns, registry=reg,
        )  # fmt: skip
        self._tokens = Counter(
            "tokens", "Tokens by kind; cache_read and cache_write are part of input.",
            [*per_call, "kind"], namespace=ns, registry=reg,
        )  # fmt: skip
        self._calls = Counter(
            "calls", "Calls by final status (ok, error, refused, cut).",
            [*per_call, "status"], namespace=ns, registry=reg,
        )  # fmt: skip
        self._cache_hits = Counter(
            "cache_hits", "Calls answered from the response cache.", per_call,
            namespace=ns, registry=reg,
        )  # fmt: skip
        self._cache_misses = Counter(
            "cache_misses", "Cacheable calls the response cache had no answer for (the provider "
            "answered them).", per_call, namespace=ns, registry=reg,
        )  # fmt: skip
        self._saved = Counter(
            "saved_usd", "What cache hits and routing avoided, in US dollars.", per_call,
            namespace=ns, registry=reg,
        )  # fmt: skip
        refusals = Counter(
            "refusals", "Calls refused before sending, by kind of rule.", ["reason"],
            namespace=ns, registry=reg,
        )  # fmt: skip
        admission = Histogram(
            "admission_seconds", "Time to admit or refuse a call (policy, count, store step).",
            ["outcome"], namespace=ns, registry=reg, buckets=tuple(buckets),
        )  # fmt: skip
        self._refusals = {kind: refusals.labels(kind) for kind in REFUSAL_KINDS}
        self._admission = {o: admission.labels(o) for o in (*sorted(ADMISSION_OUTCOMES), "other")}
        self._model = _Bounded(max_label_values)
        self._feature = _Bounded(max_label_values)
        self._series: dict[tuple[str, str, str], _Series] = {}

    def on_event(self, event: CostEvent) -> None:
        model = self._model(event.model)
        feature = self._feature(event.feature or "")
        key = (model, feature, event.provider or "")
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = self._new_series(*key)
        series.calls[event.status].inc()
        if event.cost_pico:
            series.spend.inc(usd_float(event.cost_pico))
        tokens = series.tokens
        for child, count in (
            (tokens[0], event.input_tokens),
            (tokens[1], event.output_tokens),
            (tokens[2], event.cache_read_tokens),
            (tokens[3], event.cache_write_tokens),
        ):
            if count:
                child.inc(count)
        if event.cache_hit:
            series.cache_hits.inc()
        if event.cache_miss:
            series.cache_misses.inc()
        if event.saved_pico:
            series.saved.inc(usd_float(event.saved_pico))
        if event.status == "refused":
            self._refusals[refusal_kind(event.refused_by)].inc()

    def on_admission(self, seconds: float, outcome: str) -> None:
        self._admission.get(outcome, self._admission["other"]).observe(seconds)

    def _new_series(self, model: str, feature: str, provider: str) -> _Series:
        tk = self._tokens
        return _Series(
            spend=self._spend.labels(model, feature, provider),
            saved=self._saved.labels(model, feature),
            cache_hits=self._cache_hits.labels(model, feature),
            cache_misses=self._cache_misses.labels(model, feature),
            tokens=(
                tk.labels(model, feature, "input"),
                tk.labels(model, feature, "output"),
                tk.labels(model, feature, "cache_read"),
                tk.labels(model, feature, "cache_write"),
            ),
            calls={s: self._calls.labels(model, feature, s) for s in STATUSES},
        )


class StatusSource(Protocol):
    """What :class:`BudgetCollector` reads: a sync ``Guard`` (or anything with its ``status()``)."""

    def status(self) -> Sequence[BudgetStatus]: ...


_GAUGES: Final = (
    ("limit_usd", "The budget's limit for its current period, in US dollars."),
    ("spent_usd", "Settled spend in the budget's current period, in US dollars."),
    ("reserved_usd", "Held by calls in flight (their worst case), in US dollars."),
    ("remaining_usd", "limit - spent - reserved, never below 0, in US dollars."),
)


class BudgetCollector:
    """Budget gauges, read from the store by ``guard.status()`` at every scrape::

        registry.register(BudgetCollector(guard))

    ``costcap_budget_{limit,spent,reserved,remaining}_usd{budget,member}`` for the global and
    fixed-member budgets (``Guard.status()`` without a scope; templates such as ``user:*`` have
    one member per user and are never listed). ``scopes`` chooses which kinds are exported:
    by default ``global``, ``feature`` and ``model``, so a ``user:alice`` or ``key:k1`` budget
    (whose id names a person or a key) stays out unless asked for. Cardinality is the number of
    configured budgets. ``costcap_budget_status_up`` is 0 when the store could not be read (the
    scrape still answers; the failure is logged).

    Needs a sync ``Guard``: a scrape is synchronous. With an ``AsyncGuard``, give the collector a
    sync ``Guard`` built on the same store URL and budgets.
    """

    def __init__(
        self,
        guard: StatusSource,
        *,
        namespace: str = "costcap",
        scopes: Collection[str] = DEFAULT_BUDGET_SCOPES,
    ) -> None:
        if inspect.iscoroutinefunction(getattr(guard, "status", None)):
            raise TypeError(
                "BudgetCollector needs a sync Guard (a scrape is synchronous); build a Guard on "
                "the same store and budgets for it"
            )
        self._guard = guard
        self._prefix = f"{namespace}_budget_" if namespace else "budget_"
        self._scopes = frozenset(scopes)

    def describe(self) -> Iterable[Metric]:
        """The metric names, without reading the store (so registering does no I/O)."""
        return [*self._families(), self._up(None)]

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        try:
            rows = self._guard.status()
        except StoreUnavailable as exc:
            log.warning("budget gauges not exported: the store is unavailable: %s", exc)
            yield self._up(0.0)
            return
        for row in rows:
            if row["scope"].partition(":")[0] not in self._scopes:
                continue
            labels = [row["budget"], row["member"]]
            values = (row["limit_usd"], row["spent_usd"], row["reserved_usd"], row["remaining_usd"])
            for family, value in zip(families, values, strict=True):
                family.add_metric(labels, float(value))
        yield from families
        yield self._up(1.0)

    def _families(self) -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(self._prefix + name, doc, labels=["budget", "member"])
            for name, doc in _GAUGES
        ]

    def _up(self, value: float | None) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            self._prefix + "status_up",
            "1 when the budget store was read at this scrape, 0 when it was unavailable.",
            value=value,
        )


def make_asgi_app(registry: CollectorRegistry | None = None) -> Callable[..., Any]:
    """An ASGI app serving ``registry`` in the Prometheus text format (mount it at /metrics)."""
    return _make_asgi_app(REGISTRY if registry is None else registry)
