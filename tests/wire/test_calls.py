"""Reading a guarded request's body: what is admitted, what is sent, who pays."""

from __future__ import annotations

import json
from typing import Any

import pytest

import costcap
from costcap.integrations._attribution import Attribution
from costcap.wire import MalformedRequest, read_call
from tests.wire.conftest import CLAUDE, GPT, HELLO, ticket_for

NOBODY = Attribution()


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def sent(raw: bytes, api: Any = "chat", max_tokens: int = 64, **headers: str) -> dict[str, Any]:
    """The body sent for ``raw`` once admitted for ``max_tokens``."""
    call = read_call(api, raw, headers, NOBODY)
    out: dict[str, Any] = json.loads(call.bound(ticket_for(GPT, max_tokens)) or raw)
    return out


def test_chat_admits_its_model_messages_tools_and_cap() -> None:
    """The admission carries what the body says; ``max_completion_tokens`` wins."""
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    raw = body(model=GPT, messages=HELLO, tools=tools, max_tokens=9, max_completion_tokens=7)
    call = read_call("chat", raw, {}, NOBODY)
    assert call.admission["model"] == GPT
    assert call.admission["messages"] == HELLO
    assert call.admission["tools"] == tools
    assert call.admission["max_tokens"] == 7
    assert call.stream is False


def test_the_cap_goes_in_the_fields_the_caller_used() -> None:
    """``max_tokens`` alone stays ``max_tokens``; no cap injects ``max_completion_tokens``;
    both are both set."""
    assert sent(body(model=GPT, messages=HELLO, max_tokens=500)) == {
        "model": GPT, "messages": HELLO, "max_tokens": 64,
    }  # fmt: skip
    assert sent(body(model=GPT, messages=HELLO))["max_completion_tokens"] == 64
    both = sent(body(model=GPT, messages=HELLO, max_tokens=5, max_completion_tokens=5))
    assert (both["max_tokens"], both["max_completion_tokens"]) == (64, 64)


def test_n_choices_share_the_admitted_cap() -> None:
    """With ``n=4`` the reservation covers 4 x the cap; each choice is sent a quarter."""
    call = read_call("chat", body(model=GPT, messages=HELLO, n=4, max_tokens=10), {}, NOBODY)
    assert call.admission["max_tokens"] == 40
    assert json.loads(call.bound(ticket_for(GPT, 20)) or b"")["max_tokens"] == 5


def test_a_body_that_already_says_what_was_admitted_is_sent_as_it_is() -> None:
    """The caller's cap admitted unchanged (and its own ``include_usage``): nothing to rewrite."""
    raw = body(model=GPT, messages=HELLO, max_tokens=64, stream=True,
               stream_options={"include_usage": True})  # fmt: skip
    call = read_call("chat", raw, {}, NOBODY)
    assert call.bound(ticket_for(GPT, 64)) is None
    assert not call.usage_injected


def test_a_chat_stream_asks_for_usage_and_remembers_who_asked() -> None:
    """``include_usage`` is added (other stream options kept) and marked as costcap's."""
    options = {"include_obfuscation": False}
    raw = body(model=GPT, messages=HELLO, stream=True, stream_options=options)
    call = read_call("chat", raw, {}, NOBODY)
    out = json.loads(call.bound(ticket_for(GPT)) or b"")
    assert out["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert call.usage_injected
    own = read_call("chat", body(model=GPT, messages=HELLO, stream=True,
                                 stream_options={"include_usage": True}), {}, NOBODY)  # fmt: skip
    own.bound(ticket_for(GPT))
    assert not own.usage_injected


def test_responses_admit_input_instructions_and_max_output_tokens() -> None:
    raw = body(model=GPT, input="Hi", instructions="Be brief.", max_output_tokens=12)
    call = read_call("responses", raw, {}, NOBODY)
    assert (call.admission["input"], call.admission["instructions"]) == ("Hi", "Be brief.")
    assert call.admission["max_tokens"] == 12
    assert sent(raw, "responses")["max_output_tokens"] == 64


def test_a_background_response_is_refused() -> None:
    """Its usage is known only later: it cannot be settled."""
    with pytest.raises(MalformedRequest, match="background"):
        read_call("responses", body(model=GPT, input="Hi", background=True), {}, NOBODY)


def test_messages_admit_system_tools_cap_and_fast_mode() -> None:
    raw = body(model=CLAUDE, messages=HELLO, system="Be brief.", max_tokens=30, speed="fast")
    call = read_call("messages", raw, {}, NOBODY)
    assert call.admission["system"] == "Be brief."
    assert call.admission["max_tokens"] == 30
    assert call.admission["service_tier"] == "fast"
    assert sent(raw, "messages")["max_tokens"] == 64


def test_service_tier_auto_is_the_clients_tier() -> None:
    """``auto`` (or none) is what the client says the project serves at; a named one stays."""
    priority = Attribution(service_tier="priority")
    auto = read_call("chat", body(model=GPT, messages=HELLO, service_tier="auto"), {}, priority)
    flex = read_call("chat", body(model=GPT, messages=HELLO, service_tier="flex"), {}, priority)
    assert (auto.admission["service_tier"], flex.admission["service_tier"]) == ("priority", "flex")


def test_who_pays_headers_then_block_then_client_then_body() -> None:
    """Headers win over a ``costcap.attribute`` block, which wins over the client's default;
    the body's own user comes last."""
    client = Attribution(user_id="client-user", feature="client-feature")
    raw = body(model=GPT, messages=HELLO, user="body-user")
    with costcap.attribute(feature="block-feature"):
        by_header = read_call("chat", raw, {"x-costcap-user": "header-user"}, client)
        by_block = read_call("chat", raw, {}, client)
    by_body = read_call("chat", raw, {}, Attribution())
    assert (by_header.admission["user_id"], by_header.admission["feature"]) == (
        "header-user", "block-feature",
    )  # fmt: skip
    assert (by_block.admission["user_id"], by_block.admission["feature"]) == (
        "client-user", "block-feature",
    )  # fmt: skip
    assert by_body.admission["user_id"] == "body-user"


def test_a_lone_surrogate_in_the_body_is_sent_escaped() -> None:
    """JSON may carry ``\\ud800``; the body sent keeps it as an escape (valid UTF-8)."""
    raw = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a\\ud800"}]}'
    out = sent(raw)
    assert out["messages"][0]["content"] == "a\ud800"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"not json", "is not JSON"),
        (b"[1, 2]", "JSON list, not an object"),
        (b'{"messages": []}', "names no model"),
        (b'{"model": ""}', "names no model"),
        (b"\xff\xfe", "is not JSON"),
    ],
)
def test_a_body_costcap_cannot_read_is_refused(raw: bytes, says: str) -> None:
    """Never sent unguarded: a clear error naming what is wrong."""
    with pytest.raises(MalformedRequest, match=says):
        read_call("chat", raw, {}, NOBODY)
