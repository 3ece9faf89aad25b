"""What a hard budget holds when every stream is left after its first chunk.

    .venv/bin/python benchmarks/bench_abandoned_streams.py [--limit-usd 0.05] [--tokens 256] \
        [--delays 0,10] [--calls-max 5000]

A loop of wrapped OpenAI chat streams (``gpt-4o-mini``, ``max_tokens`` = ``--tokens``, the fake
provider asked for that many output tokens) each closed after its first content chunk, under
one global ``Budget(limit_usd=…)`` on ``memory://``, until the budget refuses a call. The loop
runs in its own process; the fake provider runs in this one and sends its chunks ``--delays``
ms apart (0: as fast as the socket takes them, so it runs ahead of the reader). For the default
Guard and for ``Guard(strict=True)`` the table gives the calls admitted, what costcap charged
the budget, and what the provider billed (priced from its own record of every request, once it
has recorded them all).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing import get_context

import openai

from costcap import Budget, BudgetExceeded, Guard
from costcap.integrations.wrap import wrap
from costcap.pricing import default_catalog
from costcap.testing import FakeProviderServer, run_fake_provider

MODEL = "gpt-4o-mini"
PICO = Decimal(10) ** 12


def billed_usd(fp: FakeProviderServer, expected: int) -> Decimal:
    deadline = time.monotonic() + 30
    while len(fp.requests) < expected and time.monotonic() < deadline:
        time.sleep(0.05)  # the provider records a stream when it notices the disconnect
    catalog = default_catalog()
    pico = sum(
        catalog.cost(
            r.model or MODEL,
            {"input_tokens": r.input_tokens, "output_tokens": r.output_tokens},
        ).total_pico
        for r in fp.requests
        if r.billed
    )
    return Decimal(pico) / PICO


@dataclass(frozen=True)
class Loop:
    base_url: str
    strict: bool
    delay_ms: int
    tokens: int
    limit: str
    calls_max: int


def one_loop(loop: Loop) -> tuple[int, Decimal]:
    """The client's side, in its own process: calls admitted and what the budget was charged."""
    guard = Guard(
        "memory://", budgets=[Budget(scope="global", period="day", limit_usd=loop.limit)],
        notifiers=[], strict=loop.strict,
    )  # fmt: skip
    tokens = loop.tokens
    headers = {"x-fake-output-tokens": str(tokens), "x-fake-chunk-delay-ms": str(loop.delay_ms)}
    calls = 0
    with openai.OpenAI(base_url=loop.base_url, api_key="sk-x", max_retries=0) as bare:
        client = wrap(bare, guard=guard)
        while calls < loop.calls_max:
            try:
                stream = client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": f"Tell me a story {calls}"}],
                    stream=True, max_tokens=tokens, extra_headers=headers,
                )  # fmt: skip
            except BudgetExceeded:
                break
            calls += 1
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    break
            stream.close()
    [status] = guard.status()
    spent = Decimal(str(status["spent_usd"]))
    guard.close()
    return calls, spent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit-usd", default="0.05")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--delays", default="0,10", help="chunk delays in ms, comma-separated")
    parser.add_argument("--calls-max", type=int, default=5000)
    args = parser.parse_args()
    print(f"hard budget ${args.limit_usd}, streams of {args.tokens} tokens left after one chunk\n")
    print("| chunk delay | guard | calls admitted | charged to the budget | billed by the provider "
          "| billed / limit |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    with run_fake_provider() as fp, ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        for delay in (int(d) for d in args.delays.split(",")):
            for strict in (False, True):
                fp.reset()
                loop = Loop(fp.openai_base_url, strict, delay, args.tokens, args.limit_usd,
                            args.calls_max)  # fmt: skip
                calls, spent = pool.submit(one_loop, loop).result()
                billed = billed_usd(fp, calls)
                ratio = billed / Decimal(args.limit_usd)
                print(f"| {delay} ms | {'strict' if strict else 'default'} | {calls:,} | "
                      f"${spent:.6f} | ${billed:.6f} | {ratio:.2f}x |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
