"""Chart rendering time: each chart of :mod:`costcap.charts` as SVG and as PNG.

    .venv/bin/python benchmarks/bench_charts.py [--repeat 15]

The input is what a 90-day dashboard draws: 90 days × 9 groups (8 features and "(other)") for
the stacked spend over time — 810 segments — and 9 features for the spend by feature. Each
render is timed ``--repeat`` times after a warm-up and the median is shown, with the size of
the output. The first chart of a process also imports matplotlib and loads its fonts; that
one-off cost is timed apart, in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from costcap.charts import Format, by_feature_chart, spend_over_time_chart
from costcap.reports import OTHER_GROUP, FeatureSpend, StackedBucket

FEATURES = ["chat", "search", "summarize", "code", "translate", "extract", "classify", "agent"]
DAYS = 90
START = date(2026, 1, 1)

# Timed in a fresh interpreter: importing costcap.charts costs nothing, the first chart pays
# for matplotlib.
_FIRST = """
import time
from costcap.charts import by_feature_chart
from costcap.reports import FeatureSpend
from decimal import Decimal
started = time.perf_counter()
by_feature_chart([FeatureSpend("chat", 1, 1, 0, 1, 1, Decimal(1), Decimal(100))])
print(time.perf_counter() - started)
"""


def stacked_rows() -> list[StackedBucket]:
    """Spend that varies by day and group, every group on every day."""
    return [
        StackedBucket(
            START + timedelta(days=d), group, 100, Decimal((d * 37 + n * 101) % 900 + 100) / 100
        )
        for d in range(DAYS)
        for n, group in enumerate([*FEATURES, OTHER_GROUP])
    ]


def feature_rows() -> list[FeatureSpend]:
    costs = [Decimal(1200 - 130 * n) for n in range(len(FEATURES) + 1)]
    total = sum(costs)
    return [
        FeatureSpend(name, 1000, 990, 10, 10**6, 10**5, cost, cost * 100 / total)
        for name, cost in zip([*FEATURES, None], costs, strict=True)
    ]


def median_ms(render: Callable[[Format], bytes], fmt: Format, repeat: int) -> tuple[float, int]:
    """The median time of a render (ms) and the size of its output (bytes)."""
    size = len(render(fmt))  # warm-up
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        render(fmt)
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), size


def first_chart_ms() -> float:
    found = subprocess.run(
        [sys.executable, "-c", _FIRST], capture_output=True, text=True, check=True
    ).stdout
    return float(found) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    import matplotlib

    stacked, features = stacked_rows(), feature_rows()

    def days(fmt: Format) -> bytes:
        return spend_over_time_chart(stacked, granularity="day", by="feature", fmt=fmt)

    def weeks(fmt: Format) -> bytes:
        return spend_over_time_chart(stacked, granularity="week", by="feature", fmt=fmt)

    def by_feature(fmt: Format) -> bytes:
        return by_feature_chart(features, fmt=fmt)

    cases = [
        (f"spend over time, {DAYS} days × 9 groups", days),
        ("spend over time, the same rows in 13 weeks", weeks),
        ("spend by feature, 9 features", by_feature),
    ]
    print(f"Python {sys.version.split()[0]}, matplotlib {matplotlib.__version__}")
    print(f"medians of {args.repeat} renders after a warm-up, one thread\n")
    print("| chart | SVG ms | SVG size | PNG ms | PNG size |")
    print("|---|---:|---:|---:|---:|")
    for name, render in cases:
        svg_ms, svg_size = median_ms(render, "svg", args.repeat)
        png_ms, png_size = median_ms(render, "png", args.repeat)
        print(f"| {name} | {svg_ms:.0f} | {svg_size / 1000:.0f} kB | {png_ms:.0f} | "
              f"{png_size / 1000:.0f} kB |")  # fmt: skip
    print(f"\nfirst chart of a process (imports matplotlib): {first_chart_ms():.0f} ms")


if __name__ == "__main__":
    main()
