"""What the wire guard adds to an OpenAI SDK call, beside ``costcap.wrap`` in the same run.

    .venv/bin/python benchmarks/bench_wire.py [--calls N] [--repeat R]

Three clients take turns call by call (the order rotates): the bare SDK; the SDK wrapped by
``costcap.wrap``; the SDK given ``http_client=costcap.http_client(guard)``. Both guards run on
``memory://`` with a global budget and a real ``Ledger`` (SQLite) recording every call, as in
``bench_wrap.py``, whose helpers this reuses. "added" is the p50 of each turn's difference from
its bare call (this VM's speed drifts within seconds: separate runs read drift as cost); every
figure is the median over ``--repeat`` rounds of ``--calls`` turns.

1. **in process** — answers from an ``httpx2.MockTransport`` with the fake provider's bodies
   (no socket): what remains is the SDK's work, so the difference is costcap's. Sync and async,
   chat non-streamed and streamed (20 tokens, read to the end).
2. **over HTTP** — the fake provider in a separate process (its own core and GIL), sync.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from typing import Any

import httpx2
import openai
from bench_wrap import (
    LEDGERS,
    acall,
    async_guard,
    call,
    canned,
    guard,
    kind_of,
    mock_transport,
    p50_us,
    running_provider,
)

import costcap
from costcap.integrations.wrap import wrap

#: What one round gives: bare p50, then (p50, p50 of the difference from bare) per guarded client.
Round = tuple[float, list[tuple[float, float]]]


def rotate(turn: int, clients: Sequence[Any]) -> list[int]:
    """The order of the clients in ``turn``: each goes first as often as the others."""
    start = turn % len(clients)
    return [(start + i) % len(clients) for i in range(len(clients))]


def summarize(samples: list[list[float]]) -> Round:
    bare = samples[0]
    rest = [(p50_us(s), p50_us([g - b for g, b in zip(s, bare, strict=True)])) for s in samples[1:]]
    return p50_us(bare), rest


def median_round(rounds: list[Round]) -> Round:
    bare = statistics.median(r[0] for r in rounds)
    count = len(rounds[0][1])
    rest = [
        (
            statistics.median(r[1][i][0] for r in rounds),
            statistics.median(r[1][i][1] for r in rounds),
        )
        for i in range(count)
    ]
    return bare, rest


def compare(clients: Sequence[openai.OpenAI], stream: bool, calls: int, repeat: int) -> Round:
    """``clients[0]`` is bare; the others are measured against it, turn by turn."""
    for client in clients:  # warm-up
        for _ in range(max(20, calls // 10)):
            call(client, stream)
    clock = time.perf_counter
    rounds = []
    for _ in range(repeat):
        samples: list[list[float]] = [[] for _ in clients]
        for turn in range(calls):
            for index in rotate(turn, clients):
                started = clock()
                call(clients[index], stream)
                samples[index].append(clock() - started)
        rounds.append(summarize(samples))
    return median_round(rounds)


def acompare(clients: Sequence[openai.AsyncOpenAI], stream: bool, calls: int, repeat: int) -> Round:
    async def main() -> Round:
        for client in clients:
            for _ in range(max(20, calls // 10)):
                await acall(client, stream)
        clock = time.perf_counter
        rounds = []
        for _ in range(repeat):
            samples: list[list[float]] = [[] for _ in clients]
            for turn in range(calls):
                for index in rotate(turn, clients):
                    started = clock()
                    await acall(clients[index], stream)
                    samples[index].append(clock() - started)
            rounds.append(summarize(samples))
        for client in clients:
            await client.close()
        return median_round(rounds)

    return asyncio.run(main())


def row(path: str, stream: bool, result: Round) -> None:
    bare, ((wrapped, wrap_added), (wire, wire_added)) = result
    print(f"| {path} | {kind_of(stream)} | {bare:,.0f} | {wrapped:,.0f} | {wire:,.0f} "
          f"| {wrap_added:,.1f} ({wrap_added / bare:.1%}) | {wire_added:,.1f} "
          f"({wire_added / bare:.1%}) | {wire_added / wrap_added:.2f} |")  # fmt: skip


def sdk(
    http_client: httpx2.Client | None = None, base_url: str = "http://mock/v1"
) -> openai.OpenAI:
    return openai.OpenAI(api_key="x", base_url=base_url, max_retries=0, http_client=http_client)


def asdk(http_client: httpx2.AsyncClient) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key="x", base_url="http://mock/v1", max_retries=0, http_client=http_client
    )


def in_process_rows(bodies: dict[str, bytes], calls: int, repeat: int) -> None:
    def plain() -> httpx2.Client:
        return httpx2.Client(transport=mock_transport(bodies))

    for stream in (False, True):
        wrap_guard, wire_guard = guard(), guard()
        clients = [
            sdk(plain()),
            wrap(sdk(plain()), guard=wrap_guard),
            sdk(costcap.http_client(wire_guard, transport=mock_transport(bodies))),
        ]
        row("in process (sync)", stream, compare(clients, stream, calls, repeat))
        for client in clients:
            client.close()
        wrap_guard.close()
        wire_guard.close()
    for stream in (False, True):
        aclients = [
            asdk(httpx2.AsyncClient(transport=mock_transport(bodies))),
            wrap(asdk(httpx2.AsyncClient(transport=mock_transport(bodies))), guard=async_guard()),
            asdk(costcap.async_http_client(async_guard(), transport=mock_transport(bodies))),
        ]
        row("in process (async)", stream, acompare(aclients, stream, calls, repeat))


def http_rows(base_url: str, calls: int, repeat: int) -> None:
    wrap_guard, wire_guard = guard(), guard()
    clients = [
        sdk(base_url=base_url),
        wrap(sdk(base_url=base_url), guard=wrap_guard),
        sdk(costcap.http_client(wire_guard), base_url=base_url),
    ]
    for stream in (False, True):
        row("HTTP, fake provider (sync)", stream, compare(clients, stream, calls, repeat))
    for client in clients:
        client.close()
    wrap_guard.close()
    wire_guard.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"openai {openai.__version__}; {args.calls} turns × {args.repeat} rounds; "
          "medians of p50s\n")  # fmt: skip
    print("| path | call | bare µs | wrap µs | wire µs | wrap adds µs | wire adds µs "
          "| wire / wrap added |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    try:
        with running_provider() as base_url:
            bodies = canned(base_url)
            http_rows(base_url, args.calls, args.repeat)
        in_process_rows(bodies, args.calls, args.repeat)
    finally:
        LEDGERS.close()


if __name__ == "__main__":
    main()
