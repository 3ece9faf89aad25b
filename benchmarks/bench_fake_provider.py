"""Requests per second of the fake provider over real HTTP (127.0.0.1, one keep-alive client).

Run: ``.venv/bin/python benchmarks/bench_fake_provider.py [--requests 300] [--rounds 5]
[--write]``. Each scenario sends ``--requests`` sequential requests per round (after a warm-up)
and reports the median and best round; ``--write`` records the table in
``benchmarks/results/fake_provider.md``. Bounded: it stops by itself after the last round.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from costcap.testing import run_fake_provider

RESULTS = Path(__file__).parent / "results" / "fake_provider.md"
MESSAGES = [{"role": "user", "content": "Summarise the plot of Hamlet in one sentence."}]


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    body: dict[str, Any]
    stream: bool


SCENARIOS = [
    Scenario(
        "chat, non-streaming",
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": MESSAGES},
        stream=False,
    ),
    Scenario(
        "chat, streaming + usage",
        "/v1/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": MESSAGES,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        stream=True,
    ),
    Scenario(
        "responses, streaming",
        "/v1/responses",
        {"model": "gpt-4o-mini", "input": MESSAGES[0]["content"], "stream": True},
        stream=True,
    ),
    Scenario(
        "messages, non-streaming",
        "/v1/messages",
        {"model": "claude-haiku-4-5", "max_tokens": 256, "messages": MESSAGES},
        stream=False,
    ),
    Scenario(
        "messages, streaming",
        "/v1/messages",
        {"model": "claude-haiku-4-5", "max_tokens": 256, "messages": MESSAGES, "stream": True},
        stream=True,
    ),
]


def _sender(client: httpx.Client, scenario: Scenario) -> Callable[[], None]:
    def send() -> None:
        if scenario.stream:
            with client.stream("POST", scenario.path, json=scenario.body) as response:
                response.raise_for_status()
                for _ in response.iter_bytes():
                    pass
        else:
            client.post(scenario.path, json=scenario.body).raise_for_status()

    return send


def _round(send: Callable[[], None], requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        send()
    return requests / (time.perf_counter() - started)


def run(requests: int, rounds: int, output_tokens: int) -> list[tuple[str, float, float]]:
    """``(scenario, median req/s, best req/s)`` for every scenario."""
    rows: list[tuple[str, float, float]] = []
    headers = {"x-fake-output-tokens": str(output_tokens)}
    with (
        run_fake_provider() as fp,
        httpx.Client(
            base_url=fp.base_url,
            headers=headers,
            timeout=30,
        ) as client,
    ):
        for scenario in SCENARIOS:
            send = _sender(client, scenario)
            _round(send, max(requests // 10, 10))  # warm-up: connection, tokenizer, caches
            rates = [_round(send, requests) for _ in range(rounds)]
            rows.append((scenario.name, statistics.median(rates), max(rates)))
            fp.reset()
    return rows


def table(rows: list[tuple[str, float, float]]) -> str:
    lines = ["| scenario | median req/s | best req/s |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {median:,.0f} | {best:,.0f} |" for name, median, best in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output-tokens", type=int, default=20)
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    args = parser.parse_args()
    rows = run(args.requests, args.rounds, args.output_tokens)
    result = table(rows)
    print(result)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            "# Fake provider throughput\n\n"
            "Sequential requests over real HTTP to `run_fake_provider()` (uvicorn, h11, one "
            "worker thread) from one keep-alive `httpx.Client` on 127.0.0.1; "
            f"{args.requests} requests per round, {args.rounds} rounds after a warm-up, "
            f"{args.output_tokens} output tokens per answer (streams: one SSE chunk per token, "
            "read to the end). Client and server share the machine: "
            f"{platform.machine()}, {_cores()} cores, Python {platform.python_version()} "
            "(a noisy 2-core machine; expect ±20 % between runs).\n\n"
            f"{result}\n\n"
            "Before `run_fake_provider` created its listening socket with "
            "`proto=IPPROTO_TCP` (asyncio then sets TCP_NODELAY on accepted connections), "
            "Nagle's algorithm and the client's delayed ACK held every answer ~45 ms: "
            "22 req/s in every scenario.\n\n"
            "Rerun: `.venv/bin/python benchmarks/bench_fake_provider.py --write` "
            "(options: `--requests`, `--rounds`, `--output-tokens`).\n"
        )


def _cores() -> int:
    return os.cpu_count() or 1


if __name__ == "__main__":
    main()
