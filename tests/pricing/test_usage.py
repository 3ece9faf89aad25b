"""Reading token usage from SDK objects, dicts and keywords into one ``Usage``."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from anthropic.types import CacheCreation, MessageDeltaUsage
from anthropic.types import Usage as AnthropicUsage
from openai.types import CompletionUsage
from openai.types.completion_usage import CompletionTokensDetails, PromptTokensDetails
from openai.types.realtime import RealtimeResponseUsage
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


# -- audio and image tokens ------------------------------------------------------------------------


def test_openai_chat_audio_tokens_are_read() -> None:
    """prompt_tokens_details.audio_tokens and completion_tokens_details.audio_tokens become the
    audio parts of the input and output."""
    usage = CompletionUsage(
        prompt_tokens=10_000,
        completion_tokens=2_000,
        total_tokens=12_000,
        prompt_tokens_details=PromptTokensDetails(audio_tokens=8_000, cached_tokens=0),
        completion_tokens_details=CompletionTokensDetails(audio_tokens=1_500),
    )
    assert usage_from(usage) == Usage(
        10_000, 2_000, input_audio_tokens=8_000, output_audio_tokens=1_500
    )


def test_openai_chat_cached_audio_is_the_fewest_the_totals_allow() -> None:
    """Chat does not say which cached tokens are audio: 4,000 cached and 8,000 audio of 10,000
    leave 2,000 text tokens, so at least 4,000 - 2,000 = 2,000 cached tokens are audio."""
    usage = CompletionUsage(
        prompt_tokens=10_000,
        completion_tokens=10,
        total_tokens=10_010,
        prompt_tokens_details=PromptTokensDetails(audio_tokens=8_000, cached_tokens=4_000),
    )
    expected = Usage(10_000, 10, cache_read_tokens=4_000, input_audio_tokens=8_000,
                     cache_audio_read_tokens=2_000)  # fmt: skip
    assert usage_from(usage) == expected


def test_openai_chat_image_tokens_are_read() -> None:
    """prompt_tokens_details.image_tokens becomes input_image_tokens."""
    usage = CompletionUsage(
        prompt_tokens=3_000,
        completion_tokens=100,
        total_tokens=3_100,
        prompt_tokens_details=PromptTokensDetails(image_tokens=2_500),
    )
    assert usage_from(usage) == Usage(3_000, 100, input_image_tokens=2_500)


def test_openai_responses_and_images_api_details_beyond_the_sdk_model_are_read() -> None:
    """The Images API (gpt-image-1) reports input_tokens_details.image_tokens, a field the SDK's
    InputTokensDetails does not declare: it is read from the model's extras."""
    usage = ResponseUsage.model_validate(
        {
            "input_tokens": 6_000,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0,
                                     "image_tokens": 5_000, "text_tokens": 1_000},
            "output_tokens": 4_160,
            "output_tokens_details": {"reasoning_tokens": 0, "image_tokens": 4_160},
            "total_tokens": 10_160,
        }
    )  # fmt: skip
    assert usage_from(usage) == Usage(
        6_000, 4_160, input_image_tokens=5_000, output_image_tokens=4_160
    )


REALTIME = {
    "input_tokens": 10_000,
    "output_tokens": 1_000,
    "total_tokens": 11_000,
    "input_token_details": {
        "cached_tokens": 4_000,
        "text_tokens": 2_000,
        "audio_tokens": 8_000,
        "image_tokens": 0,
        "cached_tokens_details": {"text_tokens": 1_000, "audio_tokens": 3_000, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 1_000, "audio_tokens": 0},
}


@pytest.mark.parametrize("raw", [REALTIME, RealtimeResponseUsage.model_validate(REALTIME)])
def test_openai_realtime_usage_with_cached_audio(raw: object) -> None:
    """Realtime's input_token_details (and its cached_tokens_details) give the cached and audio
    parts, as an SDK object or as the JSON of a response.done event."""
    assert usage_from(raw) == Usage(
        10_000, 1_000, cache_read_tokens=4_000, input_audio_tokens=8_000,
        cache_audio_read_tokens=3_000,
    )  # fmt: skip


def test_plain_counts_take_audio_and_image_keywords() -> None:
    """The genai-prices names work as keywords and in a plain dict."""
    kwargs = {"input_tokens": 100, "output_tokens": 10, "input_image_tokens": 40,
              "output_audio_tokens": 5}  # fmt: skip
    expected = Usage(100, 10, input_image_tokens=40, output_audio_tokens=5)
    assert usage_from(**kwargs) == usage_from(kwargs) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_audio_tokens": 101},  # more audio than input
        {"input_audio_tokens": 60, "input_image_tokens": 50},  # audio + images > input
        {"input_audio_tokens": 10, "cache_audio_read_tokens": 11},  # cached audio > audio
        {"cache_read_tokens": 5, "input_audio_tokens": 10, "cache_audio_read_tokens": 6},
        {"output_audio_tokens": 11},  # more audio than output
        {"input_image_tokens": -1},
        {"output_image_tokens": 2.0},
    ],
)
def test_inconsistent_audio_and_image_counts_are_refused(kwargs: dict[str, Any]) -> None:
    """Audio and image counts are parts of their totals; anything else is a UsageError."""
    with pytest.raises(UsageError):
        Usage(100, 10, **kwargs)


def test_a_usage_with_audio_is_not_equal_to_one_without() -> None:
    """Audio counts take part in equality and in the repr."""
    audio = Usage(100, 10, input_audio_tokens=50)
    assert audio != Usage(100, 10)
    assert "input_audio_tokens=50" in repr(audio)


def test_bounded_cuts_every_part_with_its_whole() -> None:
    """A usage cut to 1,000 input and 100 output tokens keeps its audio within those totals."""
    usage = Usage(5_000, 500, cache_read_tokens=3_000, input_audio_tokens=4_000,
                  cache_audio_read_tokens=2_500, output_audio_tokens=400)  # fmt: skip
    assert usage.bounded(1_000, 100) == Usage(
        1_000, 100, cache_read_tokens=1_000, input_audio_tokens=1_000,
        cache_audio_read_tokens=1_000, output_audio_tokens=100,
    )  # fmt: skip
