"""What routing adds to a wrapped call: ``model="costcap:auto"`` beside the same call naming its
model, in the same run.

    .venv/bin/python benchmarks/bench_routing.py [--calls N] [--repeat R] [--skip-http]

Clients take turns call by call (the order rotates), each wrapped client with its own Guard on
``memory://`` (a global and a feature budget, a real SQLite ledger, as in ``bench_wrap.py``):

* the bare SDK;
* ``wrap`` on a Guard without a router, the model named (the unrouted path);
* ``wrap`` on a Guard with a router, the model named (a real name is not routed: one check);
* ``costcap:simple`` (a route name with its tier: no classification);
* ``costcap:auto`` (the heuristic classifier reads the request);
* ``costcap:auto`` with ``pressure`` on the feature (one more store read: its budget's window);
* ``costcap:auto`` with a cascade whose validators accept the answer (``empty``, ``refusal``,
  ``truncated`` run on it).

The routes' tiers all name the model the answers come from (``gpt-4o-mini``), so every client
makes the same call; the differences are the routing's. In process, the answers come from an
``httpx2.MockTransport`` with the fake provider's bodies (no socket: what remains is the SDK's
work and costcap's); over HTTP, from the fake provider in its own process. "added" is the p50
of each turn's difference from its bare call; figures are medians over ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from decimal import Decimal

import httpx2
import openai
from bench_wire import median_round, rotate, sdk, summarize
from bench_wrap import LEDGERS, MODEL, canned, messages, mock_transport, running_provider

from costcap import Budget, Guard
from costcap.integrations.wrap import wrap
from costcap.router import Cascade, FeatureRoutes, Router, RouterConfig

FEATURE = "chat"
TIERS = {"simple": MODEL, "complex": MODEL, "critical": MODEL}
Call = Callable[[openai.OpenAI, bool], None]
CLIENTS = (
    "wrap, model named",
    "router, model named",
    "costcap:simple",
    "costcap:auto",
    "costcap:auto + pressure",
    "costcap:auto + cascade",
)


def asking(model: str) -> Call:
    def call(client: openai.OpenAI, stream: bool) -> None:
        if stream:
            with client.chat.completions.create(
                model=model, messages=messages(), stream=True
            ) as chunks:
                for _ in chunks:
                    pass
        else:
            client.chat.completions.create(model=model, messages=messages())

    return call


def routed_guard(routes: FeatureRoutes | None) -> Guard:
    """A Guard with a global and a feature budget (every client reserves in both: the pressure
    client's only difference is its read of them)."""
    router = None if routes is None else Router(RouterConfig(features={FEATURE: routes}))
    budgets = [Budget(scope="global", period="day", limit_usd=10**9),
               Budget(scope=f"feature:{FEATURE}", period="day", limit_usd=10**6)]  # fmt: skip
    return Guard("memory://", budgets=budgets, notifiers=[], observers=[LEDGERS.new()],
                 router=router)  # fmt: skip


def clients(http: Callable[[], openai.OpenAI]) -> list[tuple[openai.OpenAI, Call]]:
    plain = FeatureRoutes(tiers=TIERS)
    pressed = FeatureRoutes(tiers=TIERS, pressure=Decimal("0.8"))
    cascaded = FeatureRoutes(tiers=TIERS, cascade=Cascade(enabled=True))

    def wrapped(guard: Guard) -> openai.OpenAI:
        return wrap(http(), guard=guard, feature=FEATURE)

    return [
        (http(), asking(MODEL)),
        (wrapped(routed_guard(None)), asking(MODEL)),
        (wrapped(routed_guard(plain)), asking(MODEL)),
        (wrapped(routed_guard(plain)), asking("costcap:simple")),
        (wrapped(routed_guard(plain)), asking("costcap:auto")),
        (wrapped(routed_guard(pressed)), asking("costcap:auto")),
        (wrapped(routed_guard(cascaded)), asking("costcap:auto")),
    ]


def compare(
    pairs: Sequence[tuple[openai.OpenAI, Call]], stream: bool, calls: int, repeat: int
) -> tuple[float, list[tuple[float, float]]]:
    for client, call in pairs:  # warm-up
        for _ in range(max(20, calls // 10)):
            call(client, stream)
    clock = time.perf_counter
    rounds = []
    for _ in range(repeat):
        samples: list[list[float]] = [[] for _ in pairs]
        for turn in range(calls):
            for index in rotate(turn, pairs):
                client, call = pairs[index]
                started = clock()
                call(client, stream)
                samples[index].append(clock() - started)
        rounds.append(summarize(samples))
    return median_round(rounds)


def rows(where: str, http: Callable[[], openai.OpenAI], calls: int, repeat: int,
         streams: Sequence[bool]) -> None:  # fmt: skip
    print("| path | call | bare µs | " + " | ".join(f"{n} µs (added)" for n in CLIENTS) + " |")
    print("|---|---|---:|" + "---:|" * len(CLIENTS))
    notes = []
    for stream in streams:
        pairs = clients(http)
        bare, rest = compare(pairs, stream, calls, repeat)
        kind = "chat, streamed 20 tokens" if stream else "chat"
        cells = " | ".join(f"{p50:,.0f} ({added:+,.1f})" for p50, added in rest)
        print(f"| {where} | {kind} | {bare:,.0f} | {cells} |")
        named = rest[0][1]
        auto = rest[3][1]
        notes.append(
            f"{where}, {kind}: costcap:auto adds {auto - named:+,.1f} µs to the call naming its "
            f"model ({(auto - named) / named:+.1%} of what wrap adds, {named:,.1f} µs); a router "
            f"set and a real name {rest[1][1] - named:+,.1f} µs; pressure "
            f"{rest[4][1] - auto:+,.1f} µs, a cascade accepting the answer "
            f"{rest[5][1] - auto:+,.1f} µs over costcap:auto"
        )
        for client, _ in pairs:
            client.close()
    print()
    for note in notes:
        print(f"- {note}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    try:
        with running_provider() as base_url:
            bodies = canned(base_url)

            def in_process() -> openai.OpenAI:
                return sdk(httpx2.Client(transport=mock_transport(bodies)))

            rows("in process", in_process, args.calls, args.repeat, (False, True))
            if not args.skip_http:

                def over_http() -> openai.OpenAI:
                    return sdk(base_url=base_url)

                rows("HTTP, local fake provider", over_http, args.calls, args.repeat, (False,))
    finally:
        LEDGERS.close()


if __name__ == "__main__":
    main()
