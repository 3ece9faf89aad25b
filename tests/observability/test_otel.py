"""OpenTelemetry: cost events as GenAI span attributes, on the user's span or on a new one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

from costcap import Budget, Guard
from costcap.errors import BudgetExceeded
from costcap.ledger import CostEvent
from costcap.observability import OtelObserver
from costcap.observability.otel import span_attributes
from tests.observability.conftest import HELLO, Recorder

MODEL = "gpt-4o-mini"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


def test_settled_call_sets_genai_attributes_on_the_users_span(
    provider: TracerProvider, exporter: InMemorySpanExporter, recorder: Recorder
) -> None:
    """Inside the user's span, the event's tokens, models and cost become its attributes."""
    guard = Guard("memory://", notifiers=[], observers=[OtelObserver(provider), recorder])
    with provider.get_tracer("app").start_as_current_span("answer question"):
        ticket = guard.admit(
            model="gpt-4o-mini-2024-07-18", messages=HELLO, max_tokens=50, feature="chat"
        )
        guard.settle(ticket, {"input_tokens": 40, "output_tokens": 20, "cache_read_tokens": 32})
    (event,) = recorder.events
    span = only_span(exporter)
    assert span.name == "answer question"
    assert dict(span.attributes or {}) == {
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.model": event.model,
        "gen_ai.usage.input_tokens": event.input_tokens,
        "gen_ai.usage.output_tokens": event.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": 32,
        "costcap.cost_usd": float(event.cost_usd),
        "costcap.status": "ok",
        "costcap.request_id": event.request_id,
        "costcap.feature": "chat",
    }
    assert (event.model, event.input_tokens, event.output_tokens) == (MODEL, 40, 20)
    assert span.status.status_code is StatusCode.UNSET


def test_refusal_marks_the_users_span_as_an_error(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A budget refusal sets error.type, the refusal kind and rule, and an ERROR status."""
    budget = Budget(scope="global", period="day", limit_usd="0.000001")
    guard = Guard("memory://", notifiers=[], budgets=[budget], observers=[OtelObserver(provider)])
    with (
        provider.get_tracer("app").start_as_current_span("answer question"),
        pytest.raises(BudgetExceeded),
    ):
        guard.admit(model=MODEL, messages=HELLO, max_tokens=50)
    attrs = dict(only_span(exporter).attributes or {})
    assert attrs["error.type"] == "BudgetExceeded"
    assert attrs["costcap.refusal_kind"] == "budget"
    assert attrs["costcap.refused_by"] == "budget global/day"
    assert attrs["costcap.cost_usd"] == 0.0
    assert "gen_ai.response.model" not in attrs
    assert "gen_ai.usage.input_tokens" not in attrs
    assert only_span(exporter).status.status_code is StatusCode.ERROR


def test_without_a_span_a_costcap_span_covers_the_call(
    provider: TracerProvider, exporter: InMemorySpanExporter, recorder: Recorder
) -> None:
    """With no current span, a CLIENT span "costcap {model}" carries the attributes and ends
    when the event happened, started its latency earlier."""
    guard = Guard("memory://", notifiers=[], observers=[OtelObserver(provider), recorder])
    ticket = guard.admit(model=MODEL, messages=HELLO, max_tokens=50)
    guard.settle(ticket, {"input_tokens": 8, "output_tokens": 5})
    (event,) = recorder.events
    span = only_span(exporter)
    assert span.name == f"costcap {MODEL}"
    assert span.kind is SpanKind.CLIENT
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.usage.output_tokens"] == 5
    assert attrs["costcap.cost_usd"] == float(event.cost_usd)
    assert span.end_time == int(event.ts.timestamp() * 1_000_000) * 1000
    assert event.latency_ms is not None
    assert span.start_time is not None
    assert span.end_time - span.start_time == int(event.latency_ms * 1_000_000)


def test_standalone_refusal_span_is_internal_and_an_error(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A refusal with no current span gets an INTERNAL span (nothing went out) in ERROR."""
    budget = Budget(scope="global", period="day", limit_usd="0.000001")
    guard = Guard("memory://", notifiers=[], budgets=[budget], observers=[OtelObserver(provider)])
    with pytest.raises(BudgetExceeded):
        guard.admit(model=MODEL, messages=HELLO, max_tokens=50)
    span = only_span(exporter)
    assert (span.kind, span.status.status_code) == (SpanKind.INTERNAL, StatusCode.ERROR)


def test_span_when_none_false_records_nothing_outside_a_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """With span_when_none=False and no current span, no span is started."""
    observer = OtelObserver(provider, span_when_none=False)
    guard = Guard("memory://", notifiers=[], observers=[observer])
    guard.settle(
        guard.admit(model=MODEL, messages=HELLO, max_tokens=5),
        {"input_tokens": 8, "output_tokens": 5},
    )
    assert exporter.get_finished_spans() == ()


def test_a_sampled_out_span_gets_no_costcap_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Under a span that exists but is not recorded (sampled out), nothing is started."""
    guard = Guard("memory://", notifiers=[], observers=[OtelObserver(provider)])
    unsampled = trace.NonRecordingSpan(SpanContext(trace_id=1, span_id=2, is_remote=False))
    with trace.use_span(unsampled):
        guard.settle(
            guard.admit(model=MODEL, messages=HELLO, max_tokens=5),
            {"input_tokens": 8, "output_tokens": 5},
        )
    assert exporter.get_finished_spans() == ()


def _cache_event(*, hit: bool = False, miss: bool = False) -> CostEvent:
    return CostEvent(
        request_id="r1", ts=datetime.now(UTC), status="ok", model=MODEL, feature="faq",
        cache_hit=hit, cache_miss=miss,
    )  # fmt: skip


def test_a_cache_miss_is_an_attribute(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A cacheable call the provider answered carries ``costcap.cache_miss``, not a hit."""
    observer = OtelObserver(provider)
    with provider.get_tracer("app").start_as_current_span("answer"):
        observer.on_event(_cache_event(miss=True))
    attributes = dict(only_span(exporter).attributes or {})
    assert attributes["costcap.cache_miss"] is True
    assert "costcap.cache_hit" not in attributes


@pytest.mark.parametrize("hit", [False, True], ids=["not asked", "hit"])
def test_a_call_that_missed_no_cache_has_no_miss_attribute(hit: bool) -> None:
    """A call the cache was not asked about, or one it answered, carries no miss."""
    assert "costcap.cache_miss" not in span_attributes(_cache_event(hit=hit))
