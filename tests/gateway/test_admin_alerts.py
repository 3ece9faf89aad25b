"""``GET /admin/reports/alerts``: the alerts the gateway's guard fired on real calls, recorded in
its ledger, answered as ``costcap report alerts --json`` prints them; a bad kind is a 400."""

from __future__ import annotations

import pytest

from tests.gateway._admin import ask, call, cli_json, error, refused
from tests.gateway.conftest import GatewayFactory, RunningGateway


@pytest.fixture
def alerted(gateway_factory: GatewayFactory) -> RunningGateway:
    """A gateway whose $0.000001 key budget refused a call too big for it (an ``oversized``
    alert) after a call with another key went through."""
    gw = gateway_factory()
    call(gw, gw.key(user="alice", feature="chat"))
    refused(gw, gw.key(user="carol", feature="chat", budgets=("$0.000001/day",)))
    gw.flush_ledger()
    return gw


def test_the_alerts_answer_what_the_cli_prints(
    alerted: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    response = ask(alerted, "GET", "/reports/alerts")
    assert response.status_code == 200, response.text
    argv = ["report", "alerts", "--ledger", alerted.ledger_url, "--config", str(alerted.config)]
    assert response.json() == cli_json(capsys, argv)


def test_the_refusal_is_in_the_alerts(alerted: RunningGateway) -> None:
    """One oversized alert, on carol's key's daily budget (member: the key's id)."""
    (row,) = ask(alerted, "GET", "/reports/alerts").json()
    assert (row["kind"], row["limit_usd"]) == ("oversized", "0.000001")
    assert row["budget"] == f"key:{row['member']}:day"


def test_a_bad_kind_is_400_naming_the_kinds(alerted: RunningGateway) -> None:
    found = error(ask(alerted, "GET", "/reports/alerts", params={"kind": "loud"}), 400)
    assert "threshold, exhausted, oversized, pacing, anomaly" in found["message"]
