"""The router's cost per call: the heuristic classifier and ``Router.decide``.

    .venv/bin/python benchmarks/bench_router.py [--calls N] [--rounds R]

Prompts of about 15, 500 and 2,000 tokens (o200k_base, counted and printed), made of the
English and code texts of ``tests/tokens/corpus`` with an instruction at the end, sent as an
OpenAI chat request with a system message:

1. **classify** — ``classify(request_content(request))``: reading the request and classifying
   it, p50 and p99 µs over ``--calls`` calls, the median of ``--rounds`` rounds;
2. **decide** — ``Router.decide(feature, "costcap:auto", request=…)`` with three tiers, budget
   pressure facts given (the full path a wrapped call takes), p50 µs;
3. **for scale** — ``count_messages`` of the same request for gpt-4o, a different text each
   call (short texts' counts are memoized): what tokenizing the prompt to classify it would
   have cost on top of the count admission makes.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from costcap.router import FeatureRoutes, Pressure, Router, RouterConfig, classify, request_content
from costcap.tokens import count_messages, count_text

CORPUS = Path(__file__).parents[1] / "tests" / "tokens" / "corpus"
ASK = "\n\nSummarize the text above in three bullet points, then explain the main trade-off."


def prompt_of(tokens: int) -> str:
    """English and code text of about ``tokens`` tokens, then an instruction."""
    source = (CORPUS / "english.txt").read_text() + (CORPUS / "code.txt").read_text()
    text = ""
    while count_text(text, "gpt-4o") < tokens:
        text += source
    cut = len(text) * tokens // count_text(text, "gpt-4o")
    return text[:cut] + ASK


def request(prompt: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You are a careful assistant for a support team."},
            {"role": "user", "content": prompt},
        ],
        "max_tokens": 1024,
    }


def percentiles(call: Callable[[], object], calls: int) -> tuple[float, float]:
    """p50 and p99 of one round, in µs."""
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        call()
        times.append(time.perf_counter_ns() - start)
    times.sort()
    return times[calls // 2] / 1000, times[calls * 99 // 100] / 1000


def rounds(call: Callable[[], object], calls: int, count: int) -> tuple[float, float]:
    for _ in range(min(calls, 1000)):  # warm up
        call()
    results = [percentiles(call, calls) for _ in range(count)]
    return (statistics.median(r[0] for r in results), statistics.median(r[1] for r in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    routes = FeatureRoutes(
        tiers={"simple": "gpt-4o-mini", "complex": "gpt-4o", "critical": "o3"}, pressure=0.8
    )
    router = Router(RouterConfig(features={"chat": routes}))
    facts = Pressure(feature_share=0.5, user_share=0.25, exhausted={"gpt-4.1"})
    prompts = {
        "short": "Hi! Could you tell me what time the support desk opens on Saturdays?",
        "~500 tokens": prompt_of(500),
        "~2,000 tokens": prompt_of(2_000),
    }
    print("| prompt | tokens (o200k) | classify p50 µs | classify p99 µs | decide p50 µs "
          "| count_messages p50 µs | tier |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, prompt in prompts.items():
        req = request(prompt)
        tokens = count_messages(req["messages"], "gpt-4o").tokens

        def classified(r: dict[str, Any] = req) -> object:
            return classify(request_content(r))

        def decided(r: dict[str, Any] = req) -> object:
            return router.decide("chat", "costcap:auto", request=r, pressure=facts)

        variants = itertools.cycle([request(f"{prompt} ({n})")["messages"] for n in range(3000)])

        def counted(texts: Iterator[list[dict[str, str]]] = variants) -> object:
            return count_messages(next(texts), "gpt-4o")

        c50, c99 = rounds(classified, args.calls, args.rounds)
        d50, _ = rounds(decided, args.calls, args.rounds)
        n50, _ = rounds(counted, 3000, args.rounds)
        tier = router.decide("chat", "costcap:auto", request=req).tier
        print(f"| {name} | {tokens:,} | {c50:.1f} | {c99:.1f} | {d50:.1f} | {n50:.1f} | {tier} |")


if __name__ == "__main__":
    main()
