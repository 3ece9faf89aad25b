"""Sliding windows in buckets and the retry-after they give."""

from __future__ import annotations

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
