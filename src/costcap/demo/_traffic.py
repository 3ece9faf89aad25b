"""The product the demo simulates: its users, features, models and prompts (deterministic)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FEATURES", "Feature", "Request", "Service", "day_of_requests", "in_batches"]

Api = Literal["anthropic", "openai-chat", "openai-responses"]


@dataclass(frozen=True, slots=True)
class Service:
    """Another team's service, not written in Python: it reaches the LLMs through the gateway
    (``costcap serve``) with a virtual key of its own — its name, daily budget and rate limit —
    sending plain JSON over HTTP. Its key names no user: each request says whose it is."""

    name: str  # the virtual key's name
    language: str
    budget: str  # the key's budget, as `costcap keys create --budget` spells it
    limit: str  # the key's rate limit, as `--limit` spells it
    user_from: str  # where its requests name their user: a header or a body field


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    model: str
    api: Api
    share: int  # relative traffic
    output: tuple[int, int]  # output tokens range
    stream: float  # share of calls streamed
    max_tokens: int | None  # what the feature's code asks for (None: relies on the policy)
    service_tier: str | None = None  # processing asked for (flex: half price, slower)
    questions: tuple[str, ...] = ()  # a fixed set of questions asked again and again (cached)
    asks: tuple[str, ...] = ()  # what its users ask about a topic (``{topic}``), some harder
    service: Service | None = None  # called through the gateway by this service (None: the
    # Python product, through the wrapped SDKs)
    burst: int = 1  # requests sent at once, in parallel (a batch job's)
    system: str | None = None  # its instructions (``{lang}``: a language)


#: The chat feature's asks: most are quick, some need explaining, a few real analysis — its
#: model is a route (``costcap:auto``), so each goes to the tier its prompt needs.
_CHAT_ASKS = (
    *["Thank the customer in one line for raising {topic}."] * 4,
    *["Explain {topic} to the customer and compare their options."] * 3,
    *["Analyze {topic} step by step: find the root cause, weigh the tradeoffs and check the "
      "edge cases rigorously."] * 2,
)  # fmt: skip

FEATURES = (
    Feature("chat", "costcap:auto", "anthropic", 45, (80, 700), 0.6, 1024, asks=_CHAT_ASKS),
    Feature("summarize", "gpt-4o-mini", "openai-chat", 25, (60, 300), 0.3, None),
    Feature("search", "gpt-4.1-mini", "openai-responses", 20, (40, 200), 0.0, 400),
    Feature("code", "claude-haiku-4-5", "anthropic", 10, (200, 1200), 0.5, 8000),
    Feature("triage", "gpt-5-mini", "openai-chat", 12, (20, 120), 0.0, 200, "flex"),
    Feature("faq", "gpt-4o-mini", "openai-chat", 15, (60, 240), 0.2, 300,
            questions=(
                "How do I reset my password?", "Can I change my billing date?",
                "Do you offer refunds on annual plans?", "How do I export my data?",
                "Which regions do you host in?", "How do I add a team member?",
                "Is there a student discount?", "How do I delete my account?",
                "What payment methods do you accept?", "How do I enable two-factor login?",
                "Can I use the API on the free plan?", "Where do I find my invoices?",
            )),
    # other teams' services, through `costcap serve`: the translation service translates the
    # product's texts for its users (and names them in x-costcap-user); the data team's batch
    # job enriches customer accounts in bursts (naming each in Anthropic's metadata.user_id) on
    # a key small enough to be refused during the day
    Feature("translate", "gpt-4o-mini", "openai-chat", 16, (60, 400), 0.4, 600,
            service=Service("localization-svc", "Go", "$0.50/day", "300/minute", "x-costcap-user"),
            system="Translate the user's text into {lang}; keep its formatting."),
    Feature("enrich", "claude-haiku-4-5", "anthropic", 3, (80, 250), 0.0, 300, burst=5,
            service=Service("crm-enrichment", "Ruby", "$0.02/day", "2 concurrent",
                            "metadata.user_id"),
            system="Summarize this account's recent activity as three CRM fields."),
)  # fmt: skip

_TOPICS = (
    "our refund policy for annual plans",
    "the Q3 revenue numbers by region",
    "a failing unit test in the billing service",
    "how to rotate API keys safely",
    "the onboarding email sequence",
    "latency spikes in the EU cluster",
    "a customer complaint about double charges",
    "the roadmap for the mobile app",
)
_FILLER = (
    "Please be concise and cite the relevant section. Context follows. "
    "The customer has been with us for three years and uses the enterprise tier. "
)


_LANGUAGES = ("German", "French", "Japanese", "Spanish", "Portuguese", "Korean")


@dataclass(frozen=True, slots=True)
class Request:
    user: str
    feature: Feature
    messages: list[dict[str, Any]]
    output_tokens: int  # what the fake provider will generate (steered by header)
    stream: bool
    abandon: bool = False  # the user leaves mid-stream
    system: str | None = None  # the instructions (the feature's, in a language)
    batch: int | None = None  # the requests of one burst share it: sent together, in parallel


def day_of_requests(calls: int, users: int, seed: int = 2026) -> list[Request]:
    """``calls`` requests from ``users`` users; a few power users make most of the traffic.
    The batch job's requests (``burst``) come several at once, each about its own account."""
    rng = random.Random(seed)
    people = [f"user-{n:03d}" for n in range(users)]
    weights = [8.0 if n < 3 else 1.0 for n in range(users)]  # three power users
    features = list(FEATURES)
    out: list[Request] = []
    while len(out) < calls:
        feature = rng.choices(features, weights=[f.share for f in features])[0]
        batch = len(out) if feature.burst > 1 else None
        for _ in range(min(feature.burst, calls - len(out))):
            out.append(_request(rng, feature, people, weights, batch))
    return out


def in_batches(requests: list[Request]) -> list[list[Request]]:
    """``requests`` as what is sent at once: each alone, or a burst's together."""
    out: list[list[Request]] = []
    for request in requests:
        if request.batch is not None and out and out[-1][0].batch == request.batch:
            out[-1].append(request)
        else:
            out.append([request])
    return out


def _request(
    rng: random.Random,
    feature: Feature,
    people: list[str],
    weights: list[float],
    batch: int | None,
) -> Request:
    if feature.questions:  # a help-centre question: the same few, asked by many users
        messages = [{"role": "user", "content": rng.choice(feature.questions)}]
    else:
        topic = rng.choice(_TOPICS)
        context = _FILLER * rng.randint(1, 12)
        ticket = rng.randint(10_000, 99_999)  # each task is about its own case
        ask = rng.choice(feature.asks).format(topic=topic) if feature.asks else f"{topic}."
        content = f"{context}\nTask ({feature.name}, case {ticket}): {ask}"
        messages = [{"role": "user", "content": content}]
    if feature.burst > 1:  # a batch job's: about a customer account, not a user of the product
        user = f"acct-{rng.randint(1, 5000):04d}"
    else:
        user = rng.choices(people, weights=weights)[0]
    system = None
    if feature.system is not None:
        system = feature.system.format(lang=rng.choice(_LANGUAGES))
    return Request(
        user=user,
        feature=feature,
        messages=messages,
        output_tokens=rng.randint(*feature.output),
        stream=(stream := rng.random() < feature.stream),
        abandon=stream and rng.random() < 0.15,
        system=system,
        batch=batch,
    )
