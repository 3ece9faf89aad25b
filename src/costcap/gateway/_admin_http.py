"""What every admin route shares: JSON answers and errors, query parameters, request bodies,
blocking work in a worker thread, and who is asking (the admin, or one virtual key). Query
parameters are read by :class:`costcap.report_queries.Params`, as the dashboard reads them.

Errors are OpenAI-style objects, ``{"error": {"message", "type", "param", "code"}}``: a route
raises :class:`AdminError` (or a costcap error the admin app maps to a status) and never
answers a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from costcap.cli.rows import json_value
from costcap.report_queries import Params, QueryError, bad_request

if TYPE_CHECKING:
    from costcap.gateway.keys import VirtualKey

__all__ = [
    "CALLER",
    "MAX_BODY_BYTES",
    "AdminError",
    "Params",
    "bad_request",
    "blocking",
    "caller_key",
    "error_response",
    "json_response",
    "read_object",
]

T = TypeVar("T")

#: The scope entry the admin app's authentication leaves for the routes: None for the admin
#: key, else the :class:`~costcap.gateway.keys.VirtualKey` that asked.
CALLER = "costcap.admin.caller"
MAX_BODY_BYTES = 64 * 1024  # an admin request body is a few fields


#: An answer other than 2xx (``status``, the error ``kind`` and a message saying what to do):
#: the error the report queries raise too, so that one handler answers both.
AdminError = QueryError


class _Json(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        # Money as exact decimal strings and times as ISO text, as ``--json`` prints them.
        return json.dumps(content, default=json_value, ensure_ascii=False).encode()


def json_response(content: Any, status: int = 200) -> Response:
    return _Json(content, status_code=status)


def error_response(
    status: int, kind: str, message: str, param: str | None = None, code: str | None = None
) -> Response:
    error = {"message": message, "type": kind, "param": param, "code": code or f"costcap_{kind}"}
    headers = {"www-authenticate": 'Bearer realm="costcap admin"'} if status == 401 else None
    return _Json({"error": error}, status_code=status, headers=headers)


async def blocking(work: Callable[[], T]) -> T:
    """``work()`` in a worker thread: the event loop keeps serving the proxy meanwhile."""
    return await anyio.to_thread.run_sync(work)


def caller_key(request: Request) -> VirtualKey | None:
    """The virtual key that asked, or None for the admin key."""
    key: VirtualKey | None = request.scope.get(CALLER)
    return key


async def read_object(request: Request, allowed: Collection[str]) -> dict[str, Any]:
    """The request's body: one JSON object of at most 64 KiB holding only ``allowed`` fields."""
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise AdminError(
                413, "invalid_request_error", f"the body is larger than {MAX_BODY_BYTES:,} bytes"
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        data = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request('the body must be a JSON object, such as {"name": "ci"}')
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        known = ", ".join(sorted(allowed))
        raise bad_request(f"unknown field {unknown[0]!r} (expected some of: {known})", unknown[0])
    return data
