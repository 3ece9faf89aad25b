"""Framing constants, calibrated estimates and guaranteed upper bounds.

OpenAI chat framing — the OpenAI Cookbook, "How to count tokens with tiktoken"
(https://cookbook.openai.com/examples/how_to_count_tokens_with_tiktoken,
``num_tokens_from_messages``), which lists gpt-3.5-turbo-0613, gpt-4-0613, gpt-4o and
gpt-4o-mini with the same rule, and which we apply to every model since (all use the same
``<|im_start|>role<|im_sep|>content<|im_end|>`` chat format)::

    tokens = 3                   # reply priming: <|im_start|>assistant<|im_sep|>
           + sum over messages of
               ( 3                       # <|im_start|>, <|im_sep|>, <|im_end|>
               + tokens(role) + tokens(content) + tokens(name)
               + 1 if the message has a name )

(gpt-3.5-turbo-0301 used 4 per message and -1 per name; that snapshot is retired.)
Tool definitions and tool calls are rendered by OpenAI in an unpublished format: we count
their compact JSON plus ``OPENAI_TOOLS_TOKENS``, and report such counts as not exact.

Models without a public tokenizer (Claude, Gemini, …):

* estimate = ceil(o200k_base tokens × factor + Σ per-class extra × characters of the class)
  + framing estimate. The factor is documented, not measured here: Claude's tokenizers produce
  more tokens than o200k_base for the same English text (about 1.1-1.35x in public
  side-by-side comparisons; Anthropic notes its newest tokenizer uses up to 1.35x as many as
  the previous one); Gemini's 256k SentencePiece vocabulary is close to o200k_base.
  The per-class extras (``_CLAUDE_EXTRA``, tokens per character beyond o200k_base, by script:
  ``_scripts.py``) are measured against the one public Claude tokenizer, the
  ``tokenizer.json`` of the ``anthropic`` 0.34.2 SDK — an older tokenizer; newer Claude
  models count differently. They are fitted on ``tests/tokens/corpus`` so that every script
  keeps English's relation to it: 1.25 / 1.056 (that tokenizer's English count over
  o200k_base's) = 1.18x its count, between it and a tokenizer 1.35x larger. Without
  them the estimate was 0.24-0.97x that tokenizer's count on non-Latin scripts; with them
  it is 1.10-1.32x on held-out text (``tests/tokens/heldout``). Unmeasured scripts get
  0.8 or 1.6 tokens per character of 2 or 3 UTF-8 bytes. Gemini keeps its flat
  factor (not measured per script). Expect ±30 % per request; use it for display and
  forecasting only.
* upper bound = Σ text bounds (``_bound.py``: UTF-8 bytes of the text's longest normal
  form + 1) + framing bound. Framing and hidden prompts are covered by the documented
  constants below. The estimate is clamped to the bound, so ``estimate <= bound`` always
  holds. The bound is loose: UTF-8 bytes per o200k_base token run from 2.3 (emoji) and 3.4
  (code) to 4.3 (English) and 7.2 (Hindi).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from costcap.tokens._bound import upper_bound_text
from costcap.tokens._encodings import count_encoded, encoding_for_model
from costcap.tokens._messages import Tally
from costcap.tokens._scripts import class_counts

__all__ = [
    "bound_tally",
    "class_extra",
    "estimate_factor",
    "estimate_tally",
    "estimate_text",
    "image_tokens_for",
    "openai_tally",
]

# --- OpenAI (Cookbook formula; see module docstring) -------------------------------------
OPENAI_TOKENS_PER_MESSAGE: Final = 3
OPENAI_TOKENS_PER_NAME: Final = 1
OPENAI_REPLY_PRIMING: Final = 3
# Cookbook ``num_tokens_for_tools``: func_init 7 + func_end 12 for gpt-4o-class models.
OPENAI_TOOLS_TOKENS: Final = 19
# Bound allowance for each approximately rendered piece (tool call, tool id, tool JSON):
# its UTF-8 bytes plus this many tokens for the unpublished separators around it.
OPENAI_APPROX_SLACK: Final = 8
# Bound allowance for each text part beyond the first in one content list: the hosted
# models' way of joining parts is unpublished. Covers the joins seen in the wild — none, a
# space, "\n", "\n\n" (each ≤ 2 tokens) — and a change of the count at the seam when the
# parts are tokenized as one text (tests/tokens/test_messages.py checks all four).
JOIN_SLACK: Final = 8

# --- Models without a public tokenizer ----------------------------------------------------
# Framing estimate: Anthropic's count_tokens reports ~8 tokens for a one-message request
# beyond its text; we estimate 4 per request + 4 per message.
ESTIMATE_TOKENS_PER_REQUEST: Final = 4
ESTIMATE_TOKENS_PER_MESSAGE: Final = 4
# Framing bound: not published. The only documented Claude framing, the legacy
# "\n\nHuman: " / "\n\nAssistant: " prompt, is ≤ 13 bytes per turn; chat-template special
# tokens are a handful per turn. 16 per message (system counts as one) and 16 per request
# leave room for both.
BOUND_TOKENS_PER_REQUEST: Final = 16
BOUND_TOKENS_PER_MESSAGE: Final = 16
# Anthropic adds a hidden tool-use system prompt when ``tools`` is set: 346 tokens
# (tool_choice auto/none, Claude 3.5-4.x), 313 (any/tool); up to 530 for Claude 3 Opus
# (docs.anthropic.com, "Tool use" → pricing). Estimate with 346, bound with 600.
ESTIMATE_TOOLS_TOKENS: Final = 346
BOUND_TOOLS_TOKENS: Final = 600

# Claude: tokens per character beyond o200k_base's, by class code (``_scripts.CLASSES``);
# fitted on tests/tokens/corpus against the anthropic 0.34.2 tokenizer (see docstring).
_CLAUDE_EXTRA: Final[Mapping[bytes, float]] = {
    b"l": 1.90,  # accented Latin (French)
    b"L": 2.38,  # U+1000-U+1FFF (Vietnamese)
    b"g": 1.04,  # Greek
    b"c": 0.33,  # Cyrillic
    b"h": 0.70,  # Hebrew
    b"a": 0.90,  # Arabic
    b"d": 1.15,  # Devanagari
    b"b": 1.96,  # Bengali
    b"t": 2.04,  # Tamil
    b"T": 1.62,  # Thai
    b"k": 0.24,  # CJK ideographs, kana, CJK punctuation and fullwidth forms
    b"K": 0.81,  # Hangul
    b"e": 0.41,  # U+10000 and up (emoji)
    b"2": 0.8,  # unmeasured scripts, by UTF-8 length
    b"3": 1.6,
}


@dataclass(frozen=True)
class _Profile:
    """How a model family's tokens relate to o200k_base's."""

    factor: float
    extra: Mapping[bytes, float] = field(default_factory=dict)


_CLAUDE: Final = _Profile(1.25, _CLAUDE_EXTRA)
_PROFILES: Final[dict[str, _Profile]] = {
    "claude": _CLAUDE,
    "anthropic": _CLAUDE,
    "gemini": _Profile(1.05),
}
_DEFAULT_PROFILE: Final = _CLAUDE

# --- Images: documented conservative ceilings per image (detail/size not inspected) ------
# OpenAI: tile models cost ≤ 85 + 170 × 8 tiles = 1,445 (gpt-4o, gpt-4.1, o-series), patch
# models ≤ 1,536 patches × 2.46 = 3,779 (gpt-4.1-nano); gpt-4o-mini bills 2,833 + 5,667 × 8.
# Anthropic: ≈ width × height / 750, ≤ ~1,600 after its resize to 1.15 MP. Gemini: 258 per
# 768 px tile. Pass ``image_tokens=`` to the counting functions to use your own figure.
_IMAGE_CEILINGS: Final[tuple[tuple[str, int], ...]] = (
    ("gpt-4o-mini", 2_833 + 5_667 * 8),
    ("claude", 2_000),
    ("gemini", 3_000),
)
DEFAULT_IMAGE_TOKENS: Final = 6_000


def _family(model: str) -> str:
    return model.strip().lower().rsplit("/", 1)[-1]


def image_tokens_for(model: str) -> int:
    """The conservative per-image token count used for ``model``."""
    name = _family(model)
    for prefix, tokens in _IMAGE_CEILINGS:
        if name.startswith(prefix) or name.startswith(f"ft:{prefix}"):
            return tokens
    return DEFAULT_IMAGE_TOKENS


def _profile(model: str) -> _Profile:
    name = _family(model)
    for prefix, profile in _PROFILES.items():
        if name.startswith(prefix):
            return profile
    return _DEFAULT_PROFILE


def estimate_factor(model: str) -> float:
    """The documented o200k_base → model token ratio of English text used by the estimate."""
    return _profile(model).factor


def class_extra(utf8: bytes, model: str) -> float:
    """The tokens ``model``'s tokenizer emits for the non-ASCII characters of ``utf8`` beyond
    ``factor`` x their o200k_base tokens, per script class. Additive: the sum over the pieces of
    a text equals the whole text's (a streamed answer is estimated piece by piece)."""
    extra = _profile(model).extra
    if not extra:
        return 0.0
    return sum(extra.get(code, 0.0) * count for code, count in class_counts(utf8).items())


def estimate_text(text: str, model: str) -> int:
    """Calibrated estimate for a model without a public tokenizer, never above the bound."""
    if not text:
        return 0
    profile = _profile(model)
    guess = count_encoded(text, "o200k_base") * profile.factor
    if text.isascii():  # no class adds anything; the bound is the length + 1
        return min(math.ceil(guess), len(text) + 1)
    utf8 = text.encode("utf-8", "surrogatepass")
    guess += class_extra(utf8, model)
    estimate = math.ceil(guess)
    if estimate <= len(utf8) + 1:  # the bound is never below this: no need to compute it
        return estimate
    return min(estimate, upper_bound_text(text))


def openai_tally(tally: Tally, model: str, image_tokens: int | None) -> tuple[int, int]:
    """(count, upper bound) of a tally for an OpenAI model by the Cookbook formula."""
    encoding = encoding_for_model(model)
    if encoding is None:
        raise ValueError(f"{model!r} has no OpenAI encoding")
    exact_part = OPENAI_REPLY_PRIMING + OPENAI_TOKENS_PER_MESSAGE * tally.messages
    exact_part += OPENAI_TOKENS_PER_NAME * tally.names
    for text in tally.texts:
        exact_part += count_encoded(text, encoding)
    images = 0
    if tally.images:
        per_image = image_tokens_for(model) if image_tokens is None else image_tokens
        images = per_image * tally.images
    approx = approx_bound = 0
    for text in tally.approx:
        approx += count_encoded(text, encoding)
        approx_bound += upper_bound_text(text) + OPENAI_APPROX_SLACK
    if tally.has_tools:
        approx += OPENAI_TOOLS_TOKENS
        approx_bound += OPENAI_TOOLS_TOKENS
    count = exact_part + approx + images
    bound = exact_part + max(approx, approx_bound) + images + JOIN_SLACK * tally.joins
    if not tally.documented_framing:
        # Responses API: framing unpublished; allow the generic per-message bound instead.
        bound += (BOUND_TOKENS_PER_MESSAGE - OPENAI_TOKENS_PER_MESSAGE) * tally.messages
        bound += BOUND_TOKENS_PER_REQUEST
    return count, bound


def bound_tally(tally: Tally, model: str, image_tokens: int | None) -> int:
    """Guaranteed upper bound of a tally for a model without a public tokenizer."""
    per_image = image_tokens_for(model) if image_tokens is None else image_tokens
    total = sum(upper_bound_text(text) for text in (*tally.texts, *tally.approx))
    total += BOUND_TOKENS_PER_REQUEST + BOUND_TOKENS_PER_MESSAGE * tally.messages
    total += JOIN_SLACK * tally.joins + per_image * tally.images
    if tally.has_tools:
        total += BOUND_TOOLS_TOKENS
    return total


def estimate_tally(tally: Tally, model: str, image_tokens: int | None, bound: int) -> int:
    """Calibrated estimate of a tally for a model without a public tokenizer, at most
    ``bound`` (its ``bound_tally``)."""
    per_image = image_tokens_for(model) if image_tokens is None else image_tokens
    total = sum(estimate_text(text, model) for text in (*tally.texts, *tally.approx))
    total += ESTIMATE_TOKENS_PER_REQUEST + ESTIMATE_TOKENS_PER_MESSAGE * tally.messages
    total += per_image * tally.images
    if tally.has_tools:
        total += ESTIMATE_TOOLS_TOKENS
    return min(total, bound)
