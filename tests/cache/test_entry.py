"""A cached answer's stored form: read back whole, or refused as corrupt."""

from __future__ import annotations

import pytest

from costcap.cache import CachedAnswer, CorruptEntry

ANSWER = CachedAnswer(
    shape="sse", body=b"event: x\ndata: {}\n\n", model="claude-haiku-4-5", cost_pico=1_234_567,
    provider="anthropic", input_tokens=12, output_tokens=20, stored_at=1.5,
)  # fmt: skip


def test_an_answer_reads_back_as_stored() -> None:
    assert CachedAnswer.decode(ANSWER.encode()) == ANSWER


def test_an_empty_body_reads_back() -> None:
    empty = CachedAnswer(shape="json", body=b"", model="m", cost_pico=0)
    assert CachedAnswer.decode(empty.encode()) == empty


@pytest.mark.parametrize(
    "damage",
    [
        lambda v: v[:-1],  # truncated
        lambda v: v[:10],  # cut in the header
        lambda v: v[:-1] + bytes([v[-1] ^ 1]),  # one bit of the body
        lambda v: v[:30] + bytes([v[30] ^ 1]) + v[31:],  # one bit of the record
        lambda v: b"ccr2" + v[4:],  # another format
        lambda v: b"",
        lambda v: b"not a cache entry at all, just bytes",
    ],
    ids=["truncated", "header", "body bit", "record bit", "format", "empty", "foreign"],
)
def test_a_damaged_value_is_corrupt(damage: object) -> None:
    value = ANSWER.encode()
    with pytest.raises(CorruptEntry):
        CachedAnswer.decode(damage(value))  # type: ignore[operator]


def test_the_content_type_follows_the_shape() -> None:
    assert ANSWER.content_type.startswith("text/event-stream")
    assert CachedAnswer(shape="json", body=b"{}", model="m", cost_pico=0).content_type == (
        "application/json"
    )
