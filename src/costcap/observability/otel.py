"""OpenTelemetry: cost, tokens and refusals as span attributes (GenAI semantic conventions).

Needs ``pip install 'costcap[otel]'`` (``opentelemetry-api``; an SDK and exporter are the
application's choice)::

    guard = Guard(..., observers=[OtelObserver()])

Every cost event lands on the span current when the Guard reports it — the application's span
around the LLM call — if that span is recording. With no span at all, a short span
``costcap {model}`` is started instead (``span_when_none=False`` turns that off), backdated to
cover the call's latency. A span that exists but is not sampled is left alone.

Attributes (GenAI semconv, ``gen_ai.*`` registry of the OpenTelemetry semantic conventions;
``gen_ai.provider.name`` replaced the deprecated ``gen_ai.system``):

- ``gen_ai.provider.name`` — costcap's provider id mapped to the semconv well-known value
  (``openai``, ``anthropic``, ``gcp.gen_ai``, ``aws.bedrock``, ``mistral_ai``, ``x_ai`` …)
- ``gen_ai.request.model`` (as the caller named it), ``gen_ai.response.model`` (the model
  billed, canonical name; not set on a refusal: nothing answered)
- ``gen_ai.usage.input_tokens`` (all input, cache included, as semconv counts it),
  ``gen_ai.usage.output_tokens``, ``gen_ai.usage.cache_read.input_tokens``,
  ``gen_ai.usage.cache_creation.input_tokens`` (the last two when non-zero; none on a refusal)
- ``error.type`` on a refusal (``BudgetExceeded``, ``RateLimited``, ``PolicyViolation``,
  ``StoreUnavailable``) or a failed call (``_OTHER``), with the span status set to ERROR

costcap's own (semconv has no cost attribute; a private namespace cannot collide with a future
``gen_ai.*`` one): ``costcap.cost_usd`` (double: what backends can sum and chart; the exact
picodollars are in the ledger row with the same ``costcap.request_id``), ``costcap.status``
(ok, error, refused, cut), ``costcap.request_id``, ``costcap.feature``, ``costcap.refused_by``
(the rule, e.g. ``budget global/day``), ``costcap.refusal_kind`` (budget, rate_limit, policy,
store), ``costcap.cache_hit``, ``costcap.cache_miss`` (a cacheable call the provider answered),
``costcap.saved_usd``, ``costcap.stream``. No user id or API key id is recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

try:
    from opentelemetry import trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
    from opentelemetry.util.types import AttributeValue
except ImportError as exc:  # the extra is not installed
    raise ImportError(
        "costcap.observability.otel needs opentelemetry-api: pip install 'costcap[otel]'"
    ) from exc

from costcap import __version__
from costcap.ledger import CostEvent
from costcap.observability._common import refusal_kind, usd_float

__all__ = ["PROVIDER_NAMES", "OtelObserver", "span_attributes"]

# costcap (genai-prices) provider ids → gen_ai.provider.name well-known values; others as they are.
PROVIDER_NAMES: Final = {
    "anthropic": "anthropic",
    "aws": "aws.bedrock",
    "azure": "azure.ai.openai",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "google": "gcp.gen_ai",  # "any Google generative AI endpoint": the backend is not known
    "groq": "groq",
    "mistral": "mistral_ai",
    "moonshotai": "moonshot_ai",
    "openai": "openai",
    "perplexity": "perplexity",
    "x-ai": "x_ai",
}
_ERROR_TYPES: Final = {
    "budget": "BudgetExceeded",
    "rate_limit": "RateLimited",
    "policy": "PolicyViolation",
    "store": "StoreUnavailable",
    "other": "_OTHER",
}


def span_attributes(event: CostEvent) -> dict[str, AttributeValue]:
    """The span attributes of one cost event (see the module docstring for the names)."""
    refused = event.status == "refused"
    attrs: dict[str, AttributeValue] = {
        "gen_ai.request.model": event.requested_model or event.model,
        "costcap.status": event.status,
        "costcap.request_id": event.request_id,
        "costcap.cost_usd": usd_float(event.cost_pico),
    }
    if event.provider:
        attrs["gen_ai.provider.name"] = PROVIDER_NAMES.get(event.provider, event.provider)
    if not refused:
        attrs["gen_ai.response.model"] = event.model
        attrs["gen_ai.usage.input_tokens"] = event.input_tokens
        attrs["gen_ai.usage.output_tokens"] = event.output_tokens
        if event.cache_read_tokens:
            attrs["gen_ai.usage.cache_read.input_tokens"] = event.cache_read_tokens
        if event.cache_write_tokens:
            attrs["gen_ai.usage.cache_creation.input_tokens"] = event.cache_write_tokens
    if event.feature:
        attrs["costcap.feature"] = event.feature
    if refused:
        kind = refusal_kind(event.refused_by)
        attrs["costcap.refusal_kind"] = kind
        attrs["error.type"] = _ERROR_TYPES[kind]
    elif event.status == "error":
        attrs["error.type"] = _ERROR_TYPES["other"]
    if event.refused_by:
        attrs["costcap.refused_by"] = event.refused_by
    if event.cache_hit:
        attrs["costcap.cache_hit"] = True
    if event.cache_miss:
        attrs["costcap.cache_miss"] = True
    if event.saved_pico:
        attrs["costcap.saved_usd"] = usd_float(event.saved_pico)
    if event.stream:
        attrs["costcap.stream"] = True
    return attrs


class OtelObserver:
    """A Guard observer that puts each call's cost, tokens and outcome on a span.

    ``tracer_provider``: for the standalone spans (default: the global one, resolved when used).
    ``span_when_none``: start a ``costcap {model}`` span when no span is current.
    """

    def __init__(
        self, tracer_provider: TracerProvider | None = None, *, span_when_none: bool = True
    ) -> None:
        self._tracer = trace.get_tracer("costcap", __version__, tracer_provider=tracer_provider)
        self.span_when_none = span_when_none

    def on_event(self, event: CostEvent) -> None:
        current = trace.get_current_span()
        if current.is_recording():
            current.set_attributes(span_attributes(event))
            _set_status(current, event)
            return
        if not self.span_when_none or current.get_span_context().is_valid:
            return  # no span wanted, or the current one was sampled out: so is this call
        end = _ns(event.ts)
        start = end - int((event.latency_ms or 0.0) * 1_000_000)
        span = self._tracer.start_span(
            f"costcap {event.model}",
            kind=SpanKind.INTERNAL if event.status == "refused" else SpanKind.CLIENT,
            attributes=span_attributes(event),
            start_time=start,
        )
        _set_status(span, event)
        span.end(end_time=end)


def _set_status(span: Span, event: CostEvent) -> None:
    if event.status == "refused":
        span.set_status(Status(StatusCode.ERROR, f"refused by costcap: {event.refused_by}"))
    elif event.status == "error":
        span.set_status(Status(StatusCode.ERROR, "LLM call failed"))


def _ns(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000) * 1000
