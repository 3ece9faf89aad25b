"""The admin API's door: the admin key (bearer or x-api-key), a virtual key for its own usage
only, 401 / 403 as OpenAI-style error objects, JSON for unknown routes and methods."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway._admin import ADMIN_KEY, ask, error
from tests.gateway.conftest import RunningGateway


def test_the_admin_key_as_a_bearer_token_opens_the_admin_api(gateway: RunningGateway) -> None:
    assert ask(gateway, "GET", "/keys").status_code == 200


def test_the_admin_key_in_x_api_key_opens_it_too(gateway: RunningGateway) -> None:
    response = httpx.get(f"{gateway.base}/admin/keys", headers={"x-api-key": ADMIN_KEY})
    assert response.status_code == 200


def test_no_key_is_401_saying_how_to_send_one(gateway: RunningGateway) -> None:
    found = error(ask(gateway, "GET", "/keys", None), 401)
    assert found["type"] == "authentication_error"
    assert "Authorization: Bearer" in found["message"]


def test_a_wrong_key_is_401(gateway: RunningGateway) -> None:
    found = error(ask(gateway, "GET", "/keys", ADMIN_KEY + "x"), 401)
    assert found["type"] == "authentication_error"
    assert found["param"] is None
    assert found["code"] == "costcap_authentication_error"


def test_an_unknown_route_without_a_key_is_401_not_404(gateway: RunningGateway) -> None:
    """Nothing about the admin API's routes is told to a caller without a key."""
    error(ask(gateway, "GET", "/no-such-thing", None), 401)


def test_without_an_admin_key_configured_the_admin_api_is_off(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COSTCAP_TEST_ADMIN_KEY")
    found = error(ask(gateway, "GET", "/keys"), 403)
    assert found["type"] == "permission_error"
    assert "admin_key_env" in found["message"]


def test_a_virtual_key_is_403_on_an_admin_route(gateway: RunningGateway) -> None:
    found = error(ask(gateway, "GET", "/keys", gateway.key()), 403)
    assert found["type"] == "permission_error"
    assert "GET /admin/me" in found["message"]


def test_a_virtual_key_cannot_read_another_keys_budgets(gateway: RunningGateway) -> None:
    gateway.key()
    other = gateway.made[0].id
    error(ask(gateway, "GET", "/budgets", gateway.key(), params={"key": other}), 403)


def test_a_virtual_key_reads_its_own_usage(gateway: RunningGateway) -> None:
    response = ask(gateway, "GET", "/me", gateway.key())
    assert response.status_code == 200
    assert response.json()["key"]["id"] == gateway.made[0].id


def test_a_revoked_virtual_key_is_401(gateway: RunningGateway) -> None:
    secret = gateway.key()
    gateway.keys.revoke(gateway.made[0].id)
    error(ask(gateway, "GET", "/me", secret), 401)


def test_an_expired_virtual_key_is_401(gateway: RunningGateway) -> None:
    secret = gateway.key()
    gateway.keys.set_expiry(gateway.made[0].id, gateway.made[0].created_at)
    error(ask(gateway, "GET", "/me", secret), 401)


def test_an_unknown_admin_route_is_a_404_error_object(gateway: RunningGateway) -> None:
    found = error(ask(gateway, "GET", "/no-such-thing"), 404)
    assert found["type"] == "not_found_error"
    assert "/admin/no-such-thing" in found["message"]


def test_a_method_a_route_does_not_take_is_a_405_error_object(gateway: RunningGateway) -> None:
    found = error(ask(gateway, "PUT", "/keys"), 405)
    assert "PUT" in found["message"]


def test_an_unknown_query_parameter_is_400_naming_it(gateway: RunningGateway) -> None:
    """A misspelt filter never widens an answer silently."""
    found = error(ask(gateway, "GET", "/budgets", params={"usr": "alice"}), 400)
    assert "'usr'" in found["message"]
    assert "user" in found["message"]


def test_the_proxy_does_not_take_the_admin_key(gateway: RunningGateway) -> None:
    response = httpx.post(
        f"{gateway.openai_base}/chat/completions",
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 401
