"""Notifiers: log, callable, webhook (Slack-compatible, retried, never blocking)."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from costcap.alerts import Alert, LogNotifier, WebhookNotifier, notify_all
from costcap.errors import ConfigError

ALERT = Alert(
    kind="threshold",
    budget="global/day",
    member="",
    mode="hard",
    period="2026-11-28",
    threshold_pct=Decimal(80),
    spent_usd=Decimal(80),
    limit_usd=Decimal(100),
    resets_at=datetime(2026, 11, 29, tzinfo=UTC),
)


def test_log_notifier_writes_structured_json(caplog: pytest.LogCaptureFixture) -> None:
    """The log notifier emits one JSON warning with the alert's fields."""
    with caplog.at_level(logging.WARNING, logger="costcap.alerts"):
        LogNotifier().notify(ALERT)
    record = json.loads(caplog.records[0].getMessage())
    assert record["threshold_pct"] == "80"
    assert record["budget"] == "global/day"


def test_alert_json_writes_money_in_plain_decimal() -> None:
    """A limit of Decimal("1E+2") is "100" in the alert's JSON, never "1E+2"."""
    data = replace(ALERT, limit_usd=Decimal("1E+2"), spent_usd=Decimal("0.000001")).as_dict()
    assert (data["limit_usd"], data["spent_usd"]) == ("100", "0.000001")


def test_webhook_retries_until_delivered() -> None:
    """A webhook that fails twice with 503 is retried and the alert delivered on the third try."""
    calls: list[dict[str, object]] = []
    done = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        if len(calls) < 3:
            return httpx.Response(503)
        done.set()
        return httpx.Response(200)

    hook = WebhookNotifier(
        "http://hooks.invalid/x", backoff_s=0.01, transport=httpx.MockTransport(handler)
    )
    hook.notify(ALERT)
    assert done.wait(5)
    hook.close()
    assert hook.delivered == 1
    assert "reached 80%" in str(calls[-1]["text"])


def test_webhook_never_blocks_the_caller() -> None:
    """notify returns while the endpoint is still answering: the endpoint answers only once
    notify has returned (were notify to wait for it, the endpoint would give up first)."""
    returned = threading.Event()
    answered_after_return: list[bool] = []

    def slow(request: httpx.Request) -> httpx.Response:
        answered_after_return.append(returned.wait(10))
        return httpx.Response(200)

    hook = WebhookNotifier("http://hooks.invalid/x", transport=httpx.MockTransport(slow))
    hook.notify(ALERT)
    returned.set()
    hook.close()
    assert answered_after_return == [True]
    assert hook.delivered == 1


def test_a_failing_notifier_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    """One notifier raising is logged; the next still receives the alert."""
    got: list[Alert] = []

    class Broken:
        def notify(self, alert: Alert) -> None:
            raise RuntimeError("boom")

    class Keep:
        def notify(self, alert: Alert) -> None:
            got.append(alert)

    with caplog.at_level(logging.ERROR, logger="costcap.alerts"):
        notify_all((Broken(), Keep()), ALERT)
    assert got == [ALERT]
    assert "boom" in caplog.text


@pytest.mark.parametrize(
    "settings",
    [{"retries": 101}, {"retries": -1}, {"retries": True}, {"backoff_s": float("nan")},
     {"timeout_s": 0}, {"max_queue": 0}, {"url": "ftp://x"}],
)  # fmt: skip
def test_bad_webhook_settings_are_config_errors(settings: dict[str, object]) -> None:
    """A webhook setting out of range is refused when the notifier is built (no thread)."""
    arguments: dict[str, object] = {"url": "http://hooks.invalid/x", **settings}
    with pytest.raises(ConfigError, match="webhook"):
        WebhookNotifier(**arguments)  # type: ignore[arg-type]
