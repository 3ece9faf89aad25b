"""Three processes on one shared cache (a SQLite file, a Redis), each firing identical requests
from many threads at once at the fake provider through a wrapped client: the provider is asked
ONCE, and every caller in every process gets the same answer."""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from costcap import Guard
from costcap.cache import CachePolicy, ResponseCache
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.cache.conftest import SHARED_CACHE_BACKENDS, drop_cache_keys, make_cache_url
from tests.integrations.openai_sdk.conftest import MESSAGES, MODEL, served

PROCESSES = 3
THREADS = 10
#: The provider takes a while to answer: every caller asks while the first call is in flight.
SLOW = {"x-fake-latency-ms": "800", "x-fake-chunk-delay-ms": "10"}


class _Events:
    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.lock = threading.Lock()

    def on_event(self, event: Any) -> None:
        with self.lock:
            self.hits += event.cache_hit
            self.misses += event.cache_miss


def _ask(client: openai.OpenAI, kind: str) -> tuple[str, str]:
    """One caller's call, as (the answer's id, its text)."""
    if kind == "chat":
        completion = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, extra_headers=SLOW
        )
        return completion.id, completion.choices[0].message.content or ""
    stream = client.responses.create(model=MODEL, input="Hi", stream=True, extra_headers=SLOW)
    events: list[Any] = list(stream)
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    return events[0].response.id, text


def _process(base_url: str, cache_url: str, kind: str, start: Any, out: str) -> None:
    """One process: its own guard and cache on the shared backend, THREADS callers at once."""
    events = _Events()
    guard = Guard("memory://", notifiers=[], observers=[events])
    cache = ResponseCache(cache_url, policy=CachePolicy(mode="always"))
    sdk = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    client = wrap(sdk, guard=guard, cache=cache)
    answers: list[tuple[str, str]] = []
    together = threading.Barrier(THREADS)

    def caller() -> None:
        together.wait()
        answer = _ask(client, kind)
        with events.lock:
            answers.append(answer)

    threads = [threading.Thread(target=caller) for _ in range(THREADS)]
    start.wait(60)  # every process has started and imported: they fire together
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    Path(out).write_text(
        json.dumps({"answers": answers, "hits": events.hits, "misses": events.misses})
    )
    cache.close()
    guard.close()


@pytest.fixture(params=SHARED_CACHE_BACKENDS)
def shared_cache_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = make_cache_url(request.param, tmp_path)
    yield url
    if request.param == "redis":
        drop_cache_keys(url)


@pytest.mark.parametrize("kind", ["chat", "responses stream"])
def test_three_processes_make_one_provider_call(
    kind: str, shared_cache_url: str, fp: FakeProviderServer, tmp_path: Path
) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    outs = [tmp_path / f"process-{n}.json" for n in range(PROCESSES)]
    children = [
        context.Process(
            target=_process, args=(fp.openai_base_url, shared_cache_url, kind, start, str(out))
        )
        for out in outs
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
    assert [child.exitcode for child in children] == [0] * PROCESSES
    results = [json.loads(out.read_text()) for out in outs]
    answers = {tuple(answer) for result in results for answer in result["answers"]}
    assert sum(len(result["answers"]) for result in results) == PROCESSES * THREADS
    served(fp)
    assert len(fp.requests) == 1
    [(answer_id, text)] = answers  # every caller got the same answer, the provider's
    assert answer_id == fp.requests[0].id
    assert text == fp.requests[0].output_text
    assert sum(r["misses"] for r in results) == 1
    assert sum(r["hits"] for r in results) == PROCESSES * THREADS - 1
