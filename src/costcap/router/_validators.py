"""Validators: does a cheaper tier's answer stand, or does the cascade ask the next tier up?

A validator is ``(answer_text, finish_reason) -> bool``: True accepts the answer. The built-ins:

* ``empty`` — no text, or only whitespace (unless the answer is a tool call:
  ``finish_reason`` ``tool_calls``, ``tool_use`` or ``function_call``);
* ``refusal`` — ``finish_reason`` ``refusal`` or ``content_filter``, or the answer opens (in its
  first 200 characters) with a common refusal phrasing, e.g. "I'm sorry, but I can't",
  "I cannot help with", "As an AI language model";
* ``truncated`` — the answer stopped at its output limit: ``finish_reason`` ``length``
  (OpenAI Chat), ``max_tokens`` (Anthropic), ``max_output_tokens`` or ``incomplete``
  (OpenAI Responses);
* ``json_schema`` — the text (inside one Markdown code fence, if it has one) is JSON that the
  cascade's ``json_schema`` accepts, checked with the ``jsonschema`` package
  (``pip install 'costcap[router]'``) in the draft the schema's ``$schema`` names (2020-12 when
  it names none).

A validator that raises rejects the answer: the error is logged (logger ``costcap.router``,
WARNING) and the cascade escalates; the call itself never fails because of a validator.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from costcap._extras import missing_extra
from costcap.errors import ConfigError
from costcap.router._config import Cascade, Validator, validator_name

__all__ = [
    "Verdict",
    "check_answer",
    "compile_schema",
    "is_empty",
    "is_refusal",
    "is_truncated",
]

log = logging.getLogger("costcap.router")

_TOOL_FINISH = frozenset({"tool_calls", "tool_use", "function_call"})
_REFUSAL_FINISH = frozenset({"refusal", "content_filter"})
_TRUNCATED_FINISH = frozenset({"length", "max_tokens", "max_output_tokens", "incomplete"})
_OPENING = 200  # a refusal says so at once; later mentions of "I can't" are content
_REFUSALS = re.compile(
    r"^\W*(?:"
    r"(?:i'?m|i am) (?:so |very |really )?sorry,? (?:but )?(?:i|we) "
    r"(?:can(?:no|')?t|won'?t|am unable|'m unable|am not able|'m not able)"
    r"|i (?:can(?:no|')?t|won'?t|will not|am unable to|am not able to) "
    r"(?:help|assist|comply|provide|do that|fulfil|support|answer|create|generate|write)"
    r"|(?:i'?m|i am) (?:unable|not able) to (?:help|assist|comply|provide|fulfil|answer)"
    r"|as an ai(?: language model)?,? i (?:can(?:no|')?t|don'?t|am not|'m not)"
    r"|as an ai language model"
    r"|sorry,? (?:but )?i (?:can(?:no|')?t|won'?t)"
    r"|i must (?:decline|refuse)"
    r"|unfortunately,? i (?:can(?:no|')?t|am unable|'m unable)"
    r")"
)
_FENCE = re.compile(r"\A\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?```\s*\Z", re.S)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the validators said: ``accepted``, else which one rejected (``validator``) and why
    (``detail``; for a validator that raised, the error)."""

    accepted: bool
    validator: str | None = None
    detail: str = ""


def is_empty(text: str, finish_reason: str | None) -> bool:
    """True (accepted) unless the answer has no text and is not a tool call."""
    return bool(text and not text.isspace()) or finish_reason in _TOOL_FINISH


def is_refusal(text: str, finish_reason: str | None) -> bool:
    """True (accepted) unless the answer is a refusal."""
    if finish_reason in _REFUSAL_FINISH:
        return False
    opening = text[:_OPENING].lower().replace("\u2019", "'")
    return _REFUSALS.match(opening) is None


def is_truncated(text: str, finish_reason: str | None) -> bool:
    """True (accepted) unless the answer stopped at its output limit."""
    del text
    return finish_reason not in _TRUNCATED_FINISH


_BUILTINS: dict[str, Validator] = {
    "empty": is_empty,
    "refusal": is_refusal,
    "truncated": is_truncated,
}


def compile_schema(schema: Mapping[str, Any]) -> Callable[[Any], str | None]:
    """A checker for ``schema``: the first problem with an instance, or None when it passes.
    A schema that is not a valid JSON Schema is a ConfigError."""
    try:
        import jsonschema
        from jsonschema import validators
    except ModuleNotFoundError:
        raise missing_extra(extra="router", what="the json_schema validator") from None
    cls = validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(top)"
        raise ConfigError(
            f"Cascade.json_schema: not a valid JSON Schema at {where}: {exc.message}"
        ) from None
    checker = cls(schema)

    def first_problem(instance: Any) -> str | None:
        error = jsonschema.exceptions.best_match(checker.iter_errors(instance))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        return f"at {where}: {error.message}"

    return first_problem


def json_problem(text: str, check: Callable[[Any], str | None]) -> str | None:
    """Why ``text`` is not JSON that ``check`` accepts (None: it is)."""
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        value = json.loads(body)
    except ValueError as exc:
        return f"not JSON: {exc}"
    return check(value)


def check_answer(cascade: Cascade, text: str | None, finish_reason: str | None) -> Verdict:
    """Run the cascade's validators in order; the first that rejects decides. A validator that
    raises rejects (and is logged)."""
    answer = text or ""
    for validator in cascade.validators:
        name = validator if isinstance(validator, str) else validator_name(validator)
        try:
            if validator == "json_schema":
                problem = json_problem(answer, cascade.schema_check())
                if problem is not None:
                    return Verdict(False, name, problem)
                continue
            run = _BUILTINS[validator] if isinstance(validator, str) else validator
            if not run(answer, finish_reason):
                return Verdict(False, name, "rejected")
        except Exception as exc:  # noqa: BLE001 - a user's validator: logged, and counts as a rejection
            log.warning("validator %s raised %s: %s; the answer counts as rejected",
                        name, type(exc).__name__, exc)  # fmt: skip
            return Verdict(False, name, f"raised {type(exc).__name__}: {exc}")
    return Verdict(True)
