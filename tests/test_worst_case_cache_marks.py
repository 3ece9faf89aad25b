"""A ``cache_control`` mark anywhere — a system block, a tool, a message — makes Claude's worst
case price the input as the dearest cache write (the 1-hour write, $6 per million tokens on
claude-sonnet-4-5, against $3 plain input and $3.75 for a 5-minute write): ignoring it would
under-price the input by 25-100 %. Checked for the worst case and for what the Guard reserves.

Expected figures: the input count (from the token counter, not from the pricing under test) times
the published rate, plus 100 output tokens at $15 per million = 1,500 micro-dollars.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from costcap import Budget, Guard
from costcap.tokens import count_messages
from costcap.worst_case import worst_case_cost

MODEL = "claude-sonnet-4-5"
MESSAGES = [{"role": "user", "content": "Hello there"}]
SYSTEM_TEXT = "You are a careful assistant. " * 40
MARK = {"type": "ephemeral"}
TOOL = {"name": "lookup", "description": "Look a customer up. " * 30,
        "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}}}  # fmt: skip
PLAIN_MICROS, WRITE_1H_MICROS = 3, 6  # per input token: $3/M, $6/M
OUTPUT_MICROS = 100 * 15
MARKED_HELLO = {"type": "text", "text": "Hello there", "cache_control": MARK}


def shapes() -> dict[str, dict[str, Any]]:
    return {
        "system block": {"system": [{"type": "text", "text": SYSTEM_TEXT, "cache_control": MARK}]},
        "tool": {"tools": [{**TOOL, "cache_control": MARK}]},
        "message block": {"messages": [{"role": "user", "content": [MARKED_HELLO]}]},
    }


def unmarked(shape: dict[str, Any]) -> dict[str, Any]:
    if "system" in shape:
        return {"system": [{"type": "text", "text": SYSTEM_TEXT}]}
    if "tools" in shape:
        return {"tools": [TOOL]}
    return {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}]}


def counted(shape: dict[str, Any]) -> int:
    messages = shape.get("messages", MESSAGES)
    tools = shape.get("tools")
    return count_messages(messages, MODEL, system=shape.get("system"), tools=tools).tokens


def call(shape: dict[str, Any]) -> dict[str, Any]:
    return {"messages": MESSAGES, **shape, "max_tokens": 100}


@pytest.mark.parametrize("where", ["system block", "tool", "message block"])
def test_a_mark_prices_the_input_as_the_dearest_cache_write(where: str) -> None:
    shape = shapes()[where]
    worst = worst_case_cost(MODEL, **call(shape))
    assert worst.pico == (counted(shape) * WRITE_1H_MICROS + OUTPUT_MICROS) * 10**6


@pytest.mark.parametrize("where", ["system block", "tool", "message block"])
def test_without_the_mark_the_input_is_plain(where: str) -> None:
    shape = unmarked(shapes()[where])
    worst = worst_case_cost(MODEL, **call(shape))
    assert worst.pico == (counted(shape) * PLAIN_MICROS + OUTPUT_MICROS) * 10**6


@pytest.mark.parametrize("where", ["system block", "tool"])
def test_the_guard_reserves_the_cache_write(where: str) -> None:
    shape = shapes()[where]
    guard = Guard("memory://", budgets=[Budget(scope="global", period="day", limit_usd=1)],
                  notifiers=[])  # fmt: skip
    ticket = guard.admit(model=MODEL, **call(shape))
    assert ticket.reserved_micros == math.ceil(counted(shape) * WRITE_1H_MICROS + OUTPUT_MICROS)
    guard.close()
