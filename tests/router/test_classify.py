"""The heuristic classifier: each signal, the score's tiers, determinism."""

from __future__ import annotations

import pytest

from costcap.router import Classification, Content, classify, level_tier


def reasons(content: Content) -> tuple[str, ...]:
    return classify(content).reasons


def score(content: Content) -> int:
    result = classify(content).score
    assert result is not None
    return result


@pytest.mark.parametrize(
    ("points", "tier"),
    [
        (0, "simple"),
        (1, "simple"),
        (2, "complex"),
        (4, "complex"),
        (5, "critical"),
        (9, "critical"),
    ],
)
def test_score_thresholds(points: int, tier: str) -> None:
    assert level_tier(points) == tier


def test_a_short_prompt_with_no_cues_is_simple_and_says_so() -> None:
    assert classify(Content(prompt="Good morning to you")) == Classification(
        "simple", ("short, no cues",), 0
    )


@pytest.mark.parametrize(("chars", "points"), [(2_396, 0), (2_400, 1), (10_000, 2), (40_000, 3)])
def test_length_in_estimated_tokens_of_four_characters(chars: int, points: int) -> None:
    assert score(Content(prompt="go", chars=chars)) == points


def test_a_prompt_of_120_characters_is_detailed() -> None:
    content = Content(prompt="x" * 120)
    assert reasons(content) == ("detailed request (120 characters)",)


def test_a_prompt_of_119_characters_is_not_detailed() -> None:
    assert score(Content(prompt="x" * 119)) == 0


def test_a_long_input_is_not_also_detailed() -> None:
    assert reasons(Content(prompt="x" * 2_400)) == ("input ~600 tokens",)


def test_length_reason_gives_the_estimate() -> None:
    assert reasons(Content(prompt="a " * 5_000)) == ("input ~2,500 tokens",)


def test_a_code_block_is_code() -> None:
    assert reasons(Content(prompt="What does this print?\n```\nx = 1\n```")) == ("code block",)


def test_code_marks_without_a_fence_are_code() -> None:
    prompt = "Why does this fail: def f(self, x): return {x: 1} if x else {}"
    assert classify(Content(prompt=prompt)).reasons[0] == "code in the prompt"


def test_a_code_task_word_is_code() -> None:
    assert reasons(Content(prompt="Refactor it please")) == ("code task: refactor",)


def test_code_with_a_code_task_scores_three() -> None:
    assert score(Content(prompt="Debug this:\n```\nx = 1\n```")) == 3


def test_one_reasoning_cue_scores_one() -> None:
    assert score(Content(prompt="Why is the sky blue")) == 1


def test_three_reasoning_cues_score_three() -> None:
    prompt = "Compare the options, evaluate each and recommend one"
    assert classify(Content(prompt=prompt)).reasons == ("reasoning: compare, evaluate, recommend",)


def test_reasoning_phrases_count() -> None:
    assert reasons(Content(prompt="Go step by step")) == ("reasoning: step by step",)


def test_one_hard_cue_scores_three() -> None:
    assert score(Content(prompt="Is this clause enforceable")) == 3


def test_two_hard_cues_score_four() -> None:
    assert score(Content(prompt="Is this clause a liability")) == 4


def test_two_hard_cues_score_three_and_reach_critical_with_more() -> None:
    prompt = "Prove the protocol has no race condition; analyze and justify each step by step"
    result = classify(Content(prompt=prompt))
    assert (result.tier, result.reasons[-1]) == ("critical", "hard: prove, race condition")


def test_three_listed_lines_are_steps() -> None:
    prompt = "Do this:\n1. read\n2. sort\n3. print"
    assert reasons(Content(prompt=prompt)) == ("3 listed steps",)


def test_six_listed_lines_score_two() -> None:
    prompt = "Do:\n" + "\n".join(f"- item {n}" for n in range(6))
    assert score(Content(prompt=prompt)) == 2


def test_sequencing_words_are_steps() -> None:
    prompt = "First open it, then wash it, finally dry it"
    assert reasons(Content(prompt=prompt)) == ("sequenced steps",)


def test_a_structured_output_request_scores_one() -> None:
    assert reasons(Content(prompt="Name a colour", structured=True)) == ("structured output",)


def test_a_format_named_in_the_prompt_scores_one() -> None:
    assert reasons(Content(prompt="List three colours as yaml")) == ("asks for yaml",)


@pytest.mark.parametrize(("turns", "points"), [(5, 0), (6, 1), (16, 2)])
def test_conversation_depth(turns: int, points: int) -> None:
    assert score(Content(prompt="ok go on", turns=turns)) == points


@pytest.mark.parametrize(("tools", "points"), [(0, 0), (1, 1), (6, 2)])
def test_tools(tools: int, points: int) -> None:
    assert score(Content(prompt="ok go on", tools=tools)) == points


@pytest.mark.parametrize(("asked", "points"), [(3_999, 0), (4_000, 1), (16_000, 2)])
def test_a_long_requested_answer_scores(asked: int, points: int) -> None:
    assert score(Content(prompt="ok go on", max_tokens=asked)) == points


def test_a_short_requested_answer_takes_a_point_off() -> None:
    content = Content(prompt="Why is the sky blue", max_tokens=300)
    assert (score(content), reasons(content)[-1]) == (0, "max_tokens 300")


def test_a_quick_task_takes_a_point_off() -> None:
    content = Content(prompt="Why? Translate it to French")
    assert (score(content), reasons(content)[-1]) == (0, "quick task: translate")


def test_a_quick_task_cue_in_a_long_prompt_is_ignored() -> None:
    content = Content(prompt="translate " + "word " * 600)
    assert "quick task" not in " ".join(reasons(content))


def test_the_score_never_goes_below_zero() -> None:
    assert score(Content(prompt="hello", max_tokens=50)) == 0


def test_cues_in_the_middle_of_a_long_prompt_are_not_read() -> None:
    middle = "filler " * 200 + " prove " + "filler " * 200
    assert "hard" not in " ".join(reasons(Content(prompt=middle)))


def test_cues_at_the_end_of_a_long_prompt_are_read() -> None:
    prompt = "filler " * 400 + "Now prove it."
    assert "hard: prove" in reasons(Content(prompt=prompt))


def test_cues_in_the_system_text_are_read() -> None:
    assert reasons(Content(prompt="go", system="Think step by step.")) == (
        "reasoning: step by step",
    )


def test_the_same_content_always_gets_the_same_answer() -> None:
    content = Content(prompt="Compare Rust and Go for a CLI, then write a JSON summary")
    assert len({classify(content) for _ in range(20)}) == 1


def test_upper_case_and_punctuation_do_not_hide_cues() -> None:
    assert reasons(Content(prompt="WHY?!")) == ("reasoning: why",)
