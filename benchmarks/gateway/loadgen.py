"""An open-loop HTTP/1.1 load generator: requests sent on a fixed schedule, over raw keep-alive
connections on asyncio streams (no HTTP client library: httpx costs more CPU per request than a
gateway on this machine).

Request *i* is due at ``t0 + i / rate``. It goes out on an idle keep-alive connection, or on a
new one when every open connection is busy (up to ``--max-connections``; past that it waits for
one). A slow server therefore never slows the schedule: its queue shows up in the latencies.
Each request's latency is measured two ways:

- **from the scheduled time** (``latency_*``): what a client that wanted to send at that moment
  waited — it includes any delay in sending (the generator's timer, a busy connection), so it
  does not hide a server's queue (no "coordinated omission");
- **from the send time** (``service_*``): from the moment the request was written to the socket.

Both end when the whole response has been read (for a stream: its last chunk). ``ttfb_*`` is
from the send time to the first byte of the body. Run as a script, it prints one JSON object::

    python loadgen.py --url http://127.0.0.1:8080/v1/chat/completions --body-file body.json \\
        --header 'Authorization: Bearer sk-…' --rate 200 --seconds 10 [--warmup 2]

Bounded: it sends ``rate × (warmup + seconds)`` requests and stops waiting ``--drain`` seconds
after the last one is due.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["Target", "percentile", "run_open_loop"]


@dataclass(frozen=True)
class Target:
    """Where to send, and the request's bytes (built once, sent as is)."""

    host: str
    port: int
    request: bytes

    @classmethod
    def build(cls, url: str, body: bytes, headers: Sequence[str] = ()) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"expected an http:// URL, not {url!r}")
        port = parts.port or 80
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {parts.hostname}:{port}",
            "Content-Type: application/json",
            "Accept: */*",
            f"Content-Length: {len(body)}",
            *headers,
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return cls(parts.hostname, port, head + body)


class BadResponse(Exception):
    """A response this generator cannot read (not HTTP/1.1, a malformed chunk...)."""


#: An idle connection older than this is closed rather than reused: servers close idle
#: keep-alive connections (uvicorn after 5 s), and a request written as the server closes its
#: connection fails for a reason of the generator's making.
IDLE_REUSE_S = 2.0


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, float, bool]:
    """``(status, perf_counter at the body's first byte, keep the connection)``."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        raise BadResponse(head[:40])
    status = int(head[9:12])
    length: int | None = None
    chunked = False
    keep = head.startswith(b"HTTP/1.1")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep = value.strip().lower() != b"close"
    first = 0.0
    if chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, if any
                    pass
                break
            await reader.readexactly(size + 2)
            if not first:
                first = time.perf_counter()
    elif length is not None:
        await reader.readexactly(length)
        first = time.perf_counter()
    else:  # delimited by the end of the connection
        await reader.read()
        first = time.perf_counter()
        keep = False
    return status, first, keep


@dataclass
class _Run:
    target: Target
    max_connections: int
    idle: list[_Connection] = field(default_factory=list)
    open_count: int = 0
    freed: asyncio.Event = field(default_factory=asyncio.Event)
    # one row per recorded request: (scheduled, sent, first byte, done, status); status 0 = error
    rows: list[tuple[float, float, float, float, int]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    connections_opened: int = 0

    async def connection(self) -> _Connection:
        while True:
            while self.idle:
                conn = self.idle.pop()  # the most recently used: a few connections stay warm
                if conn.reader.at_eof() or time.perf_counter() - conn.idle_since > IDLE_REUSE_S:
                    self.open_count -= 1
                    conn.writer.close()
                    continue
                return conn
            if self.open_count < self.max_connections:
                self.open_count += 1
                try:
                    reader, writer = await asyncio.open_connection(
                        self.target.host, self.target.port, limit=1 << 20
                    )
                except OSError:
                    self.open_count -= 1
                    raise
                self.connections_opened += 1
                return _Connection(reader, writer)
            self.freed.clear()
            await self.freed.wait()

    def release(self, conn: _Connection, keep: bool) -> None:
        if keep:
            conn.idle_since = time.perf_counter()
            self.idle.append(conn)
        else:
            self.open_count -= 1
            conn.writer.close()
        self.freed.set()

    async def one(self, scheduled: float, record: bool) -> None:
        sent = first = 0.0
        status = 0
        conn: _Connection | None = None
        keep = False
        try:
            conn = await self.connection()
            sent = time.perf_counter()
            conn.writer.write(self.target.request)
            status, first, keep = await _read_response(conn.reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            self._error(type(exc).__name__)
        except (BadResponse, ValueError) as exc:
            self._error(f"bad response: {exc}"[:80])
        finally:
            if conn is not None:
                self.release(conn, keep)
        done = time.perf_counter()
        if status and status != 200:
            self._error(f"HTTP {status}")
        if record:
            self.rows.append((scheduled, sent, first, done, status))

    def _error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    async def close(self) -> None:
        for conn in self.idle:
            conn.writer.close()
        self.idle.clear()


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of *values*, nearest rank (values need not be sorted)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


async def run_open_loop(
    target: Target,
    *,
    rate: float,
    seconds: float,
    warmup: float = 2.0,
    drain: float = 10.0,
    preopen: int = 4,
    max_connections: int = 256,
) -> dict[str, object]:
    """Send ``rate`` requests a second for ``warmup + seconds``; figures of the last ``seconds``."""
    run = _Run(target, max_connections)
    for _ in range(preopen):  # a few warm connections: a new one costs a handshake
        run.open_count += 1
        reader, writer = await asyncio.open_connection(target.host, target.port, limit=1 << 20)
        run.connections_opened += 1
        run.idle.append(_Connection(reader, writer, time.perf_counter()))
    tasks: set[asyncio.Task[None]] = set()
    warm_n = round(rate * warmup)
    total = warm_n + round(rate * seconds)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter() + 0.01
    for i in range(total):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(run.one(due, record=i >= warm_n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    last_due = t0 + (total - 1) / rate
    if tasks:
        await asyncio.wait(set(tasks), timeout=max(0.0, last_due + drain - time.perf_counter()))
    for task in list(tasks):
        task.cancel()
    if tasks:
        await asyncio.wait(set(tasks), timeout=1)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - t0
    await run.close()
    rows = run.rows
    unfinished = total - warm_n - len(rows)  # recorded requests still waiting at the end
    ok = [r for r in rows if r[4] == 200]
    window_start = t0 + warm_n / rate
    window_end = max((r[3] for r in ok), default=window_start)
    ms = 1000.0
    latency = [(r[3] - r[0]) * ms for r in ok]
    service = [(r[3] - r[1]) * ms for r in ok]
    ttfb = [(r[2] - r[1]) * ms for r in ok if r[2]]
    lag = [(r[1] - r[0]) * ms for r in ok]
    out: dict[str, object] = {
        "rate": rate,
        "seconds": seconds,
        "scheduled": total - warm_n,
        "ok": len(ok),
        "failed": len(rows) - len(ok),
        "unfinished": unfinished,
        "errors": run.errors,
        "achieved_rps": len(ok) / (window_end - window_start) if window_end > window_start else 0,
        "connections_opened": run.connections_opened,
        "cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
        "wall_s": wall,
    }
    for name, values in (("latency", latency), ("service", service), ("ttfb", ttfb)):
        for q in (50, 90, 99, 99.9):
            out[f"{name}_p{q:g}_ms"] = percentile(values, q)
        out[f"{name}_max_ms"] = max(values, default=math.nan)
    out["send_lag_p50_ms"] = percentile(lag, 50)
    out["send_lag_p99_ms"] = percentile(lag, 99)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True, type=Path)
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--rate", type=float, default=200.0, help="requests a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds sent, not recorded")
    parser.add_argument("--drain", type=float, default=10.0)
    parser.add_argument("--max-connections", type=int, default=256)
    args = parser.parse_args()
    target = Target.build(args.url, args.body_file.read_bytes(), args.header)
    try:
        import uvloop  # the generator's own overhead is lower on it; plain asyncio otherwise
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    result = runner(
        run_open_loop(
            target,
            rate=args.rate,
            seconds=args.seconds,
            warmup=args.warmup,
            drain=args.drain,
            max_connections=args.max_connections,
        )
    )
    result["loop"] = "uvloop" if runner is not asyncio.run else "asyncio"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
