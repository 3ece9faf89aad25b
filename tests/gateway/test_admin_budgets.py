"""``/admin/budgets`` (every budget's status now, as ``costcap budgets --json``; a key's own
budgets with ``?key=``) and ``/admin/me`` (a virtual key's own usage)."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Any

import openai
import pytest

from tests.gateway._admin import HI, ask, call, cli_json, error
from tests.gateway.conftest import GatewayFactory, RunningGateway

GLOBAL = '[[budgets]]\nscope = "global"\nperiod = "day"\nlimit_usd = 10\n'
PER_USER = '[[budgets]]\nscope = "user:*"\nperiod = "day"\nlimit_usd = 2\n'
PER_KEY = '[[budgets]]\nscope = "key:*"\nperiod = "month"\nlimit_usd = 3\n'


def spent_usd(gw: RunningGateway, secret: str) -> Decimal:
    """One call through the gateway; what a budget counts for it (its cost, in whole
    micro-dollars rounded up)."""
    sdk = openai.OpenAI(base_url=gw.openai_base, api_key=secret, max_retries=0)
    raw = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI)  # type: ignore[arg-type]
    sdk.close()
    return Decimal(raw.headers["x-costcap-cost-usd"]).quantize(
        Decimal("0.000001"), rounding=ROUND_CEILING
    )


def row(rows: list[dict[str, Any]], budget: str) -> dict[str, Any]:
    (found,) = [r for r in rows if r["budget"] == budget]
    return found


def test_budgets_answer_what_costcap_budgets_prints(
    gateway: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    call(gateway, gateway.key())
    expected = cli_json(capsys, ["budgets", "--config", str(gateway.config)])
    assert ask(gateway, "GET", "/budgets").json() == expected
    assert Decimal(expected[0]["spent_usd"]) > 0


def test_budgets_of_a_user_pick_their_member_of_a_template(
    gateway_factory: GatewayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    gw = gateway_factory(budgets=GLOBAL + PER_USER)
    spent = spent_usd(gw, gw.key(user="alice"))
    rows = ask(gw, "GET", "/budgets", params={"user": "alice"}).json()
    alice = [r for r in rows if r["scope"] == "user:*"]
    assert [(r["member"], Decimal(r["spent_usd"])) for r in alice] == [("alice", spent)]
    argv = ["budgets", "--config", str(gw.config), "--user", "alice"]
    assert rows == cli_json(capsys, argv)


def test_budgets_of_a_key_add_its_own_budgets_with_what_it_spent(
    gateway_factory: GatewayFactory,
) -> None:
    gw = gateway_factory(budgets=GLOBAL + PER_KEY)
    secret = gw.key(budgets=("$5/day", "$20/rolling:7d"))
    spent = spent_usd(gw, secret)
    key_id = gw.made[0].id
    rows = ask(gw, "GET", "/budgets", params={"key": key_id}).json()
    assert {r["budget"] for r in rows} == {
        "global/day", "key:*/month", f"key:{key_id}:day", f"key:{key_id}:rolling:7d",
    }  # fmt: skip
    own = row(rows, f"key:{key_id}:day")
    assert (own["scope"], own["member"], own["mode"]) == (f"key:{key_id}", key_id, "hard")
    assert Decimal(own["spent_usd"]) == spent
    assert Decimal(own["reserved_usd"]) == 0
    assert Decimal(own["remaining_usd"]) == 5 - spent
    assert Decimal(row(rows, "key:*/month")["spent_usd"]) == spent


def test_a_budget_row_of_a_key_says_when_it_resets(gateway: RunningGateway) -> None:
    gateway.key(budgets=("$5/day",))
    key_id = gateway.made[0].id
    own = row(ask(gateway, "GET", "/budgets", params={"key": key_id}).json(), f"key:{key_id}:day")
    assert own["resets_at"].endswith("T00:00:00+00:00")
    assert own["period"] == "day"


def test_budgets_of_an_unknown_key_are_404(gateway: RunningGateway) -> None:
    found = error(ask(gateway, "GET", "/budgets", params={"key": "ck_nope"}), 404)
    assert "ck_nope" in found["message"]


@pytest.mark.parametrize("name", ["user", "feature", "key", "model"])
def test_an_empty_budget_filter_is_400(gateway: RunningGateway, name: str) -> None:
    found = error(ask(gateway, "GET", "/budgets", params={name: " "}), 400)
    assert found["param"] == name
    assert "must not be empty" in found["message"]


def test_me_answers_the_calling_key_and_its_budgets(gateway: RunningGateway) -> None:
    secret = gateway.key(budgets=("$5/day",), limits=("20/minute",))
    spent = spent_usd(gateway, secret)
    key_id = gateway.made[0].id
    data = ask(gateway, "GET", "/me", secret).json()
    assert data["key"] == ask(gateway, "GET", f"/keys/{key_id}").json()
    assert data["key"]["limits"] == ["20/minute"]
    (own,) = data["budgets"]
    assert own["budget"] == f"key:{key_id}:day"
    assert Decimal(own["spent_usd"]) == spent
    assert Decimal(own["limit_usd"]) == 5
    assert Decimal(own["remaining_usd"]) == 5 - spent


def test_me_of_a_key_without_budgets_lists_none(gateway: RunningGateway) -> None:
    assert ask(gateway, "GET", "/me", gateway.key()).json()["budgets"] == []


def test_usage_me_answers_as_me(gateway: RunningGateway) -> None:
    secret = gateway.key(budgets=("$5/day",))
    call(gateway, secret)
    me = ask(gateway, "GET", "/me", secret).json()
    assert ask(gateway, "GET", "/usage/me", secret).json() == me


def test_me_with_the_admin_key_is_400_pointing_at_the_key_routes(
    gateway: RunningGateway,
) -> None:
    found = error(ask(gateway, "GET", "/me"), 400)
    assert "/admin/budgets?key=" in found["message"]
