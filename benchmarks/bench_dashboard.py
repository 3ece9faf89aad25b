"""Dashboard latency over a big ledger: each panel's ``api/NAME`` and the whole ``panels``
fragment (every panel and both charts: what the live refresh asks for every few seconds).

    .venv/bin/python benchmarks/bench_dashboard.py [--events 10000000] [--backends sqlite]
        [--repeat 5] [--dir /tmp/costcap-bench] [--fresh]

**The ledger** is ``bench_reports.py``'s (90 days ending 2026-03-31, 5,000 users, 8 features,
6 models; built by its fast path and checked against its events, reused when already built):
see that script's docstring. ``--events`` picks its size.

**What is timed**: a GET through the app in process (Starlette's test client: the routing, the
worker thread, the ledger opened read-only, the reports, the HTML or JSON; no socket), after a
warm-up GET of the same URL, ``--repeat`` times; the median is shown. Four queries: all 90
days, the last 7, one feature, one user. ``panels`` is timed twice: with its charts drawn on
every GET (a new app each time: nothing kept) and with the charts kept from the warm-up (the
live refresh of unchanged figures). The budgets come from a costcap.toml with a global daily
and a ``user:*`` monthly budget over an in-memory store.

The anomalies and the budgets' pacing are judged *now*, and the ledger ends on 2026-03-31:
their reads of the last hours find no call (``bench_reports.py`` times the anomalies as of
the ledger's last day: 70–77 ms at 10M).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))

import bench_reports as ledgers  # the ledger builder beside this script

from costcap.cli.dashboard import dashboard_app

PANELS = ("time", "features", "users", "per-user", "models", "budgets", "alerts", "refused",
          "cache", "routes", "anomalies")  # fmt: skip
QUERIES = {
    "90 days": "",
    "last 7 days": "since=2026-03-25&until=2026-03-31",
    "one feature": "feature=search",
    "one user": "user=user-00007",
}
CONFIG = """
[guard]
store = "memory://"

[ledger]
url = "{ledger}"

[[budgets]]
scope = "global"
period = "day"
limit_usd = 500

[[budgets]]
scope = "user:*"
period = "month"
limit_usd = 20
"""


def _median_ms(get: Callable[[], Any], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        get()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def _get(client: TestClient, path: str) -> None:
    response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"GET {path}: {response.status_code} {response.text[:300]}")


def time_dashboard(url: str, config: Path, repeat: int) -> dict[tuple[str, str], float]:
    config.write_text(CONFIG.format(ledger=url))
    out: dict[tuple[str, str], float] = {}

    def app() -> Any:
        return dashboard_app(url, config, refresh=5, password=None)

    with TestClient(app()) as client:
        for label, query in QUERIES.items():
            for name in PANELS:
                path = f"/api/{name}?{query}"
                _get(client, path)  # warm-up: the database's pages, the guard opened
                out[(f"api/{name}", label)] = _median_ms(partial(_get, client, path), repeat)
            path = f"/panels?{query}"
            _get(client, path)
            out[("panels (charts kept)", label)] = _median_ms(partial(_get, client, path), repeat)

            def fresh(p: str = path) -> None:
                with TestClient(app()) as other:
                    _get(other, p)

            out[("panels (charts drawn)", label)] = _median_ms(fresh, repeat)
    return out


def _ready(target: ledgers.Target) -> bool:
    """Whether the ledger is built and checked (a database without it: not yet)."""
    from costcap.reports import NoLedger

    try:
        return ledgers.ready(target)
    except NoLedger:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/costcap-bench"))
    parser.add_argument("--fresh", action="store_true", help="rebuild the ledger")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    columns: dict[str, dict[tuple[str, str], float]] = {}
    for backend in args.backends.split(","):
        target = ledgers.Target(
            backend, args.events, ledgers.url_for(backend, args.events, args.dir)
        )
        if args.fresh or not _ready(target):
            ledgers.drop(target)
            print(f"building {backend} ledger of {args.events:,} events …", flush=True)
            (ledgers.build_sqlite if backend == "sqlite" else ledgers.build_postgres)(target)
        config = args.dir / f"dashboard-{backend}.toml"
        columns[backend] = time_dashboard(target.url, config, args.repeat)
    heads = [f"{b} {q}" for b in columns for q in QUERIES]
    print(f"\n{args.events:,} events; median ms of {args.repeat} GETs after a warm-up\n")
    print("| GET | " + " | ".join(heads) + " |")
    print("|---|" + "---:|" * len(heads))
    names = [f"api/{n}" for n in PANELS] + ["panels (charts kept)", "panels (charts drawn)"]
    for name in names:
        cells = [f"{columns[b][(name, q)]:.1f}" for b in columns for q in QUERIES]
        print(f"| `{name}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
