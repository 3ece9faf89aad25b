"""A deterministic test ledger, and plain-Python sums over it to check reports against.

``make_events()`` draws a few hundred calls over ten days of March 2026 (with one day left
empty), across users (and anonymous calls), features (and none), models, service tiers (and
none) and every status, with cache hits and refusals. The helpers below recompute what a report
should say straight from the events — loops over dataclasses, independent of the reports' SQL
and of its pure functions.
``HAND_BUILT`` is a ledger small enough to work its figures out by hand.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from costcap.ledger import CostEvent, Status

START = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 10
EMPTY_DAY = date(2026, 3, 5)  # no call on this day: time buckets must still list it
USERS = [f"user-{i:02d}" for i in range(12)]
FEATURES = ["chat", "search", "summarize"]
# picodollars per input / output token
MODELS = {
    "gpt-4o-mini": (150_000, 600_000),
    "gpt-4o": (2_500_000, 10_000_000),
    "claude-haiku-4-5": (1_000_000, 5_000_000),
}
REASONS = [
    "budget user:*/day",
    "budget global/day",
    "rate limit 20/minute per user",
    "policy: model gpt-5 is not allowed for feature chat",
]
STATUSES: list[Status] = ["ok", "error", "refused", "cut"]
TIERS = [None, "flex", "priority"]  # None: none recorded (the standard price)


def make_events(n: int = 420, seed: int = 2026) -> list[CostEvent]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        day = rng.randrange(DAYS)
        if START.date() + timedelta(days=day) == EMPTY_DAY:
            day += 1
        micro = 0 if i % 9 == 0 else rng.randrange(1, 10**6)  # some stored without a fraction
        ts = START + timedelta(days=day, seconds=rng.randrange(86400), microseconds=micro)
        status = rng.choices(STATUSES, weights=[75, 6, 12, 7])[0]
        model = rng.choice(list(MODELS))
        user = rng.choice([*USERS, None])
        feature = rng.choice([*FEATURES, None])
        kwargs: dict[str, object] = {}
        if status == "refused":
            kwargs["refused_by"] = rng.choice(REASONS)
        else:
            tokens_in, tokens_out = rng.randrange(20, 4000), rng.randrange(0, 1500)
            price_in, price_out = MODELS[model]
            cost = tokens_in * price_in + (tokens_out * price_out if status != "error" else 0)
            hit = status == "ok" and rng.random() < 0.2
            kwargs.update(
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                cost_pico=0 if hit else cost,
                saved_pico=cost if hit else 0,
                cache_hit=hit,
                latency_ms=None if hit else rng.uniform(100, 3000),
            )
        events.append(
            CostEvent(
                request_id=f"req-{i:05d}",
                ts=ts,
                status=status,
                model=model,
                user_id=user,
                feature=feature,
                api_key_id=f"key-{rng.randrange(3)}",
                prompt_hash=f"h{rng.randrange(40)}",
                service_tier=TIERS[i % len(TIERS)],  # in turn: draws no number from rng
                **kwargs,  # type: ignore[arg-type]
            )
        )
    return events


EVENTS = make_events()


def usd(pico: int) -> Decimal:
    return Decimal(pico) / 10**12


def select(
    events: Iterable[CostEvent],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    user: str | None = None,
    feature: str | None = None,
    model: str | None = None,
) -> list[CostEvent]:
    """The events a report with these bounds (instants) and filters covers."""
    return [
        e
        for e in events
        if (since is None or e.ts >= since)
        and (until is None or e.ts < until)
        and (user is None or e.user_id == user)
        and (feature is None or e.feature == feature)
        and (model is None or e.model == model)
    ]


def group(
    events: Iterable[CostEvent], key: Callable[[CostEvent], object]
) -> dict[object, list[CostEvent]]:
    out: dict[object, list[CostEvent]] = defaultdict(list)
    for e in events:
        out[key(e)].append(e)
    return dict(out)


def cost(events: Iterable[CostEvent]) -> int:
    return sum(e.cost_pico for e in events)


HAND_BUILT_DAY = date(2026, 3, 2)
_CENT = 10**10  # picodollars


def _calls(user: str, status: Status, n: int, cost_pico: int = 0) -> list[CostEvent]:
    """``n`` calls of ``user`` on HAND_BUILT_DAY (chat, gpt-4o-mini); answered ones have 100
    input and 50 output tokens."""
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    refused = status == "refused"
    return [
        CostEvent(
            request_id=f"{user}-{status}-{i}",
            ts=start + timedelta(seconds=i),
            status=status,
            model="gpt-4o-mini",
            user_id=user,
            feature="chat",
            input_tokens=0 if refused else 100,
            output_tokens=0 if refused else 50,
            cost_pico=cost_pico,
            refused_by="budget user:*/day" if refused else None,
        )
        for i in range(n)
    ]


# A hand-built ledger, its figures worked out by hand in the tests that read it.
# alice: 30 answered calls at $0.01 each ($0.30) and 25 refused.
# bob: 4 answered at $0.05 each, 1 answered that failed ($0), 5 refused: $0.20 over 5 answered.
HAND_BUILT = [
    *_calls("alice", "ok", 30, _CENT),
    *_calls("alice", "refused", 25),
    *_calls("bob", "ok", 4, 5 * _CENT),
    *_calls("bob", "error", 1),
    *_calls("bob", "refused", 5),
]


DAY_1 = datetime(2026, 3, 2, 9, tzinfo=UTC)
DAY_2 = datetime(2026, 3, 3, 10, tzinfo=UTC)


def _tiered(  # noqa: PLR0917 - one line per group of calls in TIERED below
    name: str,
    n: int,
    at: datetime,
    model: str,
    tier: str | None,
    user: str,
    feature: str,
    tokens: tuple[int, int],
    cost_pico: int,
    status: Status = "ok",
) -> list[CostEvent]:
    """``n`` calls a minute apart from ``at``, each with these tokens and cost."""
    return [
        CostEvent(
            request_id=f"{name}-{i}",
            ts=at + timedelta(minutes=i),
            status=status,
            model=model,
            service_tier=tier,
            user_id=user,
            feature=feature,
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            cost_pico=cost_pico,
            refused_by="budget user:*/day" if status == "refused" else None,
        )
        for i in range(n)
    ]


# A hand-built ledger of calls at service tiers, its figures worked out by hand in the tests
# that read it. March 2nd: alice's chat calls at the priority tier and at none; bob's
# failed call at none. March 3rd from 10:00: bob's triage calls at flex, then one of them refused.
TIERED = [
    *_tiered("prio", 2, DAY_1, "gpt-4o", "priority", "alice", "chat", (1000, 500), 25 * _CENT),
    *_tiered("std", 2, DAY_1, "gpt-4o-mini", None, "alice", "chat", (100, 50), _CENT),
    *_tiered("dflt", 1, DAY_1, "gpt-4o-mini", "priority", "alice", "chat", (200, 100), 3 * _CENT),
    *_tiered("fail", 1, DAY_1, "gpt-4o", None, "bob", "chat", (300, 0), 0, "error"),
    *_tiered("flex", 3, DAY_2, "gpt-4o-mini", "flex", "bob", "triage", (100, 40), _CENT // 2),
    *_tiered("no", 1, DAY_2 + timedelta(minutes=3), "gpt-4o-mini", "flex", "bob", "triage",
             (0, 0), 0, "refused"),
]  # fmt: skip
