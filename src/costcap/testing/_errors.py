"""Error responses in each provider's JSON error format."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from starlette.responses import JSONResponse

__all__ = ["ApiError", "Flavor", "error_response", "injected_error"]

Flavor = Literal["openai", "anthropic"]

_OPENAI_TYPES: Mapping[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", None),
    409: ("invalid_request_error", "conflict"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", None),
    529: ("server_error", None),
}

_ANTHROPIC_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    529: "overloaded_error",
}

_INJECTED_MESSAGES: Mapping[int, str] = {
    429: "Rate limit reached (injected by the costcap fake provider).",
    529: "Overloaded (injected by the costcap fake provider).",
}


class ApiError(Exception):
    """An error answered to the client: status, message and, for OpenAI, ``param``/``code``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        injected: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = dict(headers or {})
        self.injected = injected

    def error_type(self, flavor: Flavor) -> str:
        if flavor == "anthropic":
            return _ANTHROPIC_TYPES.get(self.status, "api_error")
        return _OPENAI_TYPES.get(self.status, ("server_error", None))[0]


def injected_error(status: int, *, retry_after_ms: int) -> ApiError:
    """The error that ``x-fake-error`` / fail-times inject; a 429 carries ``retry-after``."""
    headers: dict[str, str] = {}
    if status == 429:
        headers["retry-after"] = str(math.ceil(retry_after_ms / 1000))
        headers["retry-after-ms"] = str(retry_after_ms)
    message = _INJECTED_MESSAGES.get(
        status, f"Error {status} (injected by the costcap fake provider)."
    )
    code = _OPENAI_TYPES.get(status, ("server_error", None))[1]
    return ApiError(status, message, code=code, headers=headers, injected=True)


def error_response(error: ApiError, flavor: Flavor, request_id: str) -> JSONResponse:
    """The JSON error body and headers a real provider of *flavor* answers with."""
    headers = dict(error.headers)
    kind = error.error_type(flavor)
    if flavor == "anthropic":
        headers["request-id"] = request_id
        body: dict[str, object] = {
            "type": "error",
            "error": {"type": kind, "message": error.message},
            "request_id": request_id,
        }
    else:
        headers["x-request-id"] = request_id
        body = {
            "error": {
                "message": error.message,
                "type": kind,
                "param": error.param,
                "code": error.code,
            }
        }
    return JSONResponse(body, status_code=error.status, headers=headers)
