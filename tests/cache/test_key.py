"""The cache key: requests that must share a key, and requests that must not."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from costcap.cache import Uncanonical, canonical_request, deterministic, digest

USER = [{"role": "user", "content": "What is 2 + 2?"}]
BASE: dict[str, Any] = {"model": "gpt-4o-mini", "messages": USER, "temperature": 0}
TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "add",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}},
    },
}


class Answer(BaseModel):
    value: int


class OtherAnswer(BaseModel):
    value: str


def key(body: dict[str, Any], **where: str) -> str:
    place = {"provider": "openai", "endpoint": "chat.completions", "shape": "json",
             "namespace": "feature=faq"} | where  # fmt: skip
    return digest(canonical_request(body), **place)  # type: ignore[arg-type]


SAME: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("key order", {**BASE, "top_p": 1}, {"top_p": 1, "temperature": 0, **BASE}),
    ("nested key order",
     {**BASE, "tools": [TOOL]},
     {**BASE, "tools": [{"function": {"parameters": {"properties": {"a": {"type": "integer"}},
                                                     "type": "object"}, "name": "add"},
                         "type": "function"}]}),
    ("1 and 1.0", {**BASE, "top_p": 1}, {**BASE, "top_p": 1.0}),
    ("0 and 0.0 temperature", BASE, {**BASE, "temperature": 0.0}),
    ("a Decimal", {**BASE, "top_p": Decimal("0.50")}, {**BASE, "top_p": 0.5}),
    ("null is absent", {**BASE, "stop": None}, BASE),
    ("the stream flag", BASE, {**BASE, "stream": True, "stream_options": {"include_usage": True}}),
    ("the end user", BASE, {**BASE, "user": "alice", "safety_identifier": "u-1"}),
    ("metadata", BASE, {**BASE, "metadata": {"trace": "x"}}),
    ("the service tier", BASE, {**BASE, "service_tier": "flex"}),
    ("store", BASE, {**BASE, "store": True}),
    ("prompt-cache routing", BASE, {**BASE, "prompt_cache_key": "k"}),
    ("a tuple and a list", {**BASE, "stop": ("a", "b")}, {**BASE, "stop": ["a", "b"]}),
    ("an SDK's not-given sentinel", {**BASE, "seed": type("NotGiven", (), {})()}, BASE),
    ("a pydantic instance and its JSON",
     {**BASE, "prediction": Answer(value=4)}, {**BASE, "prediction": {"value": 4}}),
]  # fmt: skip

DIFFERENT: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("the prompt", BASE, {**BASE, "messages": [{"role": "user", "content": "What is 2 + 3?"}]}),
    ("the model", BASE, {**BASE, "model": "gpt-4o"}),
    ("the temperature", BASE, {**BASE, "temperature": 0.2}),
    ("the output cap", {**BASE, "max_completion_tokens": 100},
     {**BASE, "max_completion_tokens": 101}),
    ("a tool", BASE, {**BASE, "tools": [TOOL]}),
    ("a tool's schema", {**BASE, "tools": [TOOL]},
     {**BASE, "tools": [{**TOOL, "function": {**TOOL["function"], "parameters": {
         "type": "object", "properties": {"a": {"type": "number"}}}}}]}),
    ("the tool choice", {**BASE, "tools": [TOOL]},
     {**BASE, "tools": [TOOL], "tool_choice": "required"}),
    ("the response format", BASE, {**BASE, "response_format": {"type": "json_object"}}),
    ("a structured-output model", {**BASE, "response_format": Answer},
     {**BASE, "response_format": OtherAnswer}),
    ("the seed", {**BASE, "seed": 1}, {**BASE, "seed": 2}),
    ("stop sequences", BASE, {**BASE, "stop": ["\n"]}),
    ("reasoning effort", BASE, {**BASE, "reasoning_effort": "high"}),
    ("a field this version does not know", BASE, {**BASE, "future_knob": 1}),
    ("0.1 and 0.10000000000000002", {**BASE, "top_p": 0.1},
     {**BASE, "top_p": 0.1 + 2**-56}),
    ("Unicode forms", {**BASE, "messages": [{"role": "user", "content": "caf\u00e9"}]},
     {**BASE, "messages": [{"role": "user", "content": "cafe\u0301"}]}),
    ("message order", {**BASE, "messages": [*USER, {"role": "assistant", "content": "4"}]},
     {**BASE, "messages": [{"role": "assistant", "content": "4"}, *USER]}),
]  # fmt: skip


@pytest.mark.parametrize(("what", "a", "b"), SAME, ids=[case[0] for case in SAME])
def test_requests_that_differ_only_in_form_share_a_key(
    what: str, a: dict[str, Any], b: dict[str, Any]
) -> None:
    assert key(a) == key(b), what


@pytest.mark.parametrize(("what", "a", "b"), DIFFERENT, ids=[case[0] for case in DIFFERENT])
def test_requests_that_can_be_answered_differently_do_not(
    what: str, a: dict[str, Any], b: dict[str, Any]
) -> None:
    assert key(a) != key(b), what


@pytest.mark.parametrize(
    "where",
    [{"namespace": "feature=chat"}, {"provider": "anthropic"}, {"endpoint": "responses"},
     {"shape": "sse"}],
    ids=["namespace", "provider", "endpoint", "shape"],
)  # fmt: skip
def test_where_the_request_goes_is_part_of_the_key(where: dict[str, str]) -> None:
    assert key(BASE) != key(BASE, **where)


def test_the_key_is_the_sha256_of_the_documented_canonical_text() -> None:
    """A key is a function of the request alone, the same in any process: SHA-256 of the
    canonical JSON (sorted keys, no spaces) with the key version, provider, endpoint, shape
    and namespace — written out by hand here."""
    text = (
        '[1,"openai","chat.completions","json","feature=faq",{"messages":[{"content":'
        '"What is 2 + 2?","role":"user"}],"model":"gpt-4o-mini","temperature":0}]'
    )
    assert key(BASE) == hashlib.sha256(text.encode()).hexdigest()


def test_a_value_without_a_json_form_is_refused() -> None:
    with pytest.raises(Uncanonical):
        canonical_request({**BASE, "top_p": float("nan")})
    with pytest.raises(Uncanonical):
        canonical_request({**BASE, "extra": object()})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (BASE, True),
        ({**BASE, "temperature": 0.0}, True),
        ({**BASE, "temperature": 0.7}, False),
        ({"model": "m", "messages": USER}, False),  # the API default is 1
        ({"model": "m", "messages": USER, "seed": 7}, True),
        ({"model": "m", "messages": USER, "seed": 7.5}, False),
        ({"model": "m", "messages": USER, "temperature": False}, False),
    ],
)
def test_deterministic_means_temperature_zero_or_a_fixed_seed(
    body: dict[str, Any], expected: bool
) -> None:
    assert deterministic(body) is expected
