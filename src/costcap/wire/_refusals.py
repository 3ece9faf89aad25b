"""A refusal as the provider would answer it: status, headers and a JSON error body.

A request costcap refuses never leaves: the caller gets an HTTP answer in the provider's own
error format, so an SDK raises its own typed error with costcap's message (a transport that
raised instead would be retried by the Anthropic SDK and wrapped as a connection error).

======================================== ====== =============================================
refusal                                  status SDK error (OpenAI / Anthropic)
======================================== ====== =============================================
``BudgetExceeded``                       402    ``APIStatusError``, not retried
``RateLimited``                          429    ``RateLimitError``; retried by the SDK after
                                                ``retry-after`` when the call can fit again
``PolicyViolation``, an unknown model or  400    ``BadRequestError``, not retried
tier, content costcap cannot count,
:class:`MalformedRequest`
:class:`UnmeteredEndpoint`               403    ``PermissionDeniedError``, not retried
``StoreUnavailable`` (fail closed)       503    ``InternalServerError``, retried by the SDK
======================================== ====== =============================================

The body's error object carries, beside ``type`` and ``message``, a ``costcap`` object naming the
exception and its figures (the budget, limit, spent, reserved, requested, reset; the rule and
retry delay). The exception itself rides on the answer (:func:`refusal`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from costcap.errors import BudgetExceeded, CostcapError, StoreUnavailable, plain_usd
from costcap.limits import RateLimited
from costcap.wire._routes import Flavor

__all__ = [
    "REFUSAL_EXTENSION",
    "MalformedRequest",
    "Refusal",
    "UnmeteredEndpoint",
    "error_body",
    "refusal",
    "refusal_answer",
]

#: The key of ``response.extensions`` that holds the costcap exception behind a refusal.
REFUSAL_EXTENSION = "costcap_refusal"

#: The longest wait the SDKs honour from ``retry-after`` (they retry sooner past it).
_SDK_RETRY_CAP_S = 60


class MalformedRequest(CostcapError, ValueError):
    """A request to a guarded endpoint whose body costcap cannot read (not JSON, not an object,
    no model): refused, never sent unguarded."""


class UnmeteredEndpoint(CostcapError):
    """A request to an endpoint that spends without a usage costcap can meter (embeddings,
    images, audio, batches, files…): refused, never sent unguarded."""

    def __init__(self, path: str, what: str) -> None:
        self.path, self.what = path, what
        super().__init__(
            f"costcap refuses POST {path}: {what} spend without a usage costcap can meter and "
            "settle. Send it with a client that costcap does not guard, after guard.admit, and "
            "settle it yourself"
        )


class Refusal:
    """One refusal in a provider's format: ``status``, ``headers``, ``body`` (JSON bytes)."""

    __slots__ = ("body", "error", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes, error: Exception):
        self.status, self.headers, self.body, self.error = status, headers, body, error


def _status(error: Exception) -> tuple[int, str, dict[str, str]]:
    """Status, error type and headers for ``error``."""
    if isinstance(error, BudgetExceeded):
        seconds = max(1, math.ceil(error.retry_after_s))
        return 402, "budget_exceeded", {"retry-after": str(seconds), "x-should-retry": "false"}
    if isinstance(error, RateLimited):
        retry = error.retry_after_s
        if retry is None or retry > _SDK_RETRY_CAP_S:  # never fits, or too far off to wait for
            return 429, "rate_limit_error", {"x-should-retry": "false"}
        wait = {
            "retry-after": str(max(1, math.ceil(retry))),
            "retry-after-ms": str(max(1, math.ceil(retry * 1000))),
            "x-should-retry": "true",
        }
        return 429, "rate_limit_error", wait  # fmt: skip
    if isinstance(error, StoreUnavailable):
        return 503, "api_error", {}
    if isinstance(error, UnmeteredEndpoint):
        return 403, "permission_error", {"x-should-retry": "false"}
    return 400, "invalid_request_error", {"x-should-retry": "false"}


def _details(error: Exception) -> dict[str, Any]:
    details: dict[str, Any] = {"error": type(error).__name__}
    if isinstance(error, BudgetExceeded):
        details.update(
            budget=error.budget, member=error.member, limit_usd=plain_usd(error.limit_usd),
            spent_usd=plain_usd(error.spent_usd), reserved_usd=plain_usd(error.reserved_usd),
            requested_usd=plain_usd(error.requested_usd), resets_at=error.resets_at.isoformat(),
        )  # fmt: skip
    elif isinstance(error, RateLimited):
        retry = error.retry_after_s
        details.update(
            rule=error.rule, identity=error.identity,
            retry_after_s=None if retry is None else round(retry, 3),
        )  # fmt: skip
    return details


def refusal_answer(error: Exception, flavor: Flavor) -> Refusal:
    """The answer to a request refused with ``error``, in ``flavor``'s error format."""
    status, kind, headers = _status(error)
    said = str(error)
    message = said if said.startswith("costcap") else f"costcap: {said}"
    encoded = error_body(flavor, kind, message, _details(error))
    headers = {**headers, "content-type": "application/json", "x-costcap-refused": "true"}
    return Refusal(status, headers, encoded, error)


def error_body(
    flavor: Flavor, kind: str, message: str, details: Mapping[str, Any] | None = None
) -> bytes:
    """An error object in ``flavor``'s format (``{"error": {...}}`` for OpenAI,
    ``{"type": "error", "error": {...}}`` for Anthropic), as ASCII JSON bytes; ``details``
    ride in its ``costcap`` member."""
    inner: dict[str, Any]
    if flavor == "anthropic":
        inner = {"type": kind, "message": message}
        body: dict[str, Any] = {"type": "error", "error": inner}
    else:
        inner = {"message": message, "type": kind, "param": None, "code": f"costcap_{kind}"}
        body = {"error": inner}
    if details is not None:
        inner["costcap"] = dict(details)
    # ASCII: a lone surrogate from the request, quoted in a message, still encodes.
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def refusal(error_or_response: object) -> CostcapError | None:
    """The costcap exception behind a refused request, or None: pass the SDK's error
    (``openai.APIStatusError``, ``anthropic.APIStatusError``: its ``.response``) or an httpx
    response."""
    response = getattr(error_or_response, "response", error_or_response)
    extensions = getattr(response, "extensions", None)
    if not isinstance(extensions, Mapping):
        return None
    found = extensions.get(REFUSAL_EXTENSION)
    return found if isinstance(found, CostcapError) else None
