"""Benchmark the token counters: load time, throughput (MB/s) and memory.

Compares costcap's runtime counter (bpe-openai's Rust ``count``, loaded without importing
the ``bpe_openai`` package) with tiktoken built offline from the same bundled ranks, for
o200k_base and cl100k_base, on English and multilingual text from tests/tokens/corpus; then
the paths for a model without a public tokenizer: ``count_text`` (the calibrated estimate)
and ``upper_bound_text`` (the guaranteed bound) for a Claude model, on the same texts; and
last, per script, how the Claude estimate and bound compare with the public Claude
tokenizer (tests/tokens/data, run with the ``tokenizers`` dev dependency) on every text of
tests/tokens/corpus and tests/tokens/heldout.

Run:  .venv/bin/python benchmarks/bench_tokens.py [--runs 5] [--megabytes 2] [--clock cpu]
Load time and resident-memory growth (VmRSS, Linux) are measured in a fresh subprocess
per run; throughput in this process after a warm-up, by the wall clock or, with
``--clock cpu``, by this process's CPU time (steadier on a shared machine: time spent
waiting for a core is not counted). All figures are medians. Output is markdown tables.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

TOKEN_TESTS = Path(__file__).resolve().parent.parent / "tests" / "tokens"
CORPUS = TOKEN_TESTS / "corpus"
ENGLISH = ["english", "code"]
MULTILINGUAL = ["english", "code", "chinese", "japanese", "arabic", "hindi", "russian", "emoji"]
ENCODINGS = ["o200k_base", "cl100k_base"]
ESTIMATED_MODEL = "claude-sonnet-4-5"

# Fresh-process probe: load a counter, count a short string, report seconds and RSS growth.
_PROBE = """
import json, sys, time
counter, encoding = sys.argv[1], sys.argv[2]

def rss_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

rss0 = rss_kb()
t0 = time.perf_counter()
if counter == "bpe-openai":
    from costcap.tokens._encodings import count_encoded
    count_encoded("warm up", encoding)
elif counter == "bpe-openai-package":
    import warnings
    warnings.simplefilter("ignore")
    import bpe_openai
    bpe_openai.get_encoding(encoding).encode("warm up")
else:
    from costcap.tokens._reference import reference_encoding
    reference_encoding(encoding).encode_ordinary("warm up")
seconds = time.perf_counter() - t0
rss1 = rss_kb()
print(json.dumps({"seconds": seconds, "rss_mb": (rss1 - rss0) / 1024}))
"""


def _text(names: list[str], megabytes: float) -> str:
    parts = [(CORPUS / f"{n}.txt").read_text(encoding="utf-8") for n in names]
    block = "\n".join(parts)
    target = int(megabytes * 1_000_000)
    repeats = target // len(block.encode()) + 1
    return block * repeats


def _load(counter: str, encoding: str, runs: int) -> tuple[float, float]:
    seconds, rss = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, counter, encoding],
            capture_output=True,
            text=True,
            check=True,
        )
        probe = json.loads(out.stdout)
        seconds.append(probe["seconds"])
        rss.append(probe["rss_mb"])
    return statistics.median(seconds), statistics.median(rss)


def _throughput(
    count: Callable[[str], int], text: str, runs: int, clock: Callable[[], float]
) -> tuple[float, int]:
    size_mb = len(text.encode()) / 1_000_000
    tokens = count(text)  # warm-up
    times = []
    for _ in range(runs):
        start = clock()
        count(text)
        times.append(clock() - start)
    return size_mb / statistics.median(times), tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--megabytes", type=float, default=2.0)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args(argv)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    from costcap.tokens._encodings import count_encoded
    from costcap.tokens._reference import reference_encoding

    texts = {
        "English": _text(ENGLISH, args.megabytes),
        "multilingual": _text(MULTILINGUAL, args.megabytes),
    }
    print(
        f"Median of {args.runs} runs; {args.megabytes:g} MB per text; {args.clock} clock; "
        f"Python {sys.version.split()[0]}"
    )
    print()
    print("| counter | encoding | load (s) | load RSS (MB) | English MB/s | multilingual MB/s |")
    print("|---|---|---:|---:|---:|---:|")
    for encoding in ENCODINGS:
        reference = reference_encoding(encoding)
        counters: dict[str, Callable[[str], int] | None] = {
            "bpe-openai": lambda t, e=encoding: count_encoded(t, e),  # type: ignore[misc]
            "tiktoken": lambda t, r=reference: len(r.encode_ordinary(t)),  # type: ignore[misc]
            "bpe-openai-package": None,  # load only: what `import bpe_openai` would cost
        }
        for name, count in counters.items():
            load_s, rss = _load(name, encoding, args.runs)
            cells = ["—", "—"]
            if count is not None:
                cells = []
                for text in texts.values():
                    mbps, _ = _throughput(count, text, args.runs, clock)
                    cells.append(f"{mbps:.1f}")
            print(f"| {name} | {encoding} | {load_s:.3f} | {rss:.0f} | {cells[0]} | {cells[1]} |")
    print()
    _estimates(texts, args.runs, clock)
    print()
    _calibration()
    return 0


def _estimates(texts: dict[str, str], runs: int, clock: Callable[[], float]) -> None:
    """MB/s of the estimate and of the bound for a model without a public tokenizer."""
    from costcap.tokens import count_text, upper_bound_text

    paths: dict[str, Callable[[str], int]] = {
        "count_text (estimate)": lambda t: count_text(t, ESTIMATED_MODEL),
        "upper_bound_text (bound)": upper_bound_text,
    }
    print(f"| {ESTIMATED_MODEL} | English MB/s | multilingual MB/s |")
    print("|---|---:|---:|")
    for name, path in paths.items():
        cells = [f"{_throughput(path, text, runs, clock)[0]:.1f}" for text in texts.values()]
        print(f"| {name} | {cells[0]} | {cells[1]} |")


def _calibration() -> None:
    """Per text: the Claude estimate and bound over the public Claude tokenizer's count."""
    import math

    from tokenizers import Tokenizer  # dev-only dependency

    from costcap.tokens import count_text, upper_bound_text
    from costcap.tokens._encodings import count_encoded

    tokenizer = Tokenizer.from_file(str(TOKEN_TESTS / "data" / "claude-2-tokenizer.json"))
    print(
        "| text | Claude 0.34.2 tokens | o200k_base | flat 1.25x / Claude | "
        "estimate / Claude | bound / Claude |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for folder in ("corpus", "heldout"):
        for path in sorted((TOKEN_TESTS / folder).glob("*.txt")):
            text = path.read_text(encoding="utf-8")
            claude = len(tokenizer.encode(text, add_special_tokens=False).ids)
            o200k = count_encoded(text, "o200k_base")
            flat = math.ceil(o200k * 1.25) / claude
            estimate = count_text(text, ESTIMATED_MODEL) / claude
            bound = upper_bound_text(text) / claude
            print(
                f"| {folder}/{path.stem} | {claude:,} | {o200k:,} | {flat:.2f} | "
                f"{estimate:.2f} | {bound:.2f} |"
            )


if __name__ == "__main__":
    sys.exit(main())
