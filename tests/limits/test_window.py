"""Sliding windows in buckets and the retry-after they give."""

from __future__ import annotations

import pytest

from costcap.limits import retry_after_s, sliding_window
from costcap.stores import CounterState


def test_minute_window_has_three_second_buckets() -> None:
    """A one-minute window is 21 three-second buckets (the oldest partly outside), and the check
    also reads the next one (charged by calls that read the clock a moment later)."""
    window = sliding_window(60, 1_000_000.5)
    assert window.bucket_ms == 3000
    assert len(window.names()) == 22
    assert window.names()[-1] == f"w{window.current + 1}"


def test_a_second_window_checks_the_next_second_of_buckets() -> None:
    """A one-second window's 50 ms buckets: 21 behind, 20 ahead (a second of clock skew)."""
    window = sliding_window(1, 1_000_000.5)
    assert window.bucket_ms == 50
    assert len(window.names()) == 41


def test_retry_after_waits_for_the_oldest_full_bucket() -> None:
    """20 calls in the bucket that started 30 s ago: room again when it leaves, 33 s from now."""
    now = 1_000_002.0  # buckets start at multiples of 3 s: the current one began at 1_000_002
    window = sliding_window(60, now)
    buckets = [CounterState(0, 0)] * 22
    buckets[10] = CounterState(20, 0)  # [999_972, 999_975), 30 s before the current bucket
    assert retry_after_s(window, buckets, limit=20, amount=1, now_s=now) == 33.0


def test_retry_after_is_none_when_the_call_alone_is_too_big() -> None:
    """A call needing more than the whole limit can never pass."""
    window = sliding_window(60, 1000.0)
    assert (
        retry_after_s(window, [CounterState(0, 0)] * 22, limit=10, amount=11, now_s=1000.0) is None
    )


# (window_s, now_s) → (bucket_ms, first, current, ahead, ttl_s), by hand: bucket = W/20 rounded
# down (at least 1 ms); first = floor((now − W) / bucket), current = floor(now / bucket); the
# buckets ahead cover AHEAD_MS (1000 ms) rounded up, at most 20; the counters live
# (W + 2 buckets) in whole seconds rounded down, plus one second
WINDOWS = [
    # a minute: 3 s buckets, (1_000_000_500 − 60_000) / 3000 = 333_313.5, 66 s + 1
    (60, 1_000_000.5, 3000, 333_313, 333_333, 1, 67),
    # ten seconds: 500 ms buckets, exactly two ahead; (10_000 + 1_000) // 1000 + 1 = 12
    (10, 1_000_000.0, 500, 1_999_980, 2_000_000, 2, 12),
    # 1.25 s: 1250 / 20 = 62.5 → 62 ms; 998_750 / 62 = 16_108.9; 1000 / 62 = 16.1 → 17 ahead;
    # 1374 ms → 1 s + 1
    (1.25, 1_000.0, 62, 16_108, 16_129, 17, 2),
    # 2.234375 s: 111 ms buckets; 1000 / 111 = 9.009 → 10 ahead (999 ms would be 9)
    (2.234375, 1_000.0, 111, 8_988, 9_009, 10, 3),
    # half a second: 25 ms buckets, 40 would cover a second: capped at 20; 550 ms → 0 s + 1
    (0.5, 1_000.0, 25, 39_980, 40_000, 20, 1),
    # 10 ms: a 0.5 ms bucket is rounded up to the 1 ms floor
    (0.01, 1_000.0, 1, 999_990, 1_000_000, 20, 1),
]


@pytest.mark.parametrize(("window_s", "now_s", "expected"), [(w[0], w[1], w[2:]) for w in WINDOWS])
def test_window_buckets_worked_out_by_hand(
    window_s: float, now_s: float, expected: tuple[int, ...]
) -> None:
    """Bucket size, the oldest and current bucket, the buckets read ahead and the counters'
    lifetime, for windows from a minute down to 10 ms."""
    bucket_ms, first, current, ahead, ttl_s = expected
    window = sliding_window(window_s, now_s)
    assert (window.bucket_ms, window.first, window.current) == (bucket_ms, first, current)
    assert window.ahead == ahead
    assert window.names() == tuple(f"w{i}" for i in range(first, current + ahead + 1))
    assert window.ttl_s == ttl_s
    assert type(window.ttl_s) is int


def test_ttl_rounds_the_seconds_down() -> None:
    """A 909 ms window of 45 ms buckets lives 909 + 2 × 45 = 999 ms: 0 whole seconds, plus one."""
    assert sliding_window(0.909, 1_000.0).ttl_s == 1


def test_a_call_as_large_as_the_limit_fits_an_empty_window() -> None:
    """amount == limit is not "over the limit": no wait in an empty window."""
    now = 1_000_002.0
    window = sliding_window(60, now)
    assert retry_after_s(window, [CounterState(0, 0)] * 22, limit=10, amount=10, now_s=now) == 0


def test_a_call_that_exactly_fills_the_window_needs_no_wait() -> None:
    """19 spent + 1 asked = the limit of 20: it fits now (0.0, not a wait)."""
    now = 1_000_002.0
    window = sliding_window(60, now)
    buckets = [CounterState(0, 0)] * 22
    buckets[5] = CounterState(15, 4)  # spent and reserved both count
    wait = retry_after_s(window, buckets, limit=20, amount=1, now_s=now)
    assert wait == 0.0
    assert type(wait) is float


def test_calls_charged_ahead_wait_until_their_bucket_leaves() -> None:
    """The bucket read ahead (charged by a call timed later) holds the whole limit: no older
    bucket leaving makes room, so the wait is until that one leaves: it is
    [1_000_005, 1_000_008) and counts until 60 s after its end, 66 s from now."""
    now = 1_000_002.0
    window = sliding_window(60, now)  # first bucket 333_314, current 333_334, one ahead
    buckets = [CounterState(0, 0)] * 21 + [CounterState(20, 0)]
    assert retry_after_s(window, buckets, limit=20, amount=1, now_s=now) == 66.0


def test_short_window_wait_is_under_a_second() -> None:
    """A 10 ms window of 1 ms buckets, its last bucket read ahead full: the wait is that
    bucket's end (1_000.021) plus the window, 31 ms, not rounded up to a second."""
    now = 1_000.0
    window = sliding_window(0.01, now)  # buckets 999_990 … 1_000_020
    buckets = [CounterState(0, 0)] * 30 + [CounterState(0, 1)]
    assert retry_after_s(window, buckets, limit=1, amount=1, now_s=now) == pytest.approx(0.031)


def test_a_wait_explained_late_is_never_negative() -> None:
    """A refusal is explained with the clock read again (guard_core): 100 s after the window
    was read, every bucket it named has left, so the wait is 0.0, not a negative number."""
    read_at = 1_000_002.0
    window = sliding_window(60, read_at)
    later = read_at + 100
    full_ahead = [CounterState(0, 0)] * 21 + [CounterState(20, 0)]
    assert retry_after_s(window, full_ahead, limit=20, amount=1, now_s=later) == 0.0
    full_oldest_two = [CounterState(10, 0), CounterState(10, 0)] + [CounterState(0, 0)] * 20
    assert retry_after_s(window, full_oldest_two, limit=20, amount=1, now_s=later) == 0.0


def test_a_call_that_fits_has_no_wait_even_if_the_clock_stepped_back() -> None:
    """The wall clock read to explain the refusal may be a second behind the one the window
    was read at: a call that fits still waits 0.0 (the bucket before the oldest left at
    999,942 + 60 = 1,000,002 s, one second after that clock)."""
    window = sliding_window(60, 1_000_002.0)
    buckets = [CounterState(0, 0)] * 22
    assert retry_after_s(window, buckets, limit=20, amount=1, now_s=1_000_001.0) == 0.0
