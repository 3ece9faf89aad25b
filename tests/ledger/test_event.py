"""The cost event's JSON line: the hand-written encoder agrees with ``json.dumps``; reading a
line back gives an event or ValueError, whatever the line holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from costcap.ledger import CostEvent
from tests.ledger.conftest import GOOD_FIELDS, NOT_EVENTS, line_with

texts = st.none() | st.text(max_size=20)
counts = st.integers(min_value=0, max_value=10**15)


@given(
    request_id=st.text(min_size=1, max_size=40),
    offset=st.integers(min_value=-720, max_value=720),
    micro=st.sampled_from([0, 1, 123456, 999999]),
    status=st.sampled_from(["ok", "error", "refused", "cut"]),
    model=st.text(max_size=30),
    names=st.tuples(texts, texts, texts, texts, texts, texts, texts, texts),
    tokens=st.tuples(counts, counts, counts, counts, counts, counts),
    latency=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    flags=st.tuples(st.booleans(), st.booleans()),
)
def test_json_line_equals_json_dumps(  # noqa: PLR0917 - hypothesis draws each argument
    request_id: str,
    offset: int,
    micro: int,
    status: str,
    model: str,
    names: tuple[str | None, ...],
    tokens: tuple[int, ...],
    latency: float | None,
    flags: tuple[bool, bool],
) -> None:
    """Every field (unicode, quotes, control characters, None, big ints, odd floats, any time
    zone, a whole second or not) comes out exactly as the reference encoder writes it."""
    ts = datetime(2026, 3, 1, 12, 30, 15, micro, tzinfo=timezone(timedelta(minutes=offset)))
    requested, provider, user, feature, key, endpoint, refused, digest = names
    event = CostEvent(
        request_id=request_id, ts=ts, status=status, model=model,  # type: ignore[arg-type]
        requested_model=requested, provider=provider, user_id=user, feature=feature,
        api_key_id=key, endpoint=endpoint, input_tokens=tokens[0], output_tokens=tokens[1],
        cache_read_tokens=tokens[2], cache_write_tokens=tokens[3], cost_pico=tokens[4],
        saved_pico=tokens[5], latency_ms=latency, cache_hit=flags[0], stream=flags[1],
        refused_by=refused, prompt_hash=digest,
    )  # fmt: skip
    assert event.to_json() == event._json_dumps()


def test_json_line_reads_back() -> None:
    """A line read back is the event written."""
    user = 'a "quoted" \\ user'
    event = CostEvent(request_id="r1", ts=datetime(2026, 3, 1, tzinfo=UTC), status="ok",
                      model="gpt-4o", user_id=user, cost_pico=123, latency_ms=1.5)  # fmt: skip
    assert CostEvent.from_json(event.to_json()) == event
    assert json.loads(event.to_json())["user_id"] == 'a "quoted" \\ user'


@pytest.mark.parametrize("line", NOT_EVENTS.values(), ids=NOT_EVENTS.keys())
def test_a_line_that_is_not_an_event_raises_value_error(line: str) -> None:
    """from_json refuses every line that is not an event with ValueError (never a
    RecursionError, TypeError or an event of the wrong types)."""
    with pytest.raises(ValueError, match=r"\w"):
        CostEvent.from_json(line)


def test_fields_from_a_newer_version_are_ignored() -> None:
    """A line with a field this version does not know (or the derived cost_usd) still reads."""
    event = CostEvent.from_json(line_with(cost_usd="0.1", region="eu", latency_ms=5))
    assert (event.request_id, event.latency_ms, event.cost_pico) == ("r1", 5, 0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
field_values = st.dictionaries(
    st.sampled_from([*GOOD_FIELDS, "cost_pico", "input_tokens", "user_id", "latency_ms", "stream"]),
    json_values | st.sampled_from(list(GOOD_FIELDS.values())),
)


@given(fields=field_values)
def test_from_json_returns_a_storable_event_or_raises_value_error(fields: dict[str, Any]) -> None:
    """Whatever a JSON object holds, from_json either raises ValueError or returns an event
    whose line reads back as the same event."""
    try:
        event = CostEvent.from_json(json.dumps(fields))
    except ValueError:
        return
    assert CostEvent.from_json(event.to_json()) == event


@given(line=st.text())
def test_from_json_of_any_text_returns_an_event_or_raises_value_error(line: str) -> None:
    """Any text at all: an event or ValueError, nothing else."""
    try:
        event = CostEvent.from_json(line)
    except ValueError:
        return
    assert isinstance(event.ts, datetime)
