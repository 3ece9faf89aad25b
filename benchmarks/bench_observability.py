"""What the optional observers add per call: µs per event, median of ``--repeat`` runs.

    .venv/bin/python benchmarks/bench_observability.py [--events N] [--repeat R]

* observer alone — ``on_event`` (and ``on_admission``) called directly with prebuilt events
  (12 model × feature combinations, settled calls with tokens and cost);
* in a Guard — ``Guard.admit`` + ``Guard.settle`` on ``memory://`` with the observer, minus the
  same loop with no observer (one admission timing and one event per call).

OpenTelemetry runs on the SDK's ``TracerProvider`` with no span processor (spans are recorded,
not exported: exporting is the application's cost, the same with or without costcap).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from costcap.budgets import Budget
from costcap.guard import Guard
from costcap.ledger import CostEvent
from costcap.observability import OtelObserver, PrometheusObserver
from costcap.observe import Observer

MESSAGES = [{"role": "user", "content": "Summarise the quarterly report in three bullet points."}]
USAGE = {"input_tokens": 20, "output_tokens": 120}
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku", "claude-sonnet-4")
PROVIDERS = ("openai", "openai", "anthropic", "anthropic")
FEATURES = ("chat", "search", "summary")


def events(n: int) -> list[CostEvent]:
    now = datetime.now(UTC)
    return [
        CostEvent(
            request_id=f"r{i}", ts=now, status="ok", model=MODELS[i % 4],
            feature=FEATURES[i % 3], provider=PROVIDERS[i % 4], input_tokens=812, output_tokens=230,
            cache_read_tokens=512 if i % 2 else 0, cost_pico=4_330_000_000, latency_ms=850.0,
        )
        for i in range(n)
    ]  # fmt: skip


def per_call_us(run: Callable[[], None], n: int, repeat: int) -> float:
    run()  # warm up: series created, token counter loaded
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        runs.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(runs)


def observer_alone(observer: Observer, batch: list[CostEvent], repeat: int) -> float:
    on_event = observer.on_event

    def run() -> None:
        for event in batch:
            on_event(event)

    return per_call_us(run, len(batch), repeat)


def admission_alone(observer: PrometheusObserver, n: int, repeat: int) -> float:
    def run() -> None:
        for _ in range(n):
            observer.on_admission(0.00003, "admitted")

    return per_call_us(run, n, repeat)


def in_span(observer: OtelObserver, provider: TracerProvider, batch: list[CostEvent]) -> float:
    """on_event inside a recording user span; the span's own start/end are timed apart."""
    tracer = provider.get_tracer("bench")
    spent = 0.0
    for event in batch:
        with tracer.start_as_current_span("user call"):
            started = time.perf_counter()
            observer.on_event(event)
            spent += time.perf_counter() - started
    return spent / len(batch) * 1e6


class NoOp:
    """An observer that does nothing: what the Guard's own reporting costs."""

    def on_event(self, event: CostEvent) -> None:
        pass

    def on_admission(self, seconds: float, outcome: str) -> None:
        pass


def guard_loop(observers: list[object], n: int, repeat: int) -> float:
    budgets = [Budget(scope="global", period="day", limit_usd=10**9)]
    guard = Guard("memory://", budgets=budgets, notifiers=[], observers=observers)

    def run() -> None:
        for i in range(n):
            ticket = guard.admit(
                model=MODELS[i % 2], messages=MESSAGES, max_tokens=400, feature=FEATURES[i % 3]
            )
            guard.settle(ticket, USAGE)

    return per_call_us(run, n, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n, repeat = args.events, args.repeat
    batch = events(n)
    provider = TracerProvider()  # records spans, exports nothing

    prom = PrometheusObserver(CollectorRegistry())
    rows = [
        ("PrometheusObserver.on_event", observer_alone(prom, batch, repeat)),
        ("PrometheusObserver.on_admission", admission_alone(prom, n, repeat)),
        (
            "OtelObserver.on_event, inside a recording span",
            statistics.median(in_span(OtelObserver(provider), provider, batch) for _ in range(3)),
        ),
        (
            "OtelObserver.on_event, no span: starts and ends one",
            observer_alone(OtelObserver(provider), batch, repeat),
        ),
        (
            "OtelObserver.on_event, no span, span_when_none=False",
            observer_alone(OtelObserver(provider, span_when_none=False), batch, repeat),
        ),
    ]
    calls = max(1, n // 4)
    base = guard_loop([], calls, repeat)
    noop = guard_loop([NoOp()], calls, repeat)
    with_prom = guard_loop([PrometheusObserver(CollectorRegistry())], calls, repeat)
    with_otel = guard_loop([OtelObserver(provider)], calls, repeat)

    print(f"{n:,} events, median of {repeat} runs, µs per event, one thread\n")
    print("| observer | µs per event |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value:.2f} |")
    print(f"\nGuard admit + settle on memory://, {calls:,} calls, µs per call\n")
    print("| observers | µs per call | added to none | added to a no-op observer |")
    print("|---|---:|---:|---:|")
    print(f"| none | {base:.1f} | | |")
    print(f"| a no-op observer | {noop:.1f} | {noop - base:+.1f} | |")
    for name, value in (
        ("PrometheusObserver", with_prom),
        ("OtelObserver (standalone spans)", with_otel),
    ):
        print(f"| {name} | {value:.1f} | {value - base:+.1f} | {value - noop:+.1f} |")


if __name__ == "__main__":
    main()
