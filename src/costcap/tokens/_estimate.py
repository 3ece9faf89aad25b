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

* estimate = ceil(o200k_base tokens * factor) + framing estimate. The factors are *not*
  measured against those tokenizers (none is available offline). They come from the vendors'
  statements and public side-by-side comparisons: Claude's tokenizers produce more tokens than
  o200k_base for the same text (about 1.1-1.35x on English; Anthropic notes its newest tokenizer
  uses up to 1.35x as many as the previous one), Gemini's 256k SentencePiece vocabulary is
  close to o200k_base. Expect ±30 % per request; use it for display and forecasting only.
  For scale, on the shipped test corpus two tokenizers of one vendor disagree by 1.0x
  (English, code) to 2.9x (Hindi): cl100k_base / o200k_base counts are english 1.01,
  code 1.00, Chinese 1.43, Japanese 1.35, Russian 1.65, Arabic 2.14, Hindi 2.91.
* upper bound = Σ (UTF-8 bytes + 1) over every text + framing bound. A byte-level BPE (or a
  SentencePiece model with byte fallback) emits at least one byte per token, so a text of
  *n* bytes is at most *n* tokens; the +1 covers a SentencePiece dummy-prefix piece. Framing
  and hidden prompts are covered by the documented constants below. The estimate is clamped
  to the bound, so ``estimate <= bound`` always holds. The bound is loose: UTF-8 bytes per
  o200k_base token run from 2.3 (emoji) and 3.4 (code) to 4.3 (English) and 7.2 (Hindi).
"""

from __future__ import annotations

import math
from typing import Final

from costcap.tokens._encodings import count_encoded, encoding_for_model
from costcap.tokens._messages import Tally

__all__ = [
    "bound_tally",
    "estimate_factor",
    "estimate_tally",
    "estimate_text",
    "image_tokens_for",
    "openai_tally",
    "upper_bound_text",
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

_FACTORS: Final[dict[str, float]] = {"claude": 1.25, "anthropic": 1.25, "gemini": 1.05}
_DEFAULT_FACTOR: Final = 1.25

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


def estimate_factor(model: str) -> float:
    """The documented o200k_base → model token ratio used by the estimate."""
    name = _family(model)
    for prefix, factor in _FACTORS.items():
        if name.startswith(prefix):
            return factor
    return _DEFAULT_FACTOR


def upper_bound_text(text: str) -> int:
    """Tokens ``text`` can never exceed in a byte-level tokenizer: its UTF-8 byte count + 1.

    Holds for every model (OpenAI's exact counts are always lower). Empty text is 0.
    """
    if not text:
        return 0
    return len(text.encode("utf-8", "surrogatepass")) + 1


def estimate_text(text: str, model: str) -> int:
    """Calibrated estimate for a model without a public tokenizer, never above the bound."""
    if not text:
        return 0
    guess = math.ceil(count_encoded(text, "o200k_base") * estimate_factor(model))
    return min(guess, upper_bound_text(text))


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
    bound = exact_part + max(approx, approx_bound) + images
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
    total += per_image * tally.images
    if tally.has_tools:
        total += BOUND_TOOLS_TOKENS
    return total


def estimate_tally(tally: Tally, model: str, image_tokens: int | None) -> int:
    """Calibrated estimate of a tally for a model without a public tokenizer."""
    per_image = image_tokens_for(model) if image_tokens is None else image_tokens
    total = sum(estimate_text(text, model) for text in (*tally.texts, *tally.approx))
    total += ESTIMATE_TOKENS_PER_REQUEST + ESTIMATE_TOKENS_PER_MESSAGE * tally.messages
    total += per_image * tally.images
    if tally.has_tools:
        total += ESTIMATE_TOOLS_TOKENS
    return min(total, bound_tally(tally, model, image_tokens))
