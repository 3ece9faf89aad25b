"""``/admin/keys``: create, list, show, revoke, rotate and expire virtual keys.

Each answer is what ``costcap keys … --json`` prints: a key as :meth:`VirtualKey.to_json`, and
with ``create`` and ``rotate`` its secret, shown that once (only its hash is stored). After a
revocation, rotation or expiry change this process forgets the keys it had cached: the change
holds here at once, and in the other gateway processes within their key cache time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from costcap.gateway._admin_http import AdminError, Params, bad_request, blocking, json_response
from costcap.gateway._admin_http import read_object as read_body
from costcap.gateway._app import GatewayState

if TYPE_CHECKING:
    from costcap.gateway.keys import KeyStore, VirtualKey

__all__ = ["key_routes"]

_CREATE_FIELDS = ("name", "user", "feature", "models", "budgets", "limits", "expires")
_NO_KEYS = (
    "this gateway keeps no virtual keys (it allows anonymous calls and [gateway] keys is not "
    "set in costcap.toml)"
)


def _text(data: dict[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{field} must be text or null, not {value!r}", field)
    return value


def _spellings(data: dict[str, Any], field: str, example: str) -> list[str]:
    value = data.get(field, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f'{field} must be a list of spellings such as ["{example}"]', field)
    return value


def _models(data: dict[str, Any]) -> str | list[str] | None:
    value = data.get("models")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise bad_request('models must be a list of names, "a,b", or null', "models")


def _with_secret(key: VirtualKey, secret: str) -> dict[str, Any]:
    return {**key.to_json(), "secret": secret}


def key_routes(state: GatewayState) -> list[Route]:
    def store() -> KeyStore:
        if state.keys is None:
            raise AdminError(404, "not_found_error", _NO_KEYS)
        return state.keys

    def changed() -> None:
        """A key changed: this process asks the store again on its next request."""
        if state.ring is not None:
            state.ring.forget()

    async def list_keys(request: Request) -> Response:
        every = Params(request, ("all",)).flag("all")
        keys = store()
        found = await blocking(lambda: keys.list(include_revoked=every))
        now = datetime.now(UTC)
        return json_response([key.to_json(now) for key in found])

    async def create(request: Request) -> Response:
        from costcap.gateway.keys import parse_key_spec

        Params(request, ())
        data = await read_body(request, _CREATE_FIELDS)
        spec = parse_key_spec(
            name=_text(data, "name"),
            user=_text(data, "user"),
            feature=_text(data, "feature"),
            models=_models(data),
            budgets=_spellings(data, "budgets", "$5/day"),
            limits=_spellings(data, "limits", "20/minute"),
            expires=_text(data, "expires"),
        )
        keys = store()
        key, secret = await blocking(lambda: keys.create(spec))
        return json_response(_with_secret(key, secret), status=201)

    async def show(request: Request) -> Response:
        Params(request, ())
        key_id, keys = request.path_params["key_id"], store()
        return json_response((await blocking(lambda: keys.get(key_id))).to_json())

    async def revoke(request: Request) -> Response:
        Params(request, ())
        key_id, keys = request.path_params["key_id"], store()
        key = await blocking(lambda: keys.revoke(key_id))
        changed()
        return json_response(key.to_json())

    async def rotate(request: Request) -> Response:
        Params(request, ())
        key_id, keys = request.path_params["key_id"], store()
        key, secret = await blocking(lambda: keys.rotate(key_id))
        changed()
        return json_response(_with_secret(key, secret))

    async def expire(request: Request) -> Response:
        from costcap.gateway.keys import parse_expiry

        Params(request, ())
        data = await read_body(request, ("expires",))
        if "expires" not in data:
            raise bad_request(
                'give "expires": a duration ("7d"), a date ("2027-01-01") or null (never)'
            )
        text = _text(data, "expires")
        expires_at = None if text is None else parse_expiry(text, datetime.now(UTC))
        key_id, keys = request.path_params["key_id"], store()
        key = await blocking(lambda: keys.set_expiry(key_id, expires_at))
        changed()
        return json_response(key.to_json())

    return [
        Route("/keys", list_keys, methods=["GET"]),
        Route("/keys", create, methods=["POST"]),
        Route("/keys/{key_id}", show, methods=["GET"]),
        Route("/keys/{key_id}", revoke, methods=["DELETE"]),
        Route("/keys/{key_id}", expire, methods=["PATCH"]),
        Route("/keys/{key_id}/rotate", rotate, methods=["POST"]),
    ]
