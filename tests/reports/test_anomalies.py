"""Anomalies: spend spikes against each member's own 7-day baseline, and runaway loops."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from costcap.alerts import Alert
from costcap.guard import Guard
from costcap.ledger import CostEvent, open_sink
from costcap.reports import AnomalyRules, Reports, alert_anomalies, robust_baseline

AT = datetime(2026, 3, 20, 15, tzinfo=UTC)
PICO = 10**12


def test_robust_baseline_median_mad_and_floor() -> None:
    """Median 10, MAD 1 → spread 1.4826, threshold 10 + 5 × 1.4826; an idle history gets the
    floor; regular traffic (MAD 0) still gets a spread of 10% of its median."""
    noisy = robust_baseline([9, 10, 11, 10, 12, 8, 10], k=Decimal(5), min_spread=Decimal(0),
                            floor_pico=0)  # fmt: skip
    assert (noisy.median, noisy.spread) == (Decimal(10), Decimal("1.4826"))
    assert noisy.threshold == Decimal("17.4130")
    assert noisy.score(20) == Decimal("6.74")
    idle = robust_baseline([0] * 168, k=Decimal(5), min_spread=Decimal("0.1"), floor_pico=PICO)
    assert (idle.threshold, idle.score(5)) == (Decimal(PICO), None)
    flat = robust_baseline([100] * 7, k=Decimal(5), min_spread=Decimal("0.1"), floor_pico=0)
    assert (flat.spread, flat.threshold) == (Decimal(10), Decimal(150))


def steady_traffic(seed: int = 1) -> Iterator[CostEvent]:
    """8 days of steady, noisy traffic: three users × two features, two calls an hour each,
    $0.40-$0.60 a call (about $1 an hour per user and feature)."""
    rng = random.Random(seed)
    start = AT - timedelta(days=8)
    n = 0
    for hour in range(8 * 24):
        for user in ("ann", "ben", "cat"):
            for feature in ("chat", "search"):
                for _ in range(2):
                    n += 1
                    yield CostEvent(
                        request_id=f"s{n}",
                        ts=start + timedelta(hours=hour, seconds=rng.randrange(3600),
                                             microseconds=rng.randrange(10**6)),
                        status="ok",
                        model="gpt-4o-mini",
                        user_id=user,
                        feature=feature,
                        cost_pico=rng.randrange(400_000, 600_001) * 10**6,
                        prompt_hash=f"p{n}",
                    )  # fmt: skip


def event(rid: str, ts: datetime, usd: str, **extra: object) -> CostEvent:
    return CostEvent(
        request_id=rid,
        ts=ts,
        status="ok",
        model="gpt-4o",
        cost_pico=int(Decimal(usd) * PICO),
        **extra,  # type: ignore[arg-type]
    )


def write(url: str, events: list[CostEvent]) -> Reports:
    sink = open_sink(url)
    sink.write(events)
    return Reports(sink)


def test_steady_traffic_is_not_an_anomaly(empty_url: str) -> None:
    """Eight days of steady noisy traffic raise nothing, for users or features."""
    with write(empty_url, list(steady_traffic())) as reports:
        assert reports.anomalies(at=AT) == []


def office_hours(user: str, days: int = 8) -> Iterator[CostEvent]:
    """A user busy from 09:00 to 17:00 UTC every day ($3 an hour) and idle at night."""
    start = AT.replace(hour=0) - timedelta(days=days)
    for day in range(days + 1):
        for hour in range(9, 17):
            for i in range(3):
                ts = start + timedelta(days=day, hours=hour, minutes=20 * i)
                if ts < AT:
                    yield event(f"{user}-{day}-{hour}-{i}", ts, "1", user_id=user)


def test_a_busy_afternoon_is_not_a_spike_but_a_busy_night_is(empty_url: str) -> None:
    """The hour is judged against the same hours of the previous days: $3 at 14:00 is normal
    for an office-hours user; the same $3 at 03:00 is not."""
    night = [event(f"n{i}", AT.replace(hour=3, minute=20 * i), "1", user_id="olga")
             for i in range(3)]  # fmt: skip
    with write(empty_url, [*office_hours("olga"), *night]) as reports:
        assert reports.anomalies(at=AT) == []
        (found,) = reports.anomalies(at=AT.replace(hour=4))
    assert (found.member, found.window, found.spend_usd) == ("olga", "1h", Decimal(3))


def test_a_user_spike_is_found_in_the_hour_and_the_day(empty_url: str) -> None:
    """$30 more in the last hour for one user flags that user (1h and 24h) and the feature it
    went to, with its baseline and threshold; nobody else is flagged."""
    spike = [
        event(f"x{i}", AT - timedelta(minutes=50 - i), "3", user_id="ben", feature="chat")
        for i in range(10)
    ]
    with write(empty_url, [*steady_traffic(), *spike]) as reports:
        found = reports.anomalies(at=AT)
    flagged = {(a.scope, a.member, a.window) for a in found}
    assert flagged == {
        ("user", "ben", "1h"),
        ("user", "ben", "24h"),
        ("feature", "chat", "1h"),
    }
    ben = next(a for a in found if (a.member, a.window) == ("ben", "1h"))
    assert Decimal(31) < ben.spend_usd < Decimal(33)
    assert ben.baseline_usd is not None
    assert Decimal("1.6") < ben.baseline_usd < Decimal("2.4")
    assert ben.threshold_usd is not None
    assert ben.threshold_usd < ben.spend_usd
    assert ben.score is not None
    assert ben.score > 5


def test_an_idle_member_must_pass_the_floor(empty_url: str) -> None:
    """A user idle all week: $0.80 in the last hour is under the $1 floor; $5 is a spike."""
    quiet = [event("q", AT - timedelta(minutes=5), "0.8", user_id="dora")]
    loud = [event("l", AT - timedelta(minutes=5), "5", user_id="eve")]
    with write(empty_url, [*steady_traffic(), *quiet, *loud]) as reports:
        found = reports.anomalies(at=AT)
    assert {(a.member, a.window) for a in found if a.scope == "user"} == {("eve", "1h")}


def test_the_last_hour_starts_exactly_an_hour_before(empty_url: str) -> None:
    """An event at exactly at − 1h is in the last hour; one a microsecond earlier is not (on
    both databases, with and without a fractional second)."""
    events = [
        event("in", AT - timedelta(hours=1), "5", user_id="fay"),
        event("out", AT - timedelta(hours=1, microseconds=1), "7", user_id="fay"),
        event("late", AT, "11", user_id="fay"),  # at itself is excluded
    ]
    with write(empty_url, events) as reports:
        (found,) = reports.anomalies(at=AT, rules=AnomalyRules(min_day_usd=Decimal(100)))
    assert (found.member, found.window, found.spend_usd) == ("fay", "1h", Decimal(5))


def test_a_runaway_loop_is_found(empty_url: str) -> None:
    """25 identical prompts from one user in 10 minutes is a loop; 19 in 10 minutes, or 25
    spread over an hour, are not; an identity without a user is its API key."""
    events = [
        event(f"a{i}", AT - timedelta(seconds=20 * i + 1), "0.01", user_id="gus",
              prompt_hash="same")
        for i in range(25)
    ] + [
        event(f"b{i}", AT - timedelta(seconds=30 * i + 1), "0.01", user_id="hal",
              prompt_hash="same")
        for i in range(19)
    ] + [
        event(f"c{i}", AT - timedelta(minutes=2.4 * i, seconds=1), "0.01", user_id="ida",
              prompt_hash="same")
        for i in range(25)
    ] + [
        event(f"d{i}", AT - timedelta(seconds=10 * i + 1), "0.02", api_key_id="k9",
              prompt_hash="other")
        for i in range(30)
    ]  # fmt: skip
    with write(empty_url, events) as reports:
        found = reports.anomalies(at=AT)
    loops = [(a.kind, a.scope, a.member, a.calls, a.prompt_hash, a.spend_usd) for a in found]
    assert loops == [
        ("loop", "key", "k9", 30, "other", Decimal("0.6")),
        ("loop", "user", "gus", 25, "same", Decimal("0.25")),
    ]


def test_filters_narrow_anomalies(empty_url: str) -> None:
    """A feature filter judges only that feature's calls: a spike elsewhere is not reported."""
    spike = [
        event(f"x{i}", AT - timedelta(minutes=30, seconds=i), "3", user_id="ben", feature="chat")
        for i in range(10)
    ]
    with write(empty_url, [*steady_traffic(), *spike]) as reports:
        assert reports.anomalies(at=AT, feature="search") == []
        assert {a.member for a in reports.anomalies(at=AT, user="ben")} == {"ben", "chat"}


def test_anomaly_alerts_fire_once_per_window(empty_url: str) -> None:
    """Each anomaly alerts once through the guard's notifiers; judging again in the same hour
    fires nothing new."""
    alerts: list[Alert] = []
    guard = Guard("memory://", notifiers=[alerts.append], clock=lambda: AT)
    with write(empty_url, [event("l", AT - timedelta(minutes=5), "5", user_id="eve")]) as r:
        found = r.anomalies(at=AT)
        assert len(alert_anomalies(guard, found)) == 1
        assert alert_anomalies(guard, r.anomalies(at=AT + timedelta(minutes=10))) == []
    assert [a.kind for a in alerts] == ["anomaly"]
    assert alerts[0].member == "user:eve"
    assert alerts[0].message.startswith("costcap: anomaly: user eve spent $5 in the 1h before")
