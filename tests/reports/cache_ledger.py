"""A ledger of response-cache calls small enough to work the cache report out by hand.

March 2nd 2026, from 09:00, a minute apart within each group:

``faq`` (alice), the cache on: 6 hits (each saved $0.02: $0.12), 2 misses at $0.03 ($0.06), 1
call the cache was not asked about ($0.05) and 1 refused call. Cacheable 8, hit rate 6/8.

``chat`` (alice), the cache on: 1 hit (saved $0.01), 9 misses at $0.01 ($0.09). Cacheable 10,
hit rate 1/10.

``search``, the cache never asked: digest h1 three times (alice: $0.01, $0.02, $0.04), h2 once
(bob: $0.05), h3 twice (bob: $0.03, $0.03), one call without a digest (bob: $0.07) and one
refused call with digest h1 (alice). Answered calls with a digest: 6, distinct digests 3, so
3 repeats: h1's second and third ($0.02 + $0.04) and h3's second ($0.03), $0.09 in all; repeat
share 3/6.

No feature, the cache never asked: digest h1 twice at $0.01 (bob): 2 calls, 1 repeat, $0.01.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from costcap.ledger import CostEvent

CENT = 10**10  # picodollars
START = datetime(2026, 3, 2, 9, tzinfo=UTC)
SEARCH_START = START + timedelta(hours=2)  # search's first call (h1, $0.01)


def call(name: str, at: datetime, **fields: Any) -> CostEvent:
    """An answered gpt-4o-mini call at ``at`` (``fields`` override)."""
    values: dict[str, Any] = {
        "request_id": name,
        "ts": at,
        "status": "ok",
        "model": "gpt-4o-mini",
        "user_id": "alice",
    }
    values.update(fields)
    return CostEvent(**values)


def _series(prefix: str, start: datetime, n: int, **fields: Any) -> list[CostEvent]:
    return [call(f"{prefix}-{i}", start + timedelta(minutes=i), **fields) for i in range(n)]


_FAQ = START
_CHAT = START + timedelta(hours=1)
CACHED = [
    *_series("faq-hit", _FAQ, 6, feature="faq", cache_hit=True, saved_pico=2 * CENT),
    *_series("faq-miss", _FAQ + timedelta(minutes=10), 2, feature="faq", cache_miss=True,
             cost_pico=3 * CENT),
    call("faq-plain", _FAQ + timedelta(minutes=20), feature="faq", cost_pico=5 * CENT),
    call("faq-refused", _FAQ + timedelta(minutes=21), feature="faq", status="refused",
         refused_by="budget user:*/day"),
    call("chat-hit", _CHAT, feature="chat", cache_hit=True, saved_pico=CENT),
    *_series("chat-miss", _CHAT + timedelta(minutes=1), 9, feature="chat", cache_miss=True,
             cost_pico=CENT),
    call("s1", SEARCH_START, feature="search", prompt_hash="h1", cost_pico=CENT),
    call("s2", SEARCH_START + timedelta(minutes=1), feature="search", prompt_hash="h1",
         cost_pico=2 * CENT),
    call("s3", SEARCH_START + timedelta(minutes=2), feature="search", prompt_hash="h1",
         cost_pico=4 * CENT),
    call("s4", SEARCH_START + timedelta(minutes=3), feature="search", prompt_hash="h2",
         cost_pico=5 * CENT, user_id="bob"),
    call("s5", SEARCH_START + timedelta(minutes=4), feature="search", prompt_hash="h3",
         cost_pico=3 * CENT, user_id="bob"),
    call("s6", SEARCH_START + timedelta(minutes=5), feature="search", prompt_hash="h3",
         cost_pico=3 * CENT, user_id="bob"),
    call("s7", SEARCH_START + timedelta(minutes=6), feature="search", cost_pico=7 * CENT,
         user_id="bob"),
    call("s8", SEARCH_START + timedelta(minutes=7), feature="search", prompt_hash="h1",
         status="refused", refused_by="budget user:*/day"),
    call("n1", SEARCH_START + timedelta(minutes=8), prompt_hash="h1", cost_pico=CENT,
         user_id="bob"),
    call("n2", SEARCH_START + timedelta(minutes=9), prompt_hash="h1", cost_pico=CENT,
         user_id="bob"),
]  # fmt: skip
