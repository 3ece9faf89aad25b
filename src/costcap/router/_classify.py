"""The heuristic classifier: which built-in tier a request needs, and why, in microseconds.

:func:`classify` adds up points for signals it reads in the request and maps the score to a
tier: **0–1 simple, 2–4 complex, 5 or more critical**. It is local and deterministic (the
same request always gets the same answer) and never tokenizes: sizes are characters / 4, an
estimate good enough to tell a line from a page from a book. Cue words are looked for in a
bounded window — the first 800 and the last 600 characters of the prompt (the last user turn),
where a long prompt's instructions sit, and the first 400 of the system text — so its cost does
not grow with the prompt (``benchmarks/bench_router.py``: a few tens of µs at 2,000 tokens).

The signals, in the order their reasons are listed:

=============  ================================================================  ============
signal         when                                                              points
=============  ================================================================  ============
length         the request's text ≥ 600 est. tokens / ≥ 2,500 / ≥ 10,000         +1 / +2 / +3
detail         a prompt of 120+ characters in a request under 600 est. tokens    +1
code           a fenced code block (```) in the window, or 3+ marks of code in   +2, +3 with
               it (each distinct code keyword — def, elif, lambda, self, const,  a code task
               var, let, fn, struct, void, int, null, println, async, … — one   word
               mark; two or more ``{`` two; a ``select … from`` two); or a
               code task word alone (implement, refactor, debug, function,       +2
               regex, sql, python, …)
reasoning      distinct cues: why, explain, analyze, compare, difference,        1 cue +1,
               trade-off, evaluate, justify, derive, compute, optimize, design,  2 cues +2,
               architecture, strategy, plan, recommend, review, outline, draft,  3+ cues +3
               identify, diagnose, constraints, step by step, pros and cons, …
hard           distinct cues of hard or high-stakes work: prove, proof,          1 cue +3,
               theorem, rigorous, verify, security, vulnerability, exploit,      2+ cues +4
               legal, clause, liability, compliance, gdpr, hipaa, medical,
               patient, dosage, clinical, concurrency, lock-free, distributed,
               consensus, replication, invariant, audit, race condition,
               threat model, edge cases, …
steps          3+ numbered or bulleted lines in the window (6+: +2), or 3+       +1 / +2
               sequencing words (first, then, next, finally, after that)
structured     the request asks for JSON (``response_format``, ``text.format``,  +1
               ``output_format``) or the prompt names a format (json, yaml,
               csv, xml, schema, table)
turns          a conversation of 6+ / 16+ messages                               +1 / +2
tools          1+ / 6+ tool definitions                                          +1 / +2
max_tokens     a requested output limit ≥ 4,000 / ≥ 16,000; ≤ 300                +1 / +2; −1
quick task     a prompt under 300 characters with a cue of a quick task:         −1
               translate, define, synonym, rephrase, spell, grammar, typo,
               sentiment, classify, hello, thanks, what is, who is, when did,
               one sentence, one word, yes or no, tl;dr
=============  ================================================================  ============

The weights were chosen with the labelled prompts in ``tests/router/data/prompts.jsonl`` at
hand, so the accuracy ``costcap route eval`` reports on that file flatters the heuristic; the
figure that counts is the one on your own traffic.

The score never goes below 0. Each signal that fires adds a short reason (``"code block"``,
``"reasoning: compare, trade-off"``, ``"input ~3,100 tokens"``); a request with none gets
``"short, no cues"``. Accuracy on a team's own traffic is measured, not promised:
``costcap route eval``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from costcap.router._content import Content

__all__ = ["Classification", "classify", "level_tier"]

# Thresholds (characters are read as tokens at 4 characters a token).
CHARS_PER_TOKEN = 4
LONG_TOKENS, DOCUMENT_TOKENS, BOOK_TOKENS = 600, 2_500, 10_000
COMPLEX_SCORE, CRITICAL_SCORE = 2, 5
HEAD_CHARS, TAIL_CHARS, SYSTEM_CHARS = 800, 600, 400
MANY_TURNS, VERY_MANY_TURNS = 6, 16
MANY_TOOLS = 6
LONG_ANSWER, VERY_LONG_ANSWER, SHORT_ANSWER = 4_000, 16_000, 300
CODE_MARKS = 3
DETAILED_CHARS, QUICK_CHARS = 120, 300

_LEVELS = ("simple", "complex", "critical")

# Lower-case ASCII letters, digits and - kept; everything else (non-ASCII bytes included)
# becomes a space, so that ``bytes.split`` gives the words ("tl;dr" reads "tl dr").
_KEEP = b"abcdefghijklmnopqrstuvwxyz0123456789-"
_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_OTHER = bytes(b for b in range(256) if b not in _KEEP and b not in _UPPER)
_WORDS = bytes.maketrans(_UPPER + _OTHER, _UPPER.lower() + b" " * len(_OTHER))

_REASONING = frozenset(
    b"why explain analyze analyse analysis compare comparison difference differences trade-off "
    b"trade-offs tradeoff tradeoffs evaluate justify derive calculate compute estimate optimize "
    b"optimise design architecture strategy plan reason reasoning recommend critique assess "
    b"implications review outline draft identify diagnose diagnosis constraints".split()
)
_REASONING_PHRASES = (b" step by step ", b" pros and cons ", b" root cause ", b" think through ")
_HARD = frozenset(
    b"prove proof theorem lemma rigorous rigorously formally verify security vulnerability "
    b"vulnerabilities exploit legal clause liability indemnify compliance regulatory gdpr "
    b"hipaa medical patient dosage dosing clinical concurrency lock-free distributed consensus "
    b"replication invariant invariants cryptographic audit".split()
)
_HARD_PHRASES = (b" race condition ", b" threat model ", b" edge cases ", b" production incident ")
_CODE_TASKS = frozenset(
    b"implement refactor debug function functions code script regex sql compile compiler "
    b"algorithm bug traceback endpoint api class method unittest pytest typescript python "
    b"javascript rust golang java kotlin".split()
)
_CODE_WORDS = frozenset(
    b"def elif lambda kwargs args self init const var val let func fn impl struct typedef enum "
    b"void int str bool boolean nullptr null println printf console println async await endif "
    b"namespace".split()
)
_FORMATS = frozenset(b"json yaml csv xml schema table".split())
_SEQUENCE = frozenset(b"first then next finally afterwards".split())
_SEQUENCE_PHRASES = (b" after that ",)
_QUICK = frozenset(
    b"translate define definition synonym synonyms rephrase paraphrase spell spelling grammar "
    b"typo sentiment classify hello hi hey thanks".split()
)
_QUICK_PHRASES = (b" what is ", b" who is ", b" one sentence ", b" one word ", b" yes or no ",
                  b" when did ", b" what s ", b" tl dr ")  # fmt: skip
_LISTED = re.compile(rb"\n[ \t]*(?:[0-9]{1,2}[.)]|[-*]|\xe2\x80\xa2)[ \t]")  # 1. 2) - * •


@dataclass(frozen=True, slots=True)
class Classification:
    """A classifier's answer: the ``tier``, the ``reasons`` (short phrases, in the order the
    signals are listed) and the ``score`` they add up to (None from a classifier that gives
    none)."""

    tier: str
    reasons: tuple[str, ...] = ()
    score: int | None = None


def level_tier(score: int) -> str:
    """The built-in tier of a score: 0–1 simple, 2–4 complex, 5+ critical."""
    if score >= CRITICAL_SCORE:
        return "critical"
    return "complex" if score >= COMPLEX_SCORE else "simple"


class _View:
    """The window of a request the cue signals read (see the module docstring)."""

    __slots__ = ("content", "lowered", "raw", "words")

    def __init__(self, content: Content) -> None:
        prompt = content.prompt
        if len(prompt) > HEAD_CHARS + TAIL_CHARS:
            prompt = f"{prompt[:HEAD_CHARS]}\n{prompt[-TAIL_CHARS:]}"
        text = f"\n{prompt}\n{content.system[:SYSTEM_CHARS]}\n"
        self.content = content
        self.raw = text.encode("utf-8", "surrogatepass")  # for code marks and list lines
        self.lowered = self.raw.translate(_WORDS)  # space-padded lower-case words, for cues
        self.words = frozenset(self.lowered.split())

    def found(self, vocabulary: frozenset[bytes], phrases: tuple[bytes, ...] = ()) -> list[str]:
        """The distinct cues of ``vocabulary`` and ``phrases`` in the window, sorted."""
        hits = [w.decode() for w in sorted(vocabulary.intersection(self.words))]
        hits += [p.strip().decode() for p in phrases if p in self.lowered]
        return hits


_Signal = tuple[int, str | None]


def _length(view: _View) -> _Signal:
    tokens = view.content.chars // CHARS_PER_TOKEN
    if tokens < LONG_TOKENS:
        return 0, None
    points = 3 if tokens >= BOOK_TOKENS else 2 if tokens >= DOCUMENT_TOKENS else 1
    return points, f"input ~{tokens:,} tokens"


def _code_marks(view: _View) -> int:
    """Distinct code keywords in the window, +2 for two or more ``{``, +2 for a
    ``select … from``."""
    marks = len(_CODE_WORDS.intersection(view.words))
    marks += 2 if view.raw.count(b"{") >= 2 else 0
    return marks + (2 if b" select " in view.lowered and b" from " in view.lowered else 0)


def _code(view: _View) -> _Signal:
    points, found = 0, []
    if b"```" in view.raw:
        points, found = 2, ["code block"]
    elif _code_marks(view) >= CODE_MARKS:
        points, found = 2, ["code in the prompt"]
    tasks = view.found(_CODE_TASKS)
    if tasks:
        points = 3 if points else 2
        found.append(f"code task: {', '.join(tasks[:3])}")
    return points, ", ".join(found) or None


def _reasoning(view: _View) -> _Signal:
    cues = view.found(_REASONING, _REASONING_PHRASES)
    return min(len(cues), 3), f"reasoning: {', '.join(cues[:4])}" if cues else None


def _hard(view: _View) -> _Signal:
    cues = view.found(_HARD, _HARD_PHRASES)
    if not cues:
        return 0, None
    return 4 if len(cues) >= 2 else 3, f"hard: {', '.join(cues[:4])}"


def _detail(view: _View) -> _Signal:
    asked = len(view.content.prompt)
    if asked < DETAILED_CHARS or view.content.chars // CHARS_PER_TOKEN >= LONG_TOKENS:
        return 0, None  # a long input already counts under length
    return 1, f"detailed request ({asked:,} characters)"


def _steps(view: _View) -> _Signal:
    listed = len(_LISTED.findall(view.raw))
    if listed >= 3:
        return 2 if listed >= 6 else 1, f"{listed} listed steps"
    if len(view.found(_SEQUENCE, _SEQUENCE_PHRASES)) >= 3:
        return 1, "sequenced steps"
    return 0, None


def _structured(view: _View) -> _Signal:
    if view.content.structured:
        return 1, "structured output"
    formats = view.found(_FORMATS)
    return (1, f"asks for {formats[0]}") if formats else (0, None)


def _turns(view: _View) -> _Signal:
    turns = view.content.turns
    if turns < MANY_TURNS:
        return 0, None
    return 2 if turns >= VERY_MANY_TURNS else 1, f"{turns} turns"


def _tools(view: _View) -> _Signal:
    tools = view.content.tools
    if not tools:
        return 0, None
    return 2 if tools >= MANY_TOOLS else 1, f"{tools} tool{'s' if tools > 1 else ''}"


def _max_tokens(view: _View) -> _Signal:
    asked = view.content.max_tokens
    if asked is None or SHORT_ANSWER < asked < LONG_ANSWER:
        return 0, None
    points = 2 if asked >= VERY_LONG_ANSWER else 1 if asked >= LONG_ANSWER else -1
    return points, f"max_tokens {asked:,}"


def _quick(view: _View) -> _Signal:
    if len(view.content.prompt) >= QUICK_CHARS:
        return 0, None
    quick = view.found(_QUICK, _QUICK_PHRASES)
    return (-1, f"quick task: {', '.join(quick[:2])}") if quick else (0, None)


#: The signals, in the order their reasons are listed.
SIGNALS = (_length, _detail, _code, _reasoning, _hard, _steps, _structured, _turns, _tools,
           _max_tokens, _quick)  # fmt: skip


def classify(content: Content) -> Classification:
    """The heuristic tier of ``content`` (simple, complex or critical), with its reasons."""
    view = _View(content)
    score, reasons = 0, []
    for signal in SIGNALS:
        points, reason = signal(view)
        if reason is not None:
            score += points
            reasons.append(reason)
    score = max(score, 0)
    return Classification(level_tier(score), tuple(reasons) or ("short, no cues",), score)
