"""HTTP Basic authentication: the password a browser sends (it prompts for one when a page
answers 401 with ``WWW-Authenticate: Basic``), compared in constant time.

``costcap dashboard`` served beyond loopback needs its password (``--password-env``); the
gateway's ``/dashboard/`` takes the admin key as the password (:mod:`costcap.gateway._dashboard`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable
from typing import Any

from starlette.responses import PlainTextResponse, Response

__all__ = ["CHALLENGE", "PasswordGate", "basic_password", "challenge", "same_secret"]

#: What a 401 asks a browser for: any user name, the password.
CHALLENGE = {"www-authenticate": 'Basic realm="costcap"'}


def basic_password(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The password of the request's ``Authorization: Basic`` header (any user name), or None
    (no such header, or one that is not base64 of ``user:password``)."""
    for name, value in headers:
        if name.lower() != b"authorization":
            continue
        scheme, _, encoded = value.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        try:
            text = raw.decode()
        except UnicodeDecodeError:  # an older browser's Latin-1
            text = raw.decode("latin-1")
        _, colon, password = text.partition(":")
        return password if colon else None
    return None


def same_secret(given: str, expected: str) -> bool:
    """Whether ``given`` is ``expected``, in time that does not tell how much of it matched."""
    return hmac.compare_digest(given.encode(), expected.encode())


def challenge(message: str) -> Response:
    """401, asking the browser for a password."""
    return PlainTextResponse(f"{message}\n", status_code=401, headers=CHALLENGE)


class PasswordGate:
    """An ASGI app that lets a request through to ``app`` only with ``password`` (HTTP Basic,
    any user name); the lifespan goes through untouched."""

    def __init__(self, app: Any, password: str) -> None:
        self.app, self._password = app, password

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = basic_password(scope["headers"])
            if given is None or not same_secret(given, self._password):
                refusal = challenge(
                    "costcap dashboard: this dashboard needs its password "
                    "(HTTP Basic: any user name, the password)"
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
