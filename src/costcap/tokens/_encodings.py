"""Model → encoding names, and the exact runtime counter for OpenAI's BPE encodings.

Runtime counter: the Rust BPE of ``bpe-openai`` (``bpe_openai._bindings.PyTokenizer.count``).

Why this one and not tiktoken built from the same bundled files (figures in
``benchmarks/results/tokens.md``; 2-core machine, medians):

* it needs no download and no network, ever: the ranks ship inside its wheel;
* it loads in 0.03-0.07 s against 0.23-0.9 s for tiktoken (gunzip + hash + parse the
  ranks, build the Encoding) — paid by every process (CLI runs, gateway workers);
* it holds less memory (o200k_base: +71 MB RSS against +90 MB);
* it counts 1.5-3x faster (o200k_base: ~50 MB/s English, ~47 MB/s multilingual, against
  ~30 and ~23 MB/s), and ``count`` returns a number without building a token list;
* tiktoken is only a dev dependency; bpe-openai is already a runtime one.

The tests compare it token-for-token (by count) with tiktoken built offline from the same
bundled, hash-verified files, on a multilingual corpus and on multi-megabyte text.

Long text: ``bpe_openai.Encoding.encode`` refuses inputs of 1,000,000 characters or more
("Input too long to encode safely") and raises ``TokenLimitError`` past 200,000 tokens; both
limits live in its Python wrapper, not in the Rust ``count``, which we call directly. We still
cut long text into pieces of about ``_CHUNK_CHARS`` characters, so that one call never holds
the GIL for long and per-call scratch memory stays bounded. Cuts go only just before an ASCII
space that follows a letter or digit. No pre-token of cl100k_base or o200k_base contains a
non-whitespace character followed by a space (a space only ever *starts* a pre-token: the
optional prefix of a word or of punctuation, or part of a whitespace run), and the match that
ends on a letter or digit never depends on what follows it, so such a position is a
pre-token boundary of the whole text, and BPE counts add up across pre-tokens. Chunking
therefore cannot change the count; ``tests/tokens/test_long_text.py`` checks this against
tiktoken, including with random text and tiny chunks.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
import threading
from pathlib import Path
from typing import Any, Final, Literal, Protocol

__all__ = ["EncodingName", "bpe_openai_dir", "count_encoded", "encoding_for_model", "split_safely"]

EncodingName = Literal["o200k_base", "cl100k_base"]

# Longest prefix wins, so "gpt-4o" is tried before "gpt-4" and "gpt-4.1" before "gpt-4".
# Sources: tiktoken/model.py (MODEL_PREFIX_TO_ENCODING) and OpenAI's model pages.
_PREFIXES: Final[dict[str, EncodingName]] = {
    # o200k_base: GPT-4o and everything after it.
    "gpt-4o": "o200k_base",
    "chatgpt-4o": "o200k_base",
    "gpt-4.1": "o200k_base",
    "gpt-4.5": "o200k_base",
    "gpt-5": "o200k_base",
    "gpt-oss": "o200k_base",  # o200k_harmony: o200k_base plus chat specials; same text counts
    "o1": "o200k_base",
    "o3": "o200k_base",
    "o4": "o200k_base",
    "codex-": "o200k_base",
    "computer-use-preview": "o200k_base",
    "omni-moderation": "o200k_base",
    # cl100k_base: GPT-4 (incl. turbo/32k/vision), GPT-3.5 Turbo, the embeddings.
    "gpt-4": "cl100k_base",
    "gpt-3.5-turbo": "cl100k_base",
    "gpt-35-turbo": "cl100k_base",  # Azure spelling
    "text-embedding-ada-002": "cl100k_base",
    "text-embedding-3-": "cl100k_base",
}
_ORDERED_PREFIXES: Final = sorted(_PREFIXES, key=len, reverse=True)
_BY_NAME: Final[dict[str, EncodingName]] = {
    "o200k_base": "o200k_base",
    "cl100k_base": "cl100k_base",
}
_O_SERIES: Final = frozenset({"o1", "o3", "o4"})
_CHUNK_CHARS: Final = 256 * 1024
# Look this far back from a chunk's end for a safe cut before giving up and counting the
# whole rest in one call (correct, merely a longer call).
_CUT_WINDOW: Final = 64 * 1024
_NEXT_CUT: Final = re.compile(r"(?<=[^\W_]) ")  # a space after a letter or digit (isalnum)


def _normalise(model: str) -> str:
    name = model.strip().lower()
    if name.startswith("ft:"):  # "ft:gpt-4o-mini-2024-07-18:org::id" → base model
        name = name[3:].split(":", 1)[0]
    # Provider or router prefixes: "openai/gpt-4o", "azure/gpt-4o", "openrouter/openai/o3".
    return name.rsplit("/", 1)[-1]


@functools.lru_cache(maxsize=4096)  # on every admission; model names are few
def encoding_for_model(model: str) -> EncodingName | None:
    """The tokenizer encoding of an OpenAI model, or ``None`` when none is public.

    Accepts dated snapshots (``gpt-4o-2024-08-06``), provider prefixes (``openai/gpt-4o``),
    fine-tunes (``ft:gpt-4o-mini:…``) and encoding names themselves.
    """
    name = _normalise(model)
    direct = _BY_NAME.get(name)
    if direct is not None:
        return direct
    for prefix in _ORDERED_PREFIXES:
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix) :]
        # The o-series names are short: "o3" and "o3-mini-2025-01-31" match, "o3x" does not.
        if prefix in _O_SERIES and rest and rest[0] != "-":
            continue
        return _PREFIXES[prefix]
    return None


class _Counter(Protocol):
    def count(self, text: str, /) -> int: ...


_lock = threading.Lock()
_counters: dict[str, _Counter] = {}
# Counts of texts up to 4 KiB, memoised: every admission brings back the same roles, names
# and — in most apps — the same system prompt, and hashing a string is ~50x cheaper than
# counting its tokens. Bounded: at most 1,024 texts of at most 4,096 characters per encoding,
# cleared when full and refilled by what recurs. Dict get/set are atomic under the GIL.
_SHORT_CHARS: Final = 4096
_SHORT_ENTRIES: Final = 1024
_short_counts: dict[str, dict[str, int]] = {"o200k_base": {}, "cl100k_base": {}}


def _counter(encoding: EncodingName) -> _Counter:
    """The Rust counter for ``encoding``, built once per process (double-checked lock)."""
    found = _counters.get(encoding)
    if found is not None:
        return found
    with _lock:
        found = _counters.get(encoding)
        if found is None:
            found = _bindings().tokenizer_for_encoding(encoding)
            _counters[encoding] = found
        return found


def bpe_openai_dir() -> Path:
    """The installed ``bpe_openai`` package directory, found without importing the package."""
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("bpe-openai is not installed (a costcap dependency)")
    return Path(next(iter(spec.submodule_search_locations)))


def _bindings() -> Any:
    """The Rust extension ``bpe_openai._bindings``, loaded without ``bpe_openai/__init__``.

    Importing the ``bpe_openai`` package parses both rank files into Python dicts at import
    time (~0.3 s, tens of MB) and emits a ``DeprecationWarning`` (``open_binary``) that our
    ``filterwarnings = error`` test runs — and our users' — turn into errors. The extension
    embeds its own tokenizer tables and needs none of that, so we load it from its file.
    Called with ``_lock`` held.
    """
    name = "bpe_openai._bindings"
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    for path in sorted(bpe_openai_dir().glob("_bindings.*")):
        if path.suffix in {".so", ".pyd"}:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                return sys.modules.setdefault(name, module)
    raise ModuleNotFoundError(f"no {name} extension in {bpe_openai_dir()}")


def _clean(text: str) -> str:
    """Replace lone surrogates by U+FFFD, exactly as tiktoken does before encoding."""
    if text.isascii():  # the common case, checked without encoding the whole text
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _last_cut(text: str, low: int, high: int) -> int:
    """The largest cut ``i`` with ``low < i <= high``, or -1."""
    index = text.rfind(" ", low + 1, high + 1)
    while index > low:
        if text[index - 1].isalnum():
            return index
        index = text.rfind(" ", low + 1, index)
    return -1


def split_safely(text: str, size: int = _CHUNK_CHARS) -> list[str]:
    """Cut ``text`` into pieces of about ``size`` characters at pre-token boundaries.

    A cut goes just before an ASCII space that follows a letter or digit, as late as
    possible within ``size``; when the last ``_CUT_WINDOW`` characters hold none, at the
    next one after it (a long unbroken run makes one long piece). The pieces concatenate to
    ``text`` and their counts add up to its count.
    """
    pieces: list[str] = []
    start = 0
    while len(text) - start > size:
        end = start + size
        cut = _last_cut(text, max(start, end - _CUT_WINDOW), end)
        if cut < 0:
            found = _NEXT_CUT.search(text, end)
            if found is None:
                break
            cut = found.start()
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def count_encoded(text: str, encoding: EncodingName) -> int:
    """Exact number of tokens of ``text`` in ``encoding``, special-token strings as text.

    Matches ``tiktoken.Encoding.encode_ordinary`` (what the API does with user content).
    """
    if not text:
        return 0
    if len(text) <= _SHORT_CHARS:  # roles, names, system prompts: the same texts recur
        cached = _short_counts[encoding].get(text)
        if cached is not None:
            return cached
    counter = _counter(encoding)
    count = (
        counter.count(_clean(text))
        if len(text) <= _CHUNK_CHARS
        else sum(counter.count(piece) for piece in split_safely(_clean(text)))
    )
    if len(text) <= _SHORT_CHARS:
        short = _short_counts[encoding]
        if len(short) >= _SHORT_ENTRIES:
            short.clear()  # bounded memory; refilled by what recurs
        short[text] = count
    return count
