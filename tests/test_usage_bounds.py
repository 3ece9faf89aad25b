"""Usage beyond what a request allows: flagged, alerted, and charged at most what the model can
do. Expected money is hand arithmetic from gpt-4o's published prices ($2.50 input, $10 output
per million tokens; a 128,000-token context window; no maximum output in the price data)."""

from __future__ import annotations

from decimal import Decimal

from costcap.alerts import Alert
from costcap.budgets import Budget
from costcap.guard import Guard
from costcap.ledger import CostEvent
from costcap.usage_bounds import BEYOND_REQUEST

MESSAGES = [{"role": "user", "content": "hi"}]


class Events:
    def __init__(self) -> None:
        self.events: list[CostEvent] = []

    def on_event(self, event: CostEvent) -> None:
        self.events.append(event)


def guard_on(url: str, events: Events, alerts: list[Alert]) -> Guard:
    budget = Budget(scope="global", period="day", limit_usd=1, thresholds=())
    return Guard(url, budgets=[budget], observers=[events], notifiers=[alerts.append])


def test_absurd_usage_is_charged_at_what_the_model_can_do(store_url: str) -> None:
    """10^15 input and output tokens on a call capped at 100: input cut to the 128,000-token
    window ($0.32), output to 16 x 100 = 1,600 tokens ($0.016) — $0.336 spent, not a locked
    budget; the event carries those counts and the flag."""
    events, alerts = Events(), list[Alert]()
    guard = guard_on(store_url, events, alerts)
    ticket = guard.admit(model="gpt-4o", messages=MESSAGES, max_tokens=100)
    guard.settle(ticket, {"input_tokens": 10**15, "output_tokens": 10**15})
    [status] = guard.status()
    assert status["spent_usd"] == Decimal("0.336")
    [event] = events.events
    assert (event.input_tokens, event.output_tokens) == (128_000, 1_600)
    assert (event.cost_pico, event.flag) == (336_000_000_000, BEYOND_REQUEST)
    guard.close()


def test_output_past_max_tokens_is_flagged_and_charged_as_reported(store_url: str) -> None:
    """1,000 output tokens on a call capped at 100 — within what the model can write, so what a
    provider ignoring the cap bills: charged as reported (10 x $2.50 + 1,000 x $10 per million
    = $0.010025), flagged, and one anomaly alert names the model."""
    events, alerts = Events(), list[Alert]()
    guard = guard_on(store_url, events, alerts)
    ticket = guard.admit(model="gpt-4o", messages=MESSAGES, max_tokens=100)
    guard.settle(ticket, {"input_tokens": 10, "output_tokens": 1_000})
    [event] = events.events
    assert (event.cost_pico, event.flag) == (10_025_000_000, BEYOND_REQUEST)
    [alert] = alerts
    assert (alert.kind, alert.member) == ("anomaly", "model:gpt-4o")
    assert "output 1,000 > max_tokens 100" in alert.detail
    guard.close()


def test_the_alert_fires_once_per_model_and_hour(store_url: str) -> None:
    """Three flagged calls to one model in one hour: one alert."""
    events, alerts = Events(), list[Alert]()
    guard = guard_on(store_url, events, alerts)
    for _ in range(3):
        ticket = guard.admit(model="gpt-4o", messages=MESSAGES, max_tokens=100)
        guard.settle(ticket, {"input_tokens": 10, "output_tokens": 101})
    assert len(alerts) == 1
    assert [e.flag for e in events.events] == [BEYOND_REQUEST] * 3
    guard.close()


def test_usage_within_the_request_is_not_flagged() -> None:
    """100 output tokens on a call capped at 100: charged as reported, no flag, no alert."""
    events, alerts = Events(), list[Alert]()
    guard = guard_on("memory://", events, alerts)
    ticket = guard.admit(model="gpt-4o", messages=MESSAGES, max_tokens=100)
    guard.settle(ticket, {"input_tokens": 10, "output_tokens": 100})
    [event] = events.events
    assert (event.cost_pico, event.flag, alerts) == (1_025_000_000, None, [])


def test_a_cut_usage_keeps_its_audio() -> None:
    """gpt-realtime (32,000-token window; audio $32 in / $64 out per million) reporting 10^15
    audio tokens each way on a call capped at 100: cut to 32,000 audio in ($1.024) and 1,600
    audio out ($0.1024) = $1.1264, still priced as audio (as text: $0.1536)."""
    events, alerts = Events(), list[Alert]()
    guard = guard_on("memory://", events, alerts)
    ticket = guard.admit(model="gpt-realtime", messages=MESSAGES, max_tokens=100)
    huge = 10**15
    guard.settle(ticket, {"input_tokens": huge, "output_tokens": huge,
                          "input_audio_tokens": huge, "output_audio_tokens": huge})  # fmt: skip
    [event] = events.events
    assert (event.input_tokens, event.output_tokens) == (32_000, 1_600)
    assert (event.cost_pico, event.flag) == (1_126_400_000_000, BEYOND_REQUEST)
    guard.close()


def test_audio_without_a_price_flags_the_event() -> None:
    """gpt-4o-audio-preview's data has no audio price: 50 audio output tokens are charged at its
    dearest rate ($10/M) and the event says so. 10 x $2.50 + 50 x $10 per million = $0.000525."""
    events, alerts = Events(), list[Alert]()
    guard = guard_on("memory://", events, alerts)
    ticket = guard.admit(model="gpt-4o-audio-preview", messages=MESSAGES, max_tokens=100)
    guard.settle(ticket, {"prompt_tokens": 10, "completion_tokens": 50,
                          "completion_tokens_details": {"audio_tokens": 50}})  # fmt: skip
    [event] = events.events
    assert (event.cost_pico, event.flag) == (525_000_000, "unpriced_audio")
    guard.close()
