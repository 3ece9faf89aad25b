"""Cost computations per second: costcap.pricing against genai-prices' ``calc_price``.

Run: ``.venv/bin/python benchmarks/bench_pricing.py [--runs 7] [--seconds 0.3]``

Each case is timed ``--runs`` times for about ``--seconds`` each; the table shows the median rate.
Every case of the first table prices the same call (Claude Sonnet 4.5: 2,000 input tokens of which
500 cache reads and 100 cache writes, 500 output tokens), every case of the second the same audio
call (gpt-realtime); the script checks that all cases of a table give the same total.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal

import genai_prices
from anthropic.types import Usage as AnthropicUsage
from openai.types import CompletionUsage
from openai.types.completion_usage import PromptTokensDetails
from openai.types.realtime import RealtimeResponseUsage

from costcap.pricing import PriceCatalog, Usage


def _rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (batches of calls, one clock read each)."""
    batch = 1
    while True:  # size a batch to ~1/20 of the measuring time
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed > seconds / 20:
            break
        batch *= 2
    calls = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            fn()
        calls += batch
    return calls / elapsed


def _table(
    title: str, cases: list[tuple[str, Callable[[], Decimal]]], timed: list[Callable[[], object]],
    args: argparse.Namespace,
) -> bool:  # fmt: skip
    """Check that every case gives the same total, then print the median rate of each."""
    totals = {name: fn() for name, fn in cases}
    if len(set(totals.values())) != 1:
        print(f"results disagree: {totals}", file=sys.stderr)
        return False
    medians = [statistics.median(_rate(fn, args.seconds) for _ in range(args.runs)) for fn in timed]
    reference = medians[-1]
    print(f"{title} (total ${totals[cases[0][0]]}), median of {args.runs} runs\n")
    print("| path | calls/s (median) | µs/call | × calc_price |")
    print("|---|---:|---:|---:|")
    for (name, _), rate in zip(cases, medians, strict=True):
        print(f"| {name} | {rate:,.0f} | {1e6 / rate:.2f} | {rate / reference:,.0f}× |")
    print()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.3)
    args = parser.parse_args(argv)

    model = "claude-sonnet-4-5"
    catalog = PriceCatalog()
    price = catalog.resolve(model)
    usage = Usage(2_000, 500, cache_read_tokens=500, cache_write_tokens=100)
    anthropic_usage = AnthropicUsage(
        input_tokens=1_400, output_tokens=500, cache_read_input_tokens=500,
        cache_creation_input_tokens=100,
    )  # fmt: skip
    openai_usage = CompletionUsage(
        prompt_tokens=2_000, completion_tokens=500, total_tokens=2_500,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=500, cache_write_tokens=100),
    )  # fmt: skip
    gp_usage = genai_prices.Usage(
        input_tokens=2_000, output_tokens=500, cache_read_tokens=500, cache_write_tokens=100
    )
    print(f"Python {sys.version.split()[0]}, genai-prices {genai_prices.__version__}\n")
    # Timed paths return a Cost; total_usd (a Decimal) is only built to check agreement.
    text = _table(
        f"Pricing one call of {model}",
        [
            ("`ModelPrice.cost(Usage)`", lambda: price.cost(usage).total_usd),
            ("`catalog.cost(model, Usage)`", lambda: catalog.cost(model, usage).total_usd),
            (
                "`catalog.cost(model, anthropic.types.Usage)`",
                lambda: catalog.cost(model, anthropic_usage).total_usd,
            ),
            (
                "`catalog.cost(model, openai CompletionUsage)`",
                lambda: catalog.cost(model, openai_usage).total_usd,
            ),
            (
                "genai-prices `calc_price(Usage, model)`",
                lambda: genai_prices.calc_price(gp_usage, model).total_price,
            ),
        ],
        [
            lambda: price.cost(usage),
            lambda: catalog.cost(model, usage),
            lambda: catalog.cost(model, anthropic_usage),
            lambda: catalog.cost(model, openai_usage),
            lambda: genai_prices.calc_price(gp_usage, model),
        ],
        args,
    )
    audio = _audio_table(catalog, args)
    return 0 if text and audio else 1


def _audio_table(catalog: PriceCatalog, args: argparse.Namespace) -> bool:
    """gpt-realtime: 10,000 input tokens (8,000 audio, 4,000 cached of which 3,000 audio), 2,000
    output (1,500 audio), read from a Realtime usage object."""
    model = "gpt-realtime"
    price = catalog.resolve(model)
    counts = {"input_tokens": 10_000, "output_tokens": 2_000, "cache_read_tokens": 4_000,
              "input_audio_tokens": 8_000, "cache_audio_read_tokens": 3_000,
              "output_audio_tokens": 1_500}  # fmt: skip
    usage = Usage(**counts)
    realtime = RealtimeResponseUsage.model_validate(
        {
            "input_tokens": 10_000,
            "output_tokens": 2_000,
            "input_token_details": {
                "cached_tokens": 4_000, "audio_tokens": 8_000, "text_tokens": 2_000,
                "cached_tokens_details": {"audio_tokens": 3_000, "text_tokens": 1_000},
            },
            "output_token_details": {"audio_tokens": 1_500, "text_tokens": 500},
        }
    )  # fmt: skip
    gp_usage = genai_prices.Usage(**counts)
    return _table(
        f"Pricing one audio call of {model}",
        [
            ("`ModelPrice.cost(Usage)` with audio", lambda: price.cost(usage).total_usd),
            (
                "`catalog.cost(model, RealtimeResponseUsage)`",
                lambda: catalog.cost(model, realtime).total_usd,
            ),
            (
                "genai-prices `calc_price(Usage, model)`",
                lambda: genai_prices.calc_price(gp_usage, model).total_price,
            ),
        ],
        [
            lambda: price.cost(usage),
            lambda: catalog.cost(model, realtime),
            lambda: genai_prices.calc_price(gp_usage, model),
        ],
        args,
    )


if __name__ == "__main__":
    sys.exit(main())
