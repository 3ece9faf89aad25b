"""``/dashboard/``: the dashboard over the gateway's ledger, behind the admin key — as a bearer
token, in x-api-key, or as HTTP Basic's password (what a browser sends once asked with a 401);
a virtual key is 403, no key a 401 asking for one, no admin key configured a 403 saying how.
Its budgets are the gateway's own guard's."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.dashboard.reference import panels_of
from tests.gateway._admin import ADMIN_KEY, ask, call
from tests.gateway.conftest import GatewayFactory, RunningGateway

# The fields of a pacing row that do not move with the clock between two reads.
STEADY = ("budget", "member", "mode", "period", "bucket", "resets_at", "limit_usd", "spent_usd",
          "reserved_usd", "rate_from", "alert_period")  # fmt: skip


def basic(password: str, user: str = "admin") -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def get(gw: RunningGateway, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(f"{gw.base}/dashboard/{path}", headers=headers, timeout=30)


@pytest.fixture
def served(gateway_factory: GatewayFactory) -> RunningGateway:
    """A gateway with budgets and a ledger holding a few calls."""
    gw = gateway_factory(
        budgets='[[budgets]]\nscope = "global"\nperiod = "day"\nlimit_usd = 10\n'
        '[[budgets]]\nscope = "user:*"\nperiod = "day"\nlimit_usd = 2\n'
    )
    call(gw, gw.key(user="alice", feature="chat"))
    call(gw, gw.key(user="bob", feature="search"), model="gpt-4o")
    gw.flush_ledger()
    return gw


@pytest.mark.parametrize(
    "headers",
    [{"authorization": f"Bearer {ADMIN_KEY}"}, {"x-api-key": ADMIN_KEY}, basic(ADMIN_KEY)],
    ids=["bearer", "x-api-key", "basic"],
)
def test_the_admin_key_opens_the_dashboard(served: RunningGateway, headers: dict[str, str]) -> None:
    response = get(served, "", headers)
    assert response.status_code == 200
    panels, main, _ = panels_of(response.text)
    assert main["data-calls"] == "2"
    assert list(panels["users"].rows) == ["bob", "alice"]
    assert get(served, "static/dashboard.js", headers).status_code == 200


def test_no_key_is_a_401_that_makes_a_browser_ask(served: RunningGateway) -> None:
    response = get(served, "")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="costcap"'
    assert "admin key" in response.text


@pytest.mark.parametrize(
    "headers",
    [basic(ADMIN_KEY + "x"), {"authorization": "Bearer nope"}],
    ids=["wrong password", "wrong bearer"],
)
def test_a_wrong_key_is_a_401(served: RunningGateway, headers: dict[str, str]) -> None:
    assert get(served, "api/features", headers).status_code == 401


@pytest.mark.parametrize("how", ["bearer", "basic"])
def test_a_virtual_key_is_a_403(served: RunningGateway, how: str) -> None:
    secret = served.key()
    headers = basic(secret) if how == "basic" else {"authorization": f"Bearer {secret}"}
    response = get(served, "", headers)
    assert response.status_code == 403
    assert "admin key" in response.text


def test_without_an_admin_key_configured_the_dashboard_is_off(
    served: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COSTCAP_TEST_ADMIN_KEY")
    response = get(served, "", basic(ADMIN_KEY))
    assert response.status_code == 403
    assert "admin_key_env" in response.text


def test_dashboard_without_its_slash_is_redirected_to_it(served: RunningGateway) -> None:
    response = httpx.get(f"{served.base}/dashboard?feature=chat", timeout=30)
    assert response.status_code == 307
    assert response.headers["location"] == "dashboard/?feature=chat"
    followed = httpx.get(
        f"{served.base}/dashboard?feature=chat", headers=basic(ADMIN_KEY), follow_redirects=True
    )
    assert followed.url.path == "/dashboard/"
    assert followed.status_code == 200


def test_the_api_answers_what_the_admin_api_does(served: RunningGateway) -> None:
    headers = basic(ADMIN_KEY)
    for name in ("features", "users", "models", "time", "refused", "routes"):
        assert (
            get(served, f"api/{name}", headers).json()
            == ask(served, "GET", f"/reports/{name}").json()
        )


def test_budgets_are_the_gateways_own(served: RunningGateway) -> None:
    shown = get(served, "api/budgets", basic(ADMIN_KEY)).json()
    expected = ask(served, "GET", "/reports/pacing").json()
    assert {r["member"] for r in shown} == {"", "alice", "bob"}
    assert [{k: r[k] for k in STEADY} for r in shown] == [
        {k: r[k] for k in STEADY} for r in expected
    ]
