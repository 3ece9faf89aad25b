"""``costcap route eval``: the classifier judged on prompts a person labelled.

Each line of the file is one JSON object::

    {"prompt": "Summarize this thread …", "tier": "simple"}
    {"messages": [{"role": "user", "content": "…"}], "tier": "complex", "output_tokens": 800}

``prompt`` (the user's text) or ``messages`` (a chat, OpenAI or Anthropic shape) is required,
with ``system``, ``tools``, ``max_tokens`` and ``response_format`` read as in a request;
``tier`` is the tier the person chose (the feature's, or a built-in name mapped onto them);
``output_tokens`` the answer's length for pricing (else the stated default, 500);
``input_tokens`` the prompt's tokens when known (else they are counted for each model). Other
keys are ignored, so a file made for another tool can be read as is.

The report: a confusion matrix (labelled tier × routed tier), accuracy, how many calls were
routed below (cheaper than the label: a quality risk) and above (dearer: money left on the
table), and — with models configured — what the traffic costs routed, as labelled, always at
the top tier and always at the default tier.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from costcap.errors import ConfigError, CostcapError
from costcap.pricing import PriceCatalog, Usage
from costcap.router._classify import classify
from costcap.router._config import BUILTIN_TIERS, FeatureRoutes
from costcap.router._content import request_content
from costcap.router._decide import Router
from costcap.tokens import count_messages

__all__ = ["DEFAULT_OUTPUT_TOKENS", "EvalReport", "Labelled", "evaluate", "parse_labelled"]

DEFAULT_OUTPUT_TOKENS = 500
_REQUEST_KEYS = ("system", "tools", "max_tokens", "response_format")
_MOST_TOKENS = 10**9


@dataclass(frozen=True, slots=True)
class Labelled:
    """One labelled prompt: its line number, request, tier and token counts."""

    line: int
    request: Mapping[str, Any]
    tier: str
    output_tokens: int
    input_tokens: int | None = None


@dataclass(slots=True)
class EvalReport:
    """What ``route eval`` prints. ``confusion[labelled][routed]`` counts lines; ``costs`` (None
    without models) holds ``routed``, ``labelled``, ``top`` and ``default`` in USD."""

    tiers: tuple[str, ...]
    lines: int = 0
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    correct: int = 0
    below: int = 0
    above: int = 0
    costs: dict[str, Decimal] | None = None
    top_model: str | None = None
    default_tier: str | None = None
    default_model: str | None = None

    @property
    def accuracy(self) -> Decimal:
        """Lines routed at their label's tier / lines, to four places."""
        if not self.lines:
            return Decimal(0)
        return (Decimal(self.correct) / Decimal(self.lines)).quantize(Decimal("0.0001"))


def _fail(source: str, line: int, problem: str) -> ConfigError:
    return ConfigError(f"{source}: line {line}: {problem}")


def _tokens(value: object, source: str, line: int, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MOST_TOKENS:
        raise _fail(source, line, f"{key} must be a whole number from 0 to 10**9, not {value!r}")
    return value


def parse_labelled(
    lines: Iterable[str],
    *,
    source: str,
    tiers: tuple[str, ...],
    routes: FeatureRoutes | None,
    output_tokens: int = DEFAULT_OUTPUT_TOKENS,
) -> list[Labelled]:
    """The labelled prompts of a JSONL text (blank lines skipped). A line that is not a JSON
    object, has no prompt, or names a tier the routes do not have is a ConfigError naming
    ``source`` and the line number."""
    out = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            item = json.loads(text)
        except ValueError as exc:
            raise _fail(source, number, f"not JSON: {exc}") from None
        if not isinstance(item, dict):
            raise _fail(source, number, f"not a JSON object: {text.strip()[:40]!r}")
        prompt, messages = item.get("prompt"), item.get("messages")
        if isinstance(prompt, str) and prompt.strip():
            request: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}]}
        elif isinstance(messages, list) and messages:
            request = {"messages": messages}
        else:
            raise _fail(source, number, 'needs "prompt" (a string) or "messages" (a list)')
        request.update({k: item[k] for k in _REQUEST_KEYS if k in item})
        label = item.get("tier")
        tier = routes.tier_for(label) if routes is not None and isinstance(label, str) else label
        if not isinstance(tier, str) or tier not in tiers:
            raise _fail(source, number, f"unknown tier {label!r} (tiers: {', '.join(tiers)})")
        out.append(
            Labelled(
                line=number,
                request=request,
                tier=tier,
                output_tokens=_tokens(
                    item.get("output_tokens", output_tokens), source, number, "output_tokens"
                ),
                input_tokens=(
                    _tokens(item["input_tokens"], source, number, "input_tokens")
                    if "input_tokens" in item
                    else None
                ),
            )
        )
    if not out:
        raise ConfigError(f"{source}: no prompts (one JSON object a line)")
    return out


def evaluate(
    labelled: list[Labelled],
    *,
    router: Router | None,
    feature: str | None,
    catalog: PriceCatalog,
    source: str = "<prompts>",
) -> EvalReport:
    """Route every labelled prompt and tally the result. With a router, the feature's
    classifier is used (the heuristic unless it has its own) and costs are priced with the
    catalog; without one, the heuristic's built-in tiers are compared and nothing is priced."""
    routes = router.routes(feature) if router is not None else None
    tiers = routes.names if routes is not None else BUILTIN_TIERS
    report = EvalReport(tiers=tiers, confusion={t: dict.fromkeys(tiers, 0) for t in tiers})
    if routes is not None:
        report.costs = dict.fromkeys(("routed", "labelled", "top", "default"), Decimal(0))
        report.top_model, report.default_tier = routes.model(routes.top), routes.default_tier
        report.default_model = routes.model(routes.default_tier)
    for item in labelled:
        if router is not None and routes is not None:
            routed = router.classify(feature, item.request).tier
        else:
            routed = classify(request_content(item.request)).tier
        report.lines += 1
        report.confusion[item.tier][routed] += 1
        gap = tiers.index(routed) - tiers.index(item.tier)
        report.correct += gap == 0
        report.below += gap < 0
        report.above += gap > 0
        if routes is not None and report.costs is not None:
            models = {
                "routed": routes.model(routed),
                "labelled": routes.model(item.tier),
                "top": routes.model(routes.top),
                "default": routes.model(routes.default_tier),
            }
            for key, model in models.items():
                report.costs[key] += _cost(catalog, model, item, source)
    return report


def _cost(catalog: PriceCatalog, model: str, item: Labelled, source: str) -> Decimal:
    """One line's cost on ``model``: its input (as given, else counted for that model) and its
    output tokens."""
    tokens = item.input_tokens
    if tokens is None:
        request = item.request
        try:
            tokens = count_messages(
                request["messages"], model, system=request.get("system"), tools=request.get("tools")
            ).tokens
        except CostcapError as exc:
            raise _fail(source, item.line, f"cannot count the prompt for {model}: {exc}") from None
    usage = Usage(input_tokens=tokens, output_tokens=item.output_tokens)
    return catalog.cost(model, usage).total_usd
