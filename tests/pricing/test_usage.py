"""Reading token usage from SDK objects, dicts and keywords into one ``Usage``."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from anthropic.types import CacheCreation, MessageDeltaUsage
from anthropic.types import Usage as AnthropicUsage
from openai.types import CompletionUsage
from openai.types.completion_usage import PromptTokensDetails
from openai.types.responses import ResponseUsage
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from costcap.errors import UsageError
from costcap.pricing import Usage, usage_from


def test_openai_chat_prompt_tokens_already_include_cached_tokens() -> None:
    """CompletionUsage.prompt_tokens is the total input; cached_tokens is a part of it."""
    usage = CompletionUsage(
        prompt_tokens=10_000,
        completion_tokens=1_000,
        total_tokens=11_000,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=8_000),
    )
    assert usage_from(usage) == Usage(10_000, 1_000, cache_read_tokens=8_000)


def test_openai_chat_without_details_has_no_cache() -> None:
    """A CompletionUsage without prompt_tokens_details has no cached tokens."""
    usage = CompletionUsage(prompt_tokens=812, completion_tokens=230, total_tokens=1042)
    assert usage_from(usage) == Usage(812, 230)


def test_openai_chat_cache_write_tokens_are_read() -> None:
    """prompt_tokens_details.cache_write_tokens becomes cache_write_tokens (part of the input)."""
    usage = CompletionUsage(
        prompt_tokens=5_000,
        completion_tokens=10,
        total_tokens=5_010,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=1_000, cache_write_tokens=3_000),
    )
    assert usage_from(usage) == Usage(5_000, 10, cache_read_tokens=1_000, cache_write_tokens=3_000)


def test_openai_responses_input_tokens_include_cached_tokens() -> None:
    """ResponseUsage.input_tokens is the total input; input_tokens_details.cached_tokens a part."""
    usage = ResponseUsage(
        input_tokens=4_000,
        input_tokens_details=InputTokensDetails(cached_tokens=3_000, cache_write_tokens=0),
        output_tokens=700,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=500),
        total_tokens=4_700,
    )
    assert usage_from(usage) == Usage(4_000, 700, cache_read_tokens=3_000)


def test_anthropic_input_tokens_exclude_the_cache() -> None:
    """Anthropic input_tokens excludes cache reads and writes: the total adds all three."""
    usage = AnthropicUsage(
        input_tokens=100,
        output_tokens=200,
        cache_read_input_tokens=5_000,
        cache_creation_input_tokens=10_000,
    )
    assert usage_from(usage) == Usage(
        15_100, 200, cache_read_tokens=5_000, cache_write_tokens=10_000
    )


def test_anthropic_one_hour_cache_writes_are_kept_apart() -> None:
    """cache_creation.ephemeral_1h_input_tokens becomes cache_write_1h_tokens (billed higher)."""
    usage = AnthropicUsage(
        input_tokens=100,
        output_tokens=200,
        cache_creation_input_tokens=10_000,
        cache_creation=CacheCreation(
            ephemeral_1h_input_tokens=6_000, ephemeral_5m_input_tokens=4_000
        ),
    )
    assert usage_from(usage) == Usage(
        10_100, 200, cache_write_tokens=10_000, cache_write_1h_tokens=6_000
    )


def test_anthropic_usage_without_cache_fields() -> None:
    """An Anthropic Usage with the cache fields left None has no cache tokens."""
    usage = AnthropicUsage(input_tokens=812, output_tokens=230)
    assert usage_from(usage) == Usage(812, 230)


def test_anthropic_message_delta_usage() -> None:
    """MessageDeltaUsage (streaming) is read; an unreported input_tokens counts as 0."""
    assert usage_from(MessageDeltaUsage(output_tokens=42)) == Usage(0, 42)
    delta = MessageDeltaUsage(output_tokens=42, input_tokens=10, cache_read_input_tokens=90)
    assert usage_from(delta) == Usage(100, 42, cache_read_tokens=90)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"input_tokens": 812, "output_tokens": 230}, Usage(812, 230)),
        (
            {
                "prompt_tokens": 100,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 60},
            },
            Usage(100, 5, cache_read_tokens=60),
        ),
        (
            {"input_tokens": 1, "output_tokens": 2, "cache_read_input_tokens": 3},
            Usage(4, 2, cache_read_tokens=3),
        ),
        (
            {"input_tokens": 9, "output_tokens": 2, "input_tokens_details": {"cached_tokens": 3}},
            Usage(9, 2, cache_read_tokens=3),
        ),
        (
            {
                "input_tokens": 9,
                "output_tokens": 2,
                "cache_read_tokens": 3,
                "cache_write_tokens": 4,
            },
            Usage(9, 2, cache_read_tokens=3, cache_write_tokens=4),
        ),
    ],
    ids=["plain", "openai-chat", "anthropic", "openai-responses", "genai-prices-style"],
)
def test_dicts_of_each_shape(raw: dict[str, Any], expected: Usage) -> None:
    """Dicts in the wire shapes of each API (and the plain shape) normalize like the objects."""
    assert usage_from(raw) == expected


def test_keyword_counts() -> None:
    """usage_from(input_tokens=…, output_tokens=…) takes plain numbers."""
    assert usage_from(input_tokens=812, output_tokens=230) == Usage(812, 230)


def test_duck_typed_objects_are_read_per_instance() -> None:
    """Objects without declared fields are inspected one by one, not cached per class."""
    assert usage_from(SimpleNamespace(prompt_tokens=5, completion_tokens=1)) == Usage(5, 1)
    assert usage_from(SimpleNamespace(input_tokens=5, output_tokens=1)) == Usage(5, 1)


def test_usage_is_returned_as_is() -> None:
    """A Usage passes through unchanged."""
    usage = Usage(1, 2)
    assert usage_from(usage) is usage


@pytest.mark.parametrize(
    "bad",
    [
        None,
        42,
        "812 tokens",
        {},
        {"tokens": 5},
        {"input_tokens": 5},
        {"prompt_tokens": 5},
        {"input_tokens": -1, "output_tokens": 2},
        {"input_tokens": 1.0, "output_tokens": 2},
        {"input_tokens": True, "output_tokens": 2},
        {"input_tokens": "5", "output_tokens": 2},
        {"input_tokens": 5, "output_tokens": 2, "cache_read_tokens": 6},
        {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 9}},
        SimpleNamespace(tokens=5),
    ],
)
def test_unreadable_usage_raises(bad: object) -> None:
    """Anything that is not a readable, consistent usage raises UsageError (never $0)."""
    with pytest.raises(UsageError):
        usage_from(bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_tokens": -1, "output_tokens": 0},
        {"input_tokens": 0, "output_tokens": -5},
        {"input_tokens": 1.5, "output_tokens": 0},
        {"input_tokens": 10, "output_tokens": 0, "cache_read_tokens": 6, "cache_write_tokens": 5},
        {
            "input_tokens": 10,
            "output_tokens": 0,
            "cache_write_tokens": 1,
            "cache_write_1h_tokens": 2,
        },
    ],
)
def test_usage_rejects_negative_non_int_and_inconsistent_counts(kwargs: dict[str, Any]) -> None:
    """Usage itself validates: ints ≥ 0, cache parts within the total input."""
    with pytest.raises(UsageError):
        Usage(**kwargs)


def test_usage_from_object_and_keywords_together_is_an_error() -> None:
    """Passing both an object and keyword counts is ambiguous and refused."""
    with pytest.raises(UsageError):
        usage_from({"input_tokens": 1, "output_tokens": 1}, input_tokens=2)
