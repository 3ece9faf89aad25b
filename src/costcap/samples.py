"""Sample request bodies (JSON Lines) for planning from real prompts.

One request body per line, in any of the shapes costcap speaks: OpenAI Chat Completions
(``messages``), OpenAI Responses (``input`` + ``instructions``) or Anthropic Messages
(``messages`` + ``system``). Blank lines are skipped; anything else that is not such a body is an
error naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costcap._files import read_capped
from costcap.errors import ConfigError, UncountableContent, UsageError
from costcap.planning import CallShape
from costcap.tokens import count_messages

__all__ = [
    "MAX_SAMPLE_BYTES",
    "MAX_SAMPLE_TOKENS",
    "SampleRequest",
    "load_sample",
    "shapes_for_model",
]

MAX_SAMPLE_TOKENS = 10_000_000  # more than any model's context window
MAX_SAMPLE_BYTES = 256 * 2**20  # a sample of requests, not a corpus


@dataclass(frozen=True, slots=True)
class SampleRequest:
    messages: Sequence[Mapping[str, Any]]
    system: Any
    tools: Any
    max_tokens: int | None
    where: str  # "file:line", for error messages


def _as_messages(body: Mapping[str, Any], where: str) -> tuple[Sequence[Mapping[str, Any]], Any]:
    if "messages" in body:
        messages = body["messages"]
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise ConfigError(f"{where}: 'messages' must be a list of objects")
        return messages, body.get("system")
    if "input" in body:  # OpenAI Responses API
        raw = body["input"]
        if isinstance(raw, str):
            return [{"role": "user", "content": raw}], body.get("instructions")
        if isinstance(raw, list) and all(isinstance(m, dict) for m in raw):
            return raw, body.get("instructions")
        raise ConfigError(f"{where}: 'input' must be a string or a list of objects")
    raise ConfigError(f"{where}: not a request body (no 'messages' or 'input')")


def parse_sample(lines: Iterable[str], *, source: str) -> list[SampleRequest]:
    out: list[SampleRequest] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            body = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise ConfigError(f"{where}: JSON nested too deeply") from None
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: a request body must be a JSON object")
        messages, system = _as_messages(body, where)
        limit = body.get("max_tokens", body.get("max_completion_tokens"))
        limit = body.get("max_output_tokens", limit)
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            raise ConfigError(f"{where}: max_tokens must be an integer")
        if limit is not None and not 0 <= limit <= MAX_SAMPLE_TOKENS:
            raise ConfigError(
                f"{where}: max_tokens must be 0..{MAX_SAMPLE_TOKENS:,} (got {limit:,})"
            )
        out.append(SampleRequest(messages, system, body.get("tools"), limit, where))
    if not out:
        raise ConfigError(f"{source}: the sample holds no requests")
    return out


def load_sample(path: Path) -> list[SampleRequest]:
    """Read a JSONL sample; raises ``ConfigError`` naming the file (and line) on any problem."""
    try:
        text = read_capped(path, most=MAX_SAMPLE_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read sample {path}: {reason}") from None
    return parse_sample(text.splitlines(), source=str(path))


def shapes_for_model(
    sample: Sequence[SampleRequest], model: str, *, output_tokens: int | None
) -> list[CallShape]:
    """Count each sampled request's input for ``model``; output is ``output_tokens`` or, when
    that is not given, each request's own ``max_tokens`` (its worst case)."""
    shapes = []
    for request in sample:
        out = output_tokens if output_tokens is not None else request.max_tokens
        if out is None:
            raise ConfigError(
                f"{request.where}: no max_tokens in the request; pass --output-tokens"
            )
        try:
            counted = count_messages(
                request.messages, model, system=request.system, tools=request.tools
            )
        except (UncountableContent, UsageError) as exc:
            raise ConfigError(f"{request.where}: {exc}") from None
        except RecursionError:
            raise ConfigError(f"{request.where}: content nested too deeply") from None
        shapes.append(CallShape(input_tokens=counted.tokens, output_tokens=out))
    return shapes
