"""Run every benchmark in turn (``make bench``); each prints its own markdown table.

.venv/bin/python benchmarks/run.py [NAME ...]

names: pricing tokens router fake_provider guard limits observability wrap wire cache routing
ledger reports charts
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ORDER = (
    "pricing",
    "tokens",
    "router",
    "fake_provider",
    "guard",
    "limits",
    "observability",
    "wrap",
    "wire",
    "cache",
    "routing",
    "ledger",
    "reports",
    "charts",
)


def main(argv: list[str]) -> int:
    names = argv or list(ORDER)
    unknown = [n for n in names if n not in ORDER]
    if unknown:
        sys.stderr.write(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(ORDER)}\n"
        )
        return 2
    failed = 0
    for name in names:
        print(f"\n## {name}\n", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / f"bench_{name}.py")])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
