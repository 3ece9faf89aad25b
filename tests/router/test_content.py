"""request_content: what the classifier reads of each request shape."""

from __future__ import annotations

from costcap.router import Content, request_content


def test_chat_the_prompt_is_the_last_user_turn() -> None:
    content = request_content({"messages": [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "second"},
    ]})  # fmt: skip
    assert (content.prompt, content.turns) == ("second", 3)


def test_chat_system_and_developer_messages_are_the_system_text() -> None:
    content = request_content({"messages": [
        {"role": "system", "content": "Be terse."},
        {"role": "developer", "content": "Use JSON."},
        {"role": "user", "content": "hi"},
    ]})  # fmt: skip
    assert (content.system, content.turns) == ("Be terse.\nUse JSON.", 1)


def test_chars_count_every_turn_and_the_system() -> None:
    content = request_content({"system": "abc", "messages": [
        {"role": "user", "content": "12345"},
        {"role": "assistant", "content": "1234567"},
        {"role": "user", "content": "12"},
    ]})  # fmt: skip
    assert content.chars == 3 + 5 + 7 + 2


def test_anthropic_text_blocks_and_system_blocks_are_read() -> None:
    content = request_content({
        "system": [{"type": "text", "text": "Be kind."}],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "look at"}, {"type": "image", "source": {}},
            {"type": "text", "text": "this"},
        ]}],
    })  # fmt: skip
    assert (content.system, content.prompt) == ("Be kind.", "look at\nthis")


def test_an_anthropic_tool_result_s_text_counts() -> None:
    content = request_content({"messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "42"}]},
    ]}]})  # fmt: skip
    assert content.prompt == "42"


def test_responses_input_string_and_instructions() -> None:
    content = request_content({"input": "hello", "instructions": "Answer in French."})
    assert (content.prompt, content.system, content.turns) == ("hello", "Answer in French.", 1)


def test_responses_input_items() -> None:
    content = request_content({"input": [
        {"role": "user", "content": [{"type": "input_text", "text": "q1"}]},
        {"type": "function_call_output", "call_id": "c", "output": "result!"},
        {"role": "user", "content": "q2"},
    ]})  # fmt: skip
    assert (content.prompt, content.turns, content.chars) == ("q2", 3, 2 + 7 + 2)


def test_tools_are_counted() -> None:
    content = request_content({"messages": [], "tools": [{"name": "a"}, {"name": "b"}]})
    assert content.tools == 2


def test_openai_response_format_json_schema_is_structured() -> None:
    request = {"messages": [], "response_format": {"type": "json_schema", "json_schema": {}}}
    assert request_content(request).structured


def test_responses_text_format_json_is_structured() -> None:
    assert request_content({"input": "x", "text": {"format": {"type": "json_object"}}}).structured


def test_plain_text_format_is_not_structured() -> None:
    assert not request_content({"input": "x", "response_format": {"type": "text"}}).structured


def test_max_tokens_from_any_of_its_names() -> None:
    got = [request_content({k: 77}).max_tokens
           for k in ("max_tokens", "max_completion_tokens", "max_output_tokens")]  # fmt: skip
    assert got == [77, 77, 77]


def test_content_it_cannot_read_adds_no_text_and_raises_nothing() -> None:
    content = request_content({"messages": [None, {"role": "user", "content": 3}], "tools": "x"})
    assert (content.prompt, content.tools) == ("", 0)


def test_a_content_made_by_hand_counts_at_least_its_prompt_and_system() -> None:
    assert Content(prompt="abcd", system="ef").chars == 6
