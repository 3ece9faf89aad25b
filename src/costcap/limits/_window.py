"""Sliding windows in buckets, and when a refused call could pass.

A window of length W is cut into ``BUCKETS`` (20) buckets of W/20 (at least 1 ms). A call is charged
to the current bucket and checked against the sum of every bucket that overlaps the last W —
the oldest one whole — and of the buckets of the next ``AHEAD_MS``: a call reads the time before
its atomic step, so another call that read it a moment later (another thread, a replica whose
clock is a little ahead) may reach the store first and charge a later bucket — which a check
that stopped at its own bucket would not see (measured: 101–108 calls passing "100/minute" when
20 threads crossed a bucket boundary). So the count over any span of length W never passes the
limit, and a call may be refused for at most one bucket (W/20) longer than a perfect sliding log
would (e.g. 3 s for "20/minute"). The error is always on the safe side. Twenty buckets keep a
check to 22 counters per rule for a minute (41 for a second): sixty (1 s for a minute) cost
about three times as much on Redis and Postgres for little gain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from costcap.stores import CounterState

__all__ = ["AHEAD_MS", "BUCKETS", "SlidingWindow", "retry_after_s", "sliding_window"]

BUCKETS = 20
#: How far past its own time a check looks: the time between reading the clock and the store's
#: atomic step (scheduling, the GIL, a network round trip) and the skew of replicas' clocks.
AHEAD_MS = 1000


@dataclass(frozen=True, slots=True)
class SlidingWindow:
    bucket_ms: int
    first: int  # index of the oldest bucket overlapping the window
    current: int
    window_ms: int
    ahead: int = 0  # buckets after ``current`` checked too (charged by calls timed later)

    def names(self) -> tuple[str, ...]:
        return tuple(f"w{i}" for i in range(self.first, self.current + self.ahead + 1))

    @property
    def ttl_s(self) -> int:
        return (self.window_ms + 2 * self.bucket_ms) // 1000 + 1

    def leaves_at_s(self, index: int) -> float:
        """When bucket ``first + index`` stops overlapping the window (epoch seconds)."""
        return ((self.first + index + 1) * self.bucket_ms + self.window_ms) / 1000


def sliding_window(window_s: float, now_s: float) -> SlidingWindow:
    window_ms = int(window_s * 1000)
    bucket_ms = max(1, window_ms // BUCKETS)
    now_ms = int(now_s * 1000)
    ahead = min(BUCKETS, -(-AHEAD_MS // bucket_ms))
    return SlidingWindow(
        bucket_ms, (now_ms - window_ms) // bucket_ms, now_ms // bucket_ms, window_ms, ahead
    )


def retry_after_s(
    window: SlidingWindow, buckets: Sequence[CounterState], limit: int, amount: int, now_s: float
) -> float | None:
    """Seconds until enough of the oldest buckets leave the window for ``amount`` to fit;
    None when it never fits (the call alone is over the limit)."""
    if amount > limit:
        return None
    used = sum(b.spent + b.reserved for b in buckets)
    for index, bucket in enumerate(buckets):
        if used + amount <= limit:
            return 0.0 if index == 0 else max(0.0, window.leaves_at_s(index - 1) - now_s)
        used -= bucket.spent + bucket.reserved
    return max(0.0, window.leaves_at_s(len(buckets) - 1) - now_s)
