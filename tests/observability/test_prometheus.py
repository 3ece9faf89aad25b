"""Prometheus metrics from a Guard: counters per call, admission histogram, budget gauges."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import CollectorRegistry

from costcap import Budget, Guard
from costcap.admission import BudgetStatus
from costcap.errors import BudgetExceeded, StoreUnavailable
from costcap.guard import AsyncGuard
from costcap.ledger import CostEvent
from costcap.limits import RateLimit, RateLimited
from costcap.observability import BudgetCollector, PrometheusObserver, make_asgi_app
from costcap.observability._common import refusal_kind
from tests.observability.conftest import HELLO, Recorder

MODEL = "gpt-4o-mini"


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_settled_call_and_two_refusals_give_exact_counters(recorder: Recorder) -> None:
    """A settled call, a budget refusal and a rate-limit refusal are counted exactly: spend,
    tokens, calls by status, refusals by kind and one admission timing per outcome."""
    registry = CollectorRegistry()
    guard = Guard(
        "memory://",
        notifiers=[],
        budgets=[Budget(scope="feature:big", period="day", limit_usd="0.000001")],
        limits=[RateLimit("1/minute", per="user")],
        observers=[PrometheusObserver(registry), recorder],
    )
    ticket = guard.admit(model=MODEL, messages=HELLO, max_tokens=50, user_id="u1", feature="chat")
    guard.settle(ticket, {"input_tokens": 8, "output_tokens": 20})
    with pytest.raises(RateLimited):
        guard.admit(model=MODEL, messages=HELLO, max_tokens=50, user_id="u1", feature="chat")
    with pytest.raises(BudgetExceeded):
        guard.admit(model=MODEL, messages=HELLO, max_tokens=50, user_id="u2", feature="big")

    ok = recorder.events[0]
    chat = {"model": MODEL, "feature": "chat"}
    assert sample(registry, "costcap_spend_usd_total", **chat, provider="openai") == float(
        ok.cost_usd
    )
    assert sample(registry, "costcap_tokens_total", **chat, kind="input") == 8
    assert sample(registry, "costcap_tokens_total", **chat, kind="output") == 20
    assert sample(registry, "costcap_tokens_total", **chat, kind="cache_read") == 0
    assert sample(registry, "costcap_calls_total", **chat, status="ok") == 1
    assert sample(registry, "costcap_calls_total", **chat, status="refused") == 1
    assert sample(registry, "costcap_calls_total", model=MODEL, feature="big", status="ok") == 0
    assert (
        sample(registry, "costcap_calls_total", model=MODEL, feature="big", status="refused") == 1
    )
    assert (
        sample(registry, "costcap_spend_usd_total", model=MODEL, feature="big", provider="openai")
        == 0
    )
    assert sample(registry, "costcap_refusals_total", reason="budget") == 1
    assert sample(registry, "costcap_refusals_total", reason="rate_limit") == 1
    assert sample(registry, "costcap_refusals_total", reason="policy") == 0
    for outcome in ("admitted", "budget", "rate_limit"):
        assert sample(registry, "costcap_admission_seconds_count", outcome=outcome) == 1
    assert sample(registry, "costcap_admission_seconds_count", outcome="policy") == 0


def test_cache_hits_and_savings_are_counted() -> None:
    """A cache-hit event adds one hit and its saving in dollars; cache tokens count by kind."""
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry)
    observer.on_event(
        CostEvent(
            request_id="r1",
            ts=datetime.now(UTC),
            status="ok",
            model=MODEL,
            feature="faq",
            cache_hit=True,
            saved_pico=1_500_000_000,
            input_tokens=30,
            cache_read_tokens=20,
            cache_write_tokens=10,
        )
    )
    faq = {"model": MODEL, "feature": "faq"}
    assert sample(registry, "costcap_cache_hits_total", **faq) == 1
    assert sample(registry, "costcap_saved_usd_total", **faq) == 0.0015
    assert sample(registry, "costcap_tokens_total", **faq, kind="cache_read") == 20
    assert sample(registry, "costcap_tokens_total", **faq, kind="cache_write") == 10


@pytest.mark.parametrize(
    ("refused_by", "kind"),
    [
        ("budget global/day", "budget"),
        ("budget user:alice/day", "budget"),
        ("rate limit 20/minute per user", "rate_limit"),
        ("policy: model 'gpt-4o' is not allowed", "policy"),
        ("store unavailable", "store"),
        ("something new", "other"),
        (None, "other"),
    ],
)
def test_refusal_reason_is_the_kind_of_rule(refused_by: str | None, kind: str) -> None:
    """A refusal is labelled by the kind of rule only, never by the rule (which may name a user)."""
    assert refusal_kind(refused_by) == kind


def test_no_user_or_key_id_appears_in_any_label() -> None:
    """Calls, refusals by a user's own budget and the budget gauges carry no user or key id."""
    registry = CollectorRegistry()
    guard = Guard(
        "memory://",
        notifiers=[],
        budgets=[
            Budget(scope="global", period="day", limit_usd=100),
            Budget(scope="user:SECRET-user-1", period="day", limit_usd="0.000001"),
            Budget(scope="key:SECRET-key-1", period="day", limit_usd=100),
            Budget(scope="user:*", period="day", limit_usd=100),
        ],
        observers=[PrometheusObserver(registry)],
    )
    registry.register(BudgetCollector(guard))
    ticket = guard.admit(
        model=MODEL, messages=HELLO, max_tokens=5, user_id="SECRET-user-2", api_key="SECRET-key-1"
    )
    guard.settle(ticket, {"input_tokens": 8, "output_tokens": 5})
    with pytest.raises(BudgetExceeded):
        guard.admit(model=MODEL, messages=HELLO, max_tokens=5, user_id="SECRET-user-1")
    values = [
        value
        for metric in registry.collect()
        for s in metric.samples
        for value in s.labels.values()
    ]
    assert "budget" in values  # the refusal was counted, by kind
    assert "global/day" in values  # the global budget's gauges are there
    assert not [v for v in values if "SECRET" in v]


def test_budget_gauges_match_guard_status_after_spending() -> None:
    """Each budget gauge equals what guard.status() says, spent and reserved included."""
    registry = CollectorRegistry()
    guard = Guard(
        "memory://",
        notifiers=[],
        budgets=[
            Budget(scope="global", period="day", limit_usd=10),
            Budget(scope="feature:chat", period="month", limit_usd=3),
        ],
    )
    registry.register(BudgetCollector(guard))
    done = guard.admit(model=MODEL, messages=HELLO, max_tokens=50, feature="chat")
    guard.settle(done, {"input_tokens": 8, "output_tokens": 40})
    guard.admit(model=MODEL, messages=HELLO, max_tokens=500, feature="chat")  # still in flight

    rows = guard.status()
    assert len(rows) == 2
    for row in rows:
        labels = {"budget": row["budget"], "member": row["member"]}
        assert row["spent_usd"] > 0
        assert row["reserved_usd"] > 0
        for name in ("limit_usd", "spent_usd", "reserved_usd", "remaining_usd"):
            assert registry.get_sample_value(f"costcap_budget_{name}", labels) == float(row[name])
    assert registry.get_sample_value("costcap_budget_status_up") == 1


def test_user_budgets_are_exported_only_when_asked_for() -> None:
    """A fixed user budget (whose id names the user) is exported when its scope is listed."""
    registry = CollectorRegistry()
    guard = Guard(
        "memory://", notifiers=[], budgets=[Budget(scope="user:alice", period="day", limit_usd=2)]
    )
    registry.register(BudgetCollector(guard, scopes=("user",)))
    labels = {"budget": "user:alice/day", "member": "alice"}
    assert registry.get_sample_value("costcap_budget_limit_usd", labels) == 2


class _Source:
    def __init__(self, fail: bool = False) -> None:
        self.reads = 0
        self.fail = fail

    def status(self) -> Sequence[BudgetStatus]:
        self.reads += 1
        if self.fail:
            raise StoreUnavailable("connection refused")
        return []


def test_unreadable_store_gives_status_up_zero_not_a_failed_scrape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When the store is down, the scrape still answers: status_up is 0 and it is logged."""
    registry = CollectorRegistry()
    registry.register(BudgetCollector(_Source(fail=True)))
    assert registry.get_sample_value("costcap_budget_status_up") == 0
    assert "store is unavailable" in caplog.text


def test_registering_the_collector_reads_nothing() -> None:
    """Registering on an auto-describing registry does not read the store (describe is static)."""
    source = _Source()
    CollectorRegistry(auto_describe=True).register(BudgetCollector(source))
    assert source.reads == 0


def test_async_guard_is_rejected_with_a_hint() -> None:
    """An AsyncGuard cannot be read by a synchronous scrape: a TypeError says what to do."""
    guard = AsyncGuard("memory://", notifiers=[])
    with pytest.raises(TypeError, match="sync Guard"):
        BudgetCollector(guard)  # type: ignore[arg-type]


def test_model_and_feature_values_are_capped() -> None:
    """Past max_label_values distinct models, new ones are counted under _other."""
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry, max_label_values=2)
    for model in ("m1", "m2", "m3", "m4"):
        observer.on_event(
            CostEvent(request_id=model, ts=datetime.now(UTC), status="refused", model=model)
        )
    calls = "costcap_calls_total"
    assert sample(registry, calls, model="m2", feature="", status="refused") == 1
    assert sample(registry, calls, model="m3", feature="", status="refused") is None
    assert sample(registry, calls, model="_other", feature="", status="refused") == 2


def test_unknown_admission_outcome_is_other() -> None:
    """An admission outcome the observer does not know is timed under "other"."""
    registry = CollectorRegistry()
    PrometheusObserver(registry).on_admission(0.0001, "something-new")
    assert sample(registry, "costcap_admission_seconds_count", outcome="other") == 1


async def test_asgi_app_serves_the_registry() -> None:
    """make_asgi_app serves the registry's metrics in the Prometheus text format."""
    registry = CollectorRegistry()
    PrometheusObserver(registry).on_admission(0.00002, "admitted")
    transport = httpx.ASGITransport(app=make_asgi_app(registry))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert 'costcap_admission_seconds_count{outcome="admitted"} 1.0' in response.text


def test_cache_misses_are_counted_beside_hits() -> None:
    """Two misses and a hit of faq: misses 2, hits 1; a call the cache was not asked about
    (chat) counts as neither."""
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry)
    now = datetime.now(UTC)
    for n, feature, hit, miss in (
        (1, "faq", False, True),
        (2, "faq", False, True),
        (3, "faq", True, False),
        (4, "chat", False, False),
    ):
        observer.on_event(
            CostEvent(
                request_id=f"r{n}",
                ts=now,
                status="ok",
                model=MODEL,
                feature=feature,
                cache_hit=hit,
                cache_miss=miss,
            )
        )
    faq, chat = {"model": MODEL, "feature": "faq"}, {"model": MODEL, "feature": "chat"}
    assert sample(registry, "costcap_cache_misses_total", **faq) == 2
    assert sample(registry, "costcap_cache_hits_total", **faq) == 1
    assert sample(registry, "costcap_cache_misses_total", **chat) == 0
