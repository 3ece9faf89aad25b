"""The in-flight record's spool line: the hand-written encoder agrees with ``json.dumps``;
reading a line back gives the record or ValueError; renewals keep the latest lease end."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from costcap.ledger import InFlight
from costcap.ledger._inflight import MARKER, latest, micros
from tests.ledger.conftest import T0_US as AT
from tests.ledger.conftest import in_flight as flight

texts = st.none() | st.text(max_size=20)
counts = st.integers(min_value=0, max_value=10**15)


@given(
    request_id=st.text(min_size=1, max_size=40),
    model=st.text(max_size=30),
    names=st.tuples(texts, texts, texts, texts, texts, texts),
    numbers=st.tuples(counts, counts, counts, counts, counts),
    tier=texts,
)
def test_json_line_equals_json_dumps(
    request_id: str,
    model: str,
    names: tuple[str | None, ...],
    numbers: tuple[int, ...],
    tier: str | None,
) -> None:
    """Every field (unicode, quotes, control characters, None, big ints) comes out exactly as
    the reference encoder writes it, after the marker."""
    record = InFlight._make([request_id, *numbers[:2], model, *names, *numbers[2:], tier])
    reference = json.dumps(
        {"inflight": 1, **record._asdict()}, separators=(",", ":"), ensure_ascii=True
    )
    assert record.to_json() == reference
    assert record.to_json().encode().startswith(MARKER)


def test_json_line_reads_back() -> None:
    record = flight(
        requested_model="gpt-4o-mini-2024-07-18",
        endpoint='/v1/"chat"',
        feature="é",
        service_tier="priority",
    )
    assert InFlight.from_json(record.to_json()) == record


def test_a_line_without_a_tier_reads_as_none() -> None:
    """``service_tier`` is optional in a line: without it, the record has none."""
    line = flight(service_tier="flex").to_json().replace(',"service_tier":"flex"', "")
    assert '"service_tier"' not in line
    assert InFlight.from_json(line) == flight()


def test_times_are_microseconds_since_the_epoch() -> None:
    """``at`` and ``lease_until`` are the instants of the two counts, exactly."""
    record = flight(at_us=AT + 123_456, lease_until_us=AT + 600_000_001)
    assert record.at == datetime(2026, 3, 1, 12, 0, 0, 123_456, tzinfo=UTC)
    assert record.lease_until == datetime(2026, 3, 1, 12, 10, 0, 1, tzinfo=UTC)
    assert micros(record.at) == AT + 123_456


NOT_RECORDS = {
    "not JSON": '{"inflight":1,',
    "not an object": "[1, 2]",
    "no request_id": json.dumps({"inflight": 1, "at_us": 1, "lease_until_us": 2, "model": "m"}),
    "no lease end": json.dumps({"inflight": 1, "request_id": "r", "at_us": 1, "model": "m"}),
    "a float time": flight().to_json().replace(f'"at_us":{AT}', f'"at_us":{AT}.5'),
    "a number for text": flight().to_json().replace('"user_id":"alice"', '"user_id":5'),
    "a count for text": flight().to_json().replace('"model":"gpt-4o-mini"', '"model":true'),
    "text for a count": flight().to_json().replace('"max_tokens":100', '"max_tokens":"100"'),
    "a number for a tier": flight().to_json().replace('"service_tier":null', '"service_tier":2'),
    "beyond 64 bits": flight().to_json().replace('"max_tokens":100', f'"max_tokens":{2**64}'),
    "a lone surrogate": flight().to_json().replace('"alice"', '"\\ud800"'),
    "a time out of range": flight().to_json().replace(f'"at_us":{AT}', f'"at_us":{2**62}'),
    "nested too deeply": '{"inflight":' + "[" * 100_000,
}


@pytest.mark.parametrize("line", NOT_RECORDS.values(), ids=NOT_RECORDS.keys())
def test_a_line_that_is_not_a_record_is_a_value_error(line: str) -> None:
    with pytest.raises(ValueError, match="in-flight record"):
        InFlight.from_json(line)


def test_latest_keeps_one_record_per_call_with_the_latest_lease_end() -> None:
    """A renewal moves the lease end forward, never back; the first record's fields stay."""
    first = flight("r1", lease_until_us=AT + 10)
    renewed = flight("r1", at_us=AT + 5, lease_until_us=AT + 20, user_id="someone else")
    stale = flight("r1", lease_until_us=AT + 15)
    other = flight("r2")
    assert latest([first, renewed, stale, other]) == [
        first._replace(lease_until_us=AT + 20),
        other,
    ]
