"""``/admin/keys``: create (the secret once), list, show, revoke, rotate, expire — each answer
what ``costcap keys … --json`` prints; bad input 400 naming the field, unknown ids 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import openai
import pytest

from costcap.gateway.keys import looks_like_secret
from tests.gateway._admin import ask, call, cli_json, error
from tests.gateway.conftest import GatewayFactory, RunningGateway

NEW = {
    "name": "ci",
    "user": "bob",
    "feature": "search",
    "models": ["gpt-4o-mini"],
    "budgets": ["$5/day"],
    "limits": ["20/minute"],
    "expires": "30d",
}


def created(gw: RunningGateway, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = ask(gw, "POST", "/keys", json=NEW if body is None else body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def proxy_status(gw: RunningGateway, secret: str) -> int:
    """The status of a chat completion through the gateway with ``secret``."""
    try:
        call(gw, secret)
    except openai.APIStatusError as exc:
        return exc.status_code
    return 200


def test_create_answers_201_with_the_key_and_its_secret(gateway: RunningGateway) -> None:
    data = created(gateway)
    assert looks_like_secret(data["secret"])
    assert {k: data[k] for k in ("name", "user", "feature", "models", "budgets", "limits")} == {
        k: NEW[k] for k in ("name", "user", "feature", "models", "budgets", "limits")
    }
    assert data["state"] == "active"
    assert data["revoked_at"] is None
    expires = datetime.fromisoformat(data["expires_at"])
    assert abs(expires - datetime.now(UTC) - timedelta(days=30)) < timedelta(minutes=1)


def test_the_created_secret_works_through_the_proxy(gateway: RunningGateway) -> None:
    assert proxy_status(gateway, created(gateway)["secret"]) == 200


def test_the_secret_is_never_shown_again(gateway: RunningGateway) -> None:
    key_id = created(gateway)["id"]
    assert "secret" not in ask(gateway, "GET", f"/keys/{key_id}").json()
    assert all("secret" not in key for key in ask(gateway, "GET", "/keys").json())


def test_create_takes_models_as_comma_separated_text(gateway: RunningGateway) -> None:
    data = created(gateway, {"models": "gpt-4o-mini, claude-haiku-4-5"})
    assert data["models"] == ["gpt-4o-mini", "claude-haiku-4-5"]


def test_create_with_an_empty_body_object_makes_a_key_for_anything(
    gateway: RunningGateway,
) -> None:
    data = created(gateway, {})
    assert data["models"] is None
    assert data["budgets"] == []
    assert data["expires_at"] is None


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"budgets": ["5 dollars a day"]}, None, "$AMOUNT/PERIOD"),
        ({"budgets": "$5/day"}, "budgets", "list of spellings"),
        ({"limits": ["lots"]}, None, "lots"),
        ({"models": 5}, "models", "list of names"),
        ({"user": ""}, None, "non-empty"),
        ({"name": 7}, "name", "text or null"),
        ({"expires": "soon"}, None, "not a duration"),
        ({"expires": "2001-01-01"}, None, "not in the future"),
        ({"colour": "red"}, "colour", "unknown field 'colour'"),
    ],
)
def test_create_refuses_bad_input_with_400_saying_why(
    gateway: RunningGateway, body: dict[str, Any], field: str | None, says: str
) -> None:
    found = error(ask(gateway, "POST", "/keys", json=body), 400)
    assert says in found["message"]
    assert found["type"] == "invalid_request_error"
    assert found["param"] == field
    assert gateway.keys.list() == []


@pytest.mark.parametrize("body", [b"{nope", b"[1, 2]", b"", b"\xff"])
def test_create_refuses_a_body_that_is_not_a_json_object(
    gateway: RunningGateway, body: bytes
) -> None:
    error(ask(gateway, "POST", "/keys", content=body), 400)


def test_create_refuses_a_body_over_64_kib(gateway: RunningGateway) -> None:
    error(ask(gateway, "POST", "/keys", json={"name": "x" * 70_000}), 413)


def test_show_answers_what_costcap_keys_show_prints(
    gateway: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    key_id = created(gateway)["id"]
    keys = f"sqlite:///{gateway.config.parent / 'store.db'}"
    expected = cli_json(capsys, ["keys", "show", key_id, "--keys", keys])
    assert ask(gateway, "GET", f"/keys/{key_id}").json() == expected


def test_list_answers_what_costcap_keys_list_prints(
    gateway: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    created(gateway)
    created(gateway, {"name": "second"})
    keys = f"sqlite:///{gateway.config.parent / 'store.db'}"
    expected = cli_json(capsys, ["keys", "list", "--keys", keys])
    assert len(expected) == 2
    assert ask(gateway, "GET", "/keys").json() == expected


def test_list_leaves_revoked_keys_out_unless_all(gateway: RunningGateway) -> None:
    kept, gone = created(gateway)["id"], created(gateway)["id"]
    ask(gateway, "DELETE", f"/keys/{gone}")
    assert [k["id"] for k in ask(gateway, "GET", "/keys").json()] == [kept]
    every = ask(gateway, "GET", "/keys", params={"all": "true"}).json()
    assert [k["id"] for k in every] == [kept, gone]


def test_list_refuses_an_all_that_is_not_true_or_false(gateway: RunningGateway) -> None:
    found = error(ask(gateway, "GET", "/keys", params={"all": "maybe"}), 400)
    assert found["param"] == "all"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/keys/ck_nope"),
        ("DELETE", "/keys/ck_nope"),
        ("POST", "/keys/ck_nope/rotate"),
        ("PATCH", "/keys/ck_nope"),
    ],
)
def test_an_unknown_key_id_is_404(gateway: RunningGateway, method: str, path: str) -> None:
    body = {"expires": None} if method == "PATCH" else None
    found = error(ask(gateway, method, path, json=body), 404)
    assert found["type"] == "not_found_error"
    assert "ck_nope" in found["message"]


def test_revoke_stops_the_key_at_once(gateway: RunningGateway) -> None:
    data = created(gateway, {})
    assert proxy_status(gateway, data["secret"]) == 200  # now in this process's key cache
    response = ask(gateway, "DELETE", f"/keys/{data['id']}")
    assert response.status_code == 200
    assert response.json()["state"] == "revoked"
    assert proxy_status(gateway, data["secret"]) == 401


def test_revoking_twice_keeps_the_first_revocation_time(gateway: RunningGateway) -> None:
    key_id = created(gateway)["id"]
    first = ask(gateway, "DELETE", f"/keys/{key_id}").json()["revoked_at"]
    assert ask(gateway, "DELETE", f"/keys/{key_id}").json()["revoked_at"] == first


def test_rotate_gives_a_new_secret_and_the_old_one_stops(gateway: RunningGateway) -> None:
    data = created(gateway, {})
    assert proxy_status(gateway, data["secret"]) == 200
    response = ask(gateway, "POST", f"/keys/{data['id']}/rotate")
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["id"] == data["id"]
    assert rotated["secret"] != data["secret"]
    assert proxy_status(gateway, data["secret"]) == 401
    assert proxy_status(gateway, rotated["secret"]) == 200


def test_rotating_a_revoked_key_is_409(gateway: RunningGateway) -> None:
    key_id = created(gateway)["id"]
    ask(gateway, "DELETE", f"/keys/{key_id}")
    found = error(ask(gateway, "POST", f"/keys/{key_id}/rotate"), 409)
    assert "revoked" in found["message"]


def test_patch_sets_an_expiry_from_a_duration(gateway: RunningGateway) -> None:
    key_id = created(gateway, {})["id"]
    data = ask(gateway, "PATCH", f"/keys/{key_id}", json={"expires": "7d"}).json()
    expires = datetime.fromisoformat(data["expires_at"])
    assert abs(expires - datetime.now(UTC) - timedelta(days=7)) < timedelta(minutes=1)


def test_patch_sets_an_expiry_at_a_date(gateway: RunningGateway) -> None:
    key_id = created(gateway, {})["id"]
    data = ask(gateway, "PATCH", f"/keys/{key_id}", json={"expires": "2099-01-01"}).json()
    assert data["expires_at"] == "2099-01-01T00:00:00+00:00"


def test_patch_with_null_makes_the_key_never_expire(gateway: RunningGateway) -> None:
    key_id = created(gateway)["id"]
    data = ask(gateway, "PATCH", f"/keys/{key_id}", json={"expires": None}).json()
    assert data["expires_at"] is None


def test_an_expiry_set_now_holds_at_once(gateway: RunningGateway) -> None:
    data = created(gateway, {})
    assert proxy_status(gateway, data["secret"]) == 200
    ask(gateway, "PATCH", f"/keys/{data['id']}", json={"expires": "1s"})
    # the key expires within a second: the proxy refuses it as soon as it has
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while proxy_status(gateway, data["secret"]) == 200:
        assert datetime.now(UTC) < deadline


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, '"expires"'),
        ({"expires": "2001-01-01"}, "not in the future"),
        ({"expires": 7}, "text or null"),
        ({"name": "x"}, "unknown field 'name'"),
    ],
)
def test_patch_refuses_bad_input_with_400(
    gateway: RunningGateway, body: dict[str, Any], says: str
) -> None:
    key_id = created(gateway)["id"]
    found = error(ask(gateway, "PATCH", f"/keys/{key_id}", json=body), 400)
    assert says in found["message"]


def test_patch_of_a_revoked_key_is_409(gateway: RunningGateway) -> None:
    key_id = created(gateway)["id"]
    ask(gateway, "DELETE", f"/keys/{key_id}")
    error(ask(gateway, "PATCH", f"/keys/{key_id}", json={"expires": "7d"}), 409)


def test_keys_are_404_when_the_gateway_keeps_none(gateway_factory: GatewayFactory) -> None:
    """An anonymous gateway without [gateway] keys has no key store to manage."""
    gw = gateway_factory(gateway="allow_anonymous = true")
    found = error(ask(gw, "GET", "/keys"), 404)
    assert "keeps no virtual keys" in found["message"]
