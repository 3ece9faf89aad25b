"""Token counting: exact for OpenAI models, estimated and bounded for the rest.

Counting runs offline: OpenAI's ``o200k_base`` and ``cl100k_base`` ranks ship inside the
``bpe-openai`` wheel and are loaded lazily, once per process, on first use.
"""

from __future__ import annotations

from costcap.errors import UncountableContent
from costcap.tokens._bound import upper_bound_text
from costcap.tokens._count import (
    count_messages,
    count_responses_input,
    count_text,
    upper_bound_messages,
)
from costcap.tokens._encodings import EncodingName, encoding_for_model
from costcap.tokens._types import Method, TokenCount

__all__ = [
    "EncodingName",
    "Method",
    "TokenCount",
    "UncountableContent",
    "count_messages",
    "count_responses_input",
    "count_text",
    "encoding_for_model",
    "upper_bound_messages",
    "upper_bound_text",
]
