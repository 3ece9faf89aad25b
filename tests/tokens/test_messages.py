"""Message framing: the Cookbook formula for OpenAI, and every supported payload shape."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costcap.tokens import UncountableContent, count_messages, count_responses_input
from costcap.tokens._reference import reference_encoding

# Each of "user", "system", "assistant", "Hello", "bob" is 1 token; "Hi there" is 2 and
# "Be brief." is 3, in both o200k_base and cl100k_base (checked in test_word_counts).
USER_HELLO = {"role": "user", "content": "Hello"}


def test_word_counts_used_below() -> None:
    """The hand computations below rest on these single-text counts."""
    from costcap.tokens import count_text

    for model in ("gpt-4o", "gpt-4"):
        words = ["user", "system", "assistant", "Hello", "bob", "Hi there", "Be brief."]
        assert [count_text(w, model) for w in words] == [1, 1, 1, 1, 1, 2, 3]


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4", "gpt-3.5-turbo"])
def test_one_message_is_content_plus_seven(model: str) -> None:
    """One user message "Hello": 3 (message) + 1 (role) + 1 (content) + 3 (priming) = 8."""
    result = count_messages([USER_HELLO], model)
    assert result.tokens == 8
    assert result.exact
    assert result.upper_bound == 8


def test_name_adds_its_tokens_plus_one() -> None:
    """A name costs its own tokens + 1: 3 + 1 + 1 + (1 + 1) + 3 = 10."""
    result = count_messages([{**USER_HELLO, "name": "bob"}], "gpt-4o")
    assert result.tokens == 10


def test_conversation_by_hand() -> None:
    """system "Be brief." + user "Hello" + assistant "Hi there" = (3+1+3)+(3+1+1)+(3+1+2)+3 = 21."""
    messages = [
        {"role": "system", "content": "Be brief."},
        USER_HELLO,
        {"role": "assistant", "content": "Hi there"},
    ]
    assert count_messages(messages, "gpt-4o").tokens == 21


def test_system_keyword_is_a_system_message() -> None:
    """``system=`` counts like a leading system message."""
    as_keyword = count_messages([USER_HELLO], "gpt-4o", system="Be brief.")
    inline = count_messages([{"role": "system", "content": "Be brief."}, USER_HELLO], "gpt-4o")
    assert as_keyword == inline


def test_cookbook_example_matches_api_figures() -> None:
    """The Cookbook's example conversation: 129 tokens on gpt-4 and 124 on gpt-4o, the
    prompt_tokens the OpenAI API reported for it in the Cookbook."""
    messages = [
        {
            "role": "system",
            "content": "You are a helpful, pattern-following assistant that translates "
            "corporate jargon into plain English.",
        },
        {
            "role": "system",
            "name": "example_user",
            "content": "New synergies will help drive top-line growth.",
        },
        {
            "role": "system",
            "name": "example_assistant",
            "content": "Things working well together will increase revenue.",
        },
        {
            "role": "system",
            "name": "example_user",
            "content": "Let's circle back when we have more bandwidth to touch base on "
            "opportunities for increased leverage.",
        },
        {
            "role": "system",
            "name": "example_assistant",
            "content": "Let's talk later when we're less busy about how to do better.",
        },
        {
            "role": "user",
            "content": "This late pivot means we don't have time to boil the ocean for the "
            "client deliverable.",
        },
    ]
    assert count_messages(messages, "gpt-4-0613").tokens == 129
    assert count_messages(messages, "gpt-4o").tokens == 124


def test_text_parts_count_like_a_string() -> None:
    """Content as a list of text parts counts the same as the joined-by-part strings."""
    parts = {"role": "user", "content": [{"type": "text", "text": "Hello"}]}
    assert count_messages([parts], "gpt-4o") == count_messages([USER_HELLO], "gpt-4o")


def test_several_text_parts_count_part_by_part_and_not_exact() -> None:
    """Two text parts count each part on its own (as OpenAI's public harmony renderer does)
    but the hosted models' join is unpublished, so the count is not exact."""
    texts = ["Budgets are promises that software", " makes on behalf of people."]
    o200k = reference_encoding("o200k_base")
    message = {"role": "user", "content": [{"type": "text", "text": text} for text in texts]}
    result = count_messages([message], "gpt-4o")
    assert not result.exact
    # 3 (message) + 1 ("user") + each part + 3 (priming)
    assert result.tokens == 3 + 1 + sum(len(o200k.encode_ordinary(t)) for t in texts) + 3


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.text(max_size=40), min_size=2, max_size=4),
    separator=st.sampled_from(["", " ", "\n", "\n\n"]),
    model=st.sampled_from(["gpt-4o", "gpt-4"]),
)
def test_several_text_parts_bound_covers_any_join(
    parts: list[str], separator: str, model: str
) -> None:
    """Whether the parts are joined with nothing, a space, a newline or a blank line and
    tokenized as one text, the Cookbook count of that message stays under the bound."""
    encoding = reference_encoding("o200k_base" if model == "gpt-4o" else "cl100k_base")
    content = [{"type": "text", "text": part} for part in parts]
    bound = count_messages([{"role": "user", "content": content}], model).upper_bound
    joined = len(encoding.encode_ordinary(separator.join(parts)))
    assert 3 + 1 + joined + 3 <= bound


def test_tool_calls_are_counted_and_not_exact() -> None:
    """Tool calls add their name and arguments and make the count approximate."""
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    result = count_messages([USER_HELLO, call], "gpt-4o")
    # 8 (user) + 3 + 1 (assistant) + call_1 3 + get_weather 2 + arguments 5
    assert result.tokens == 8 + 4 + 3 + 2 + 5
    assert not result.exact
    assert result.upper_bound > result.tokens


def test_tool_message_is_counted() -> None:
    """A tool result message counts its content and its tool_call_id."""
    tool = {"role": "tool", "tool_call_id": "call_1", "content": "18C"}
    result = count_messages([tool], "gpt-4o")
    assert result.tokens == 3 + 1 + 2 + 3 + 3  # framing, role, content, id, priming
    assert not result.exact


def test_tools_add_json_and_overhead() -> None:
    """Tool definitions add their compact JSON's tokens plus a fixed overhead."""
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    without = count_messages([USER_HELLO], "gpt-4o")
    with_tools = count_messages([USER_HELLO], "gpt-4o", tools=tools)
    assert with_tools.tokens > without.tokens + 19
    assert not with_tools.exact


def test_image_counts_documented_ceiling() -> None:
    """An image part counts the documented per-model ceiling, never 0."""
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    message = {"role": "user", "content": [{"type": "text", "text": "Hello"}, image]}
    plain = count_messages([USER_HELLO], "gpt-4o").tokens
    assert count_messages([message], "gpt-4o").tokens == plain + 6_000
    assert count_messages([message], "gpt-4o-mini").tokens == plain + 2_833 + 5_667 * 8
    assert count_messages([message], "gpt-4o", image_tokens=765).tokens == plain + 765
    assert not count_messages([message], "gpt-4o").exact


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1"}},
        {"type": "video"},
        {"type": "document", "source": {"type": "base64", "data": "JVBER"}},
    ],
)
def test_uncountable_parts_raise(part: dict[str, Any]) -> None:
    """Audio, files, PDFs and unknown parts raise UncountableContent, never count as 0."""
    with pytest.raises(UncountableContent):
        count_messages([{"role": "user", "content": [part]}], "gpt-4o")


def test_anthropic_blocks_are_counted() -> None:
    """Anthropic text, tool_use and tool_result blocks all add to the count."""
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "tu_1", "name": "weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "tu_1", "content": "18C and sunny"},
            ],
        },
    ]
    system = [{"type": "text", "text": "You are terse."}]
    tools = [{"name": "weather", "input_schema": {"type": "object"}}]
    base = count_messages(messages[:1], "claude-sonnet-4-5")
    full = count_messages(messages, "claude-sonnet-4-5", system=system, tools=tools)
    assert full.method == "estimate"
    assert not full.exact
    assert full.tokens > base.tokens + 346  # tools add the hidden tool-use system prompt
    assert full.upper_bound >= full.tokens


def test_anthropic_image_counts_ceiling() -> None:
    """An Anthropic image block adds the documented Claude ceiling (2,000) to estimate and bound."""
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "x"}}
    text = {"role": "user", "content": [{"type": "text", "text": "Hello"}]}
    both = {"role": "user", "content": [{"type": "text", "text": "Hello"}, image]}
    plain = count_messages([text], "claude-opus-4-1")
    with_image = count_messages([both], "claude-opus-4-1")
    assert with_image.tokens - plain.tokens == 2_000
    assert with_image.upper_bound - plain.upper_bound == 2_000


def test_responses_string_input_counts_like_a_user_message() -> None:
    """Responses ``input="Hello"`` counts as one user message, marked not exact."""
    result = count_responses_input("Hello", "gpt-4o")
    assert result.tokens == count_messages([USER_HELLO], "gpt-4o").tokens
    assert not result.exact
    assert result.upper_bound > result.tokens


def test_responses_items_are_counted() -> None:
    """Responses message, function_call and function_call_output items all count."""
    items: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "input_text", "text": "Hello"}]},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "18C"},
    ]
    result = count_responses_input(items, "gpt-4o", instructions="Be brief.")
    only_user = count_responses_input(items[:1], "gpt-4o", instructions="Be brief.")
    assert result.tokens > only_user.tokens + 6
    with pytest.raises(UncountableContent):
        count_responses_input([{"type": "item_reference", "id": "x"}], "gpt-4o")


def test_bad_shapes_raise() -> None:
    """A bare string or mapping in place of a message list is refused, not miscounted."""
    with pytest.raises(UncountableContent):
        count_messages("Hello", "gpt-4o")  # type: ignore[arg-type]
    with pytest.raises(UncountableContent):
        count_messages([USER_HELLO], "gpt-4o", tools="get_weather")  # type: ignore[arg-type]


@given(
    turns=st.lists(
        st.tuples(st.sampled_from(["user", "assistant", "system", "developer"]), st.text()),
        max_size=6,
    ),
    model=st.sampled_from(["gpt-4o-mini", "gpt-4"]),
)
def test_plain_chats_count_as_the_general_walk_does(
    turns: list[tuple[str, str]], model: str
) -> None:
    """The one-pass count of role/content chats equals the tally's, bound and exactness too."""
    from costcap.tokens._count import _result
    from costcap.tokens._messages import tally_chat

    messages = [{"role": role, "content": text} for role, text in turns]
    assert count_messages(messages, model) == _result(tally_chat(messages), model, None, "estimate")
