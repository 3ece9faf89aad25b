"""The cascade's validators: empty, refusal, truncated, json_schema and user callables."""

from __future__ import annotations

import logging

import pytest

from costcap.router import Cascade, check_answer, is_empty, is_refusal, is_truncated


def test_empty_text_is_rejected() -> None:
    assert not is_empty("  \n", "stop")


def test_a_tool_call_without_text_is_not_empty() -> None:
    assert is_empty("", "tool_calls")


def test_text_is_not_empty() -> None:
    assert is_empty("Paris.", "stop")


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "I’m sorry, but I can’t assist with this request.",
        "I cannot help with creating malware.",
        "As an AI language model, I don't have opinions.",
        "Sorry, I can't do that.",
        "I must decline this request.",
        "Unfortunately, I am unable to provide that.",
    ],
)
def test_common_refusals_are_rejected(text: str) -> None:
    assert not is_refusal(text, "stop")


def test_a_refusal_finish_reason_is_rejected() -> None:
    assert not is_refusal("", "refusal")


def test_an_answer_that_mentions_a_refusal_later_is_accepted() -> None:
    text = "Here is the letter. " + "x" * 300 + " I'm sorry, but I can't attend."
    assert is_refusal(text, "stop")


def test_an_apology_that_answers_is_accepted() -> None:
    assert is_refusal("Sorry for the wait! The capital of France is Paris.", "stop")


@pytest.mark.parametrize("reason", ["length", "max_tokens", "max_output_tokens", "incomplete"])
def test_an_answer_cut_at_its_limit_is_rejected(reason: str) -> None:
    assert not is_truncated("partial", reason)


@pytest.mark.parametrize("reason", ["stop", "end_turn", None])
def test_an_answer_that_ended_is_not_truncated(reason: str | None) -> None:
    assert is_truncated("whole", reason)


SCHEMA = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}}


def test_json_matching_the_schema_is_accepted() -> None:
    cascade = Cascade(enabled=True, validators=(), json_schema=SCHEMA)
    assert check_answer(cascade, '{"answer": "42"}', "stop").accepted


def test_json_in_a_code_fence_is_read() -> None:
    cascade = Cascade(enabled=True, validators=(), json_schema=SCHEMA)
    assert check_answer(cascade, '```json\n{"answer": "42"}\n```', "stop").accepted


def test_json_missing_a_required_key_is_rejected_saying_why() -> None:
    verdict = check_answer(Cascade(validators=(), json_schema=SCHEMA), '{"x": 1}', "stop")
    assert (verdict.accepted, verdict.validator) == (False, "json_schema")
    assert "'answer' is a required property" in verdict.detail


def test_text_that_is_not_json_is_rejected() -> None:
    verdict = check_answer(Cascade(validators=(), json_schema=SCHEMA), "The answer is 42", None)
    assert verdict.detail.startswith("not JSON")


def test_the_first_validator_that_rejects_is_named() -> None:
    verdict = check_answer(Cascade(validators=("empty", "truncated")), "cut", "length")
    assert (verdict.accepted, verdict.validator) == (False, "truncated")


def test_every_validator_passing_accepts() -> None:
    assert check_answer(Cascade(), "Paris is the capital of France.", "stop").accepted


def test_a_user_validator_decides() -> None:
    def cites(text: str, finish_reason: str | None) -> bool:
        return "[1]" in text

    verdict = check_answer(Cascade(validators=(cites,)), "no sources", "stop")
    assert (verdict.accepted, verdict.validator) == (False, "cites")


def test_a_validator_that_raises_rejects_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken(text: str, finish_reason: str | None) -> bool:
        raise KeyError("boom")

    with caplog.at_level(logging.WARNING, logger="costcap.router"):
        verdict = check_answer(Cascade(validators=(broken,)), "fine", "stop")
    assert (verdict.accepted, verdict.validator) == (False, "broken")
    assert "validator broken raised KeyError" in caplog.text


def test_no_answer_text_counts_as_empty() -> None:
    assert not check_answer(Cascade(), None, "stop").accepted
