"""The streaming example app, over real HTTP (uvicorn), against the fake provider over HTTP.

A browser is played by httpx: it reads a few SSE events and goes away. The fake provider must
see its upstream stream dropped with partial output, and costcap must record a ``cut`` event
whose cost is exactly what the provider billed — never $0.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from costcap.ledger import CostEvent, open_sink
from costcap.pricing import default_catalog
from costcap.testing import FakeProviderConfig, FakeProviderServer, run_fake_provider, serve_asgi
from examples.streaming_app import URL, Settings, create_app
from tests.waiting import wait_for

Serve = Callable[..., tuple[str, FakeProviderServer]]


class Recorder:
    def __init__(self) -> None:
        self.events: list[CostEvent] = []

    def on_event(self, event: CostEvent) -> None:
        self.events.append(event)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def serve(tmp_path: Path, recorder: Recorder) -> Iterator[Serve]:
    """Start a fake provider (paced: 50 ms between chunks, long answers) and the app."""
    started: list[Any] = []

    def start(**overrides: str) -> tuple[str, FakeProviderServer]:
        fp_manager = run_fake_provider(FakeProviderConfig(chunk_delay_ms=50, output_tokens=200))
        fp = fp_manager.__enter__()
        settings = Settings(
            store=f"sqlite:///{tmp_path / 'stream.db'}",
            ledger=f"sqlite:///{tmp_path / f'ledger{len(started)}.db'}",
            anthropic_base_url=fp.anthropic_base_url,
            anthropic_api_key="sk-ant-test",
            **overrides,
        )
        app = serve_asgi(create_app(settings, observers=[recorder]), lifespan="on")
        port = app.__enter__()
        started.extend([app, fp_manager])
        return f"http://127.0.0.1:{port}", fp

    yield start
    for manager in reversed(started):
        manager.__exit__(None, None, None)


def billed_pico(fp: FakeProviderServer) -> int:
    catalog = default_catalog()
    return sum(
        catalog.cost(r.model or "", {"input_tokens": r.input_tokens,
                                     "output_tokens": r.output_tokens}).total_pico
        for r in fp.requests
        if r.billed
    )  # fmt: skip


def sse_events(lines: Iterator[str], limit: int | None = None) -> list[tuple[str, Any]]:
    """``(event, data)`` pairs read from an SSE body, stopping after ``limit`` text events."""
    events: list[tuple[str, Any]] = []
    name = ""
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, json.loads(line.removeprefix("data: "))))
            if limit is not None and sum(e == "text" for e, _ in events) >= limit:
                break
    return events


def test_browser_leaving_stops_the_spend(serve: Serve, recorder: Recorder) -> None:
    """A browser that reads three chunks and disconnects: the upstream stream is dropped at
    once (the provider billed partial output) and costcap recorded a ``cut`` event of exactly
    the billed cost."""
    base, fp = serve()
    with (
        httpx.Client(timeout=10) as browser,
        browser.stream("POST", base + URL, json={"prompt": "Tell me a long story"},
                       headers={"x-user-id": "alice"}) as response,
    ):  # fmt: skip
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.iter_lines(), limit=3)
    assert [name for name, _ in events] == ["text"] * 3
    wait_for(lambda: bool(fp.requests) and bool(recorder.events))
    [request] = fp.requests
    assert request.disconnect == "client"
    assert 3 <= request.output_text.count("hello") < 20  # the upstream stopped early
    [event] = recorder.events
    assert (event.status, event.stream, event.user_id) == ("cut", True, "alice")
    assert event.output_tokens == request.output_tokens
    assert event.cost_pico == billed_pico(fp) > 0


def test_full_stream_ends_with_its_cost(serve: Serve, recorder: Recorder) -> None:
    """Read to the end, the stream closes with a ``done`` event carrying the settled cost,
    the one costcap recorded and the provider billed."""
    base, fp = serve()
    response = httpx.post(base + URL, json={"prompt": "Hi", "max_tokens": 6},
                          headers={"x-user-id": "bob"}, timeout=10)  # fmt: skip
    assert response.status_code == 200
    events = sse_events(iter(response.text.splitlines()))
    name, done = events[-1]
    assert name == "done"
    assert done["stop_reason"] == "max_tokens"
    assert 0 < done["output_tokens"] <= 6
    assert [n for n, _ in events[:-1]] == ["text"] * len(events[:-1])
    [event] = recorder.events
    assert event.status == "ok"
    assert Decimal(done["cost_usd"]) * 10**12 == event.cost_pico == billed_pico(fp)


def test_refusal_is_answered_before_streaming(serve: Serve, recorder: Recorder) -> None:
    """Admission runs before the response starts: a user over budget gets a 402 JSON answer,
    not a broken stream, and nothing reaches the provider."""
    base, fp = serve(user_daily_usd="0.0001")
    response = httpx.post(base + URL, json={"prompt": "Hi"}, headers={"x-user-id": "carol"},
                          timeout=10)  # fmt: skip
    assert response.status_code == 402
    assert response.json()["error"]["type"] == "budget_exceeded"
    assert fp.requests == ()
    assert [e.status for e in recorder.events] == ["refused"]


def test_a_stream_lands_in_the_ledger(tmp_path: Path) -> None:
    """A streamed answer is recorded in the app's ledger (drained when the app shuts down) with
    who asked and exactly what the provider billed."""
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    with run_fake_provider() as fp:
        settings = Settings(
            store=f"sqlite:///{tmp_path / 'stream.db'}",
            ledger=ledger,
            anthropic_base_url=fp.anthropic_base_url,
            anthropic_api_key="sk-ant-test",
        )
        with serve_asgi(create_app(settings), lifespan="on") as port:
            response = httpx.post(f"http://127.0.0.1:{port}{URL}", json={"prompt": "Hi"},
                                  headers={"x-user-id": "bob"}, timeout=10)  # fmt: skip
            assert response.status_code == 200
        [request] = fp.requests
    sink = open_sink(ledger)
    try:
        rows = sink.query("SELECT user_id, status, output_tokens, cost_pico FROM costcap_events")
    finally:
        sink.close()
    # claude-haiku-4-5: $1 and $5 per million tokens = 1,000,000 and 5,000,000 picodollars a token
    cost = request.input_tokens * 1_000_000 + request.output_tokens * 5_000_000
    assert rows == [("bob", "ok", request.output_tokens, cost)]
