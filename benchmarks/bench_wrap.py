"""What ``costcap.wrap`` adds to an OpenAI SDK call — and what LiteLLM's own call costs.

    .venv/bin/python benchmarks/bench_wrap.py [--calls N] [--repeat R]
        [--litellm-python /tmp/litellm-venv/bin/python | --no-litellm]
    .venv/bin/python benchmarks/bench_wrap.py --ladder [--calls N] [--repeat R]

Every figure is a median over ``--repeat`` rounds of the p50 of ``--calls`` calls; bare and
wrapped calls alternate call by call, and "added" is the p50 of each pair's difference (this
VM's speed drifts within seconds: separate runs of bare and wrapped calls read drift as cost).
The wrapped client runs a Guard on ``memory://`` with a global budget and a real ``Ledger``
(SQLite, spool on local disk) recording every call. Each call sends a fixed system prompt and a
user question that differs from call to call.

1. **over HTTP** — the real ``openai`` SDK against the fake provider, served by a separate
   process (its own core and GIL): p50 of a wrapped call minus p50 of a bare call, chat
   non-streamed and streamed (20 tokens, iterated to the end).
2. **in process** — the same calls answered by an ``httpx2.MockTransport`` with canned provider
   bodies (no socket, no server): what remains is the SDK's own work, so wrapped minus bare is
   costcap's work per call. For non-streamed calls it is also timed directly: the wrapped call
   minus the SDK call inside it, and ``guard.admit`` / ``guard.settle`` alone.
3. **where it goes** (``--ladder``, instead of the rest) — the same paired in-process chat call
   against wrappers that each do a little more: nothing (bare against bare: the method's
   noise); a pass-through that only writes the cap into ``extra_body`` and reads the usage (the
   least any wrapper adds); that plus the exact BPE count of the new user message alone; that
   plus costcap's whole input count instead; costcap without observers; costcap with the
   ledger (the headline row).
4. **LiteLLM** — ``litellm.acompletion(model=…, messages=…, mock_response="…")`` (no network
   either), non-streamed and streamed, timed the same way in its own virtualenv (LiteLLM is never
   a costcap dependency). Create it with
   ``python3 -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install litellm``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletionMessageParam

from costcap import AsyncGuard, Budget, Guard
from costcap.integrations.wrap import wrap
from costcap.ledger import Ledger
from costcap.tokens import count_messages
from costcap.tokens._encodings import count_encoded

MODEL = "gpt-4o-mini"
SYSTEM: ChatCompletionMessageParam = {
    "role": "system",
    "content": "You are the support assistant of a bookshop. Answer in one short sentence.",
}
_asked = itertools.count()
LITELLM_PYTHON = "/tmp/litellm-venv/bin/python"


def messages() -> list[ChatCompletionMessageParam]:
    """A fixed system prompt and a user question that differs on every call (as in an app:
    nothing about the user's text can be remembered from the previous call)."""
    question = f"Summarise the plot of Hamlet in one sentence (#{next(_asked)})."
    return [SYSTEM, {"role": "user", "content": question}]


class Ledgers:
    """The ledgers the benchmark's guards record to (SQLite, in a temporary directory)."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="costcap-bench-wrap-")
        self.open: list[Ledger] = []
        self.settings: dict[str, Any] = {}

    def new(self) -> Ledger:
        ledger = Ledger(f"sqlite:///{self.dir}/ledger-{len(self.open)}.db", **self.settings)
        self.open.append(ledger)
        return ledger

    def close(self) -> None:
        for ledger in self.open:
            ledger.close()
        shutil.rmtree(self.dir, ignore_errors=True)


LEDGERS = Ledgers()


def guard() -> Guard:
    return Guard(
        "memory://", budgets=[Budget(scope="global", period="day", limit_usd=10**9)],
        notifiers=[], observers=[LEDGERS.new()],
    )  # fmt: skip


def async_guard() -> AsyncGuard:
    return AsyncGuard(
        "memory://", budgets=[Budget(scope="global", period="day", limit_usd=10**9)],
        notifiers=[], observers=[LEDGERS.new()],
    )  # fmt: skip


def p50_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


# -- the fake provider, in its own process --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_provider() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    code = (
        "from costcap.testing import serve_fake_provider;"
        f"serve_fake_provider('127.0.0.1', {port}, log_level='warning')"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the fake provider did not start")


@contextmanager
def running_provider() -> Iterator[str]:
    """The fake provider's base URL while the block runs."""
    process, base_url = start_provider()
    try:
        yield base_url
    finally:
        process.terminate()
        process.wait(10)


# -- canned provider answers (in process) -------------------------------------------------------


def canned(base_url: str) -> dict[str, bytes]:
    """The fake provider's bodies for the calls measured, fetched once."""
    bodies: dict[str, bytes] = {}
    with httpx2.Client(base_url=base_url) as http:
        for key, extra in (
            ("json", {}),
            ("sse", {"stream": True}),
            ("sse+usage", {"stream": True, "stream_options": {"include_usage": True}}),
        ):
            response = http.post("/chat/completions", json={"model": MODEL, "messages": messages(),
                                                            **extra})  # fmt: skip
            bodies[key] = response.content
    return bodies


def mock_transport(bodies: dict[str, bytes]) -> httpx2.MockTransport:
    def answer(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        if not body.get("stream"):
            return httpx2.Response(200, content=bodies["json"],
                                   headers={"content-type": "application/json"})  # fmt: skip
        usage = (body.get("stream_options") or {}).get("include_usage")
        return httpx2.Response(
            200, content=bodies["sse+usage" if usage else "sse"],
            headers={"content-type": "text/event-stream"},
        )  # fmt: skip

    return httpx2.MockTransport(answer)


# -- one call of each kind ------------------------------------------------------------------------


def call(client: openai.OpenAI, stream: bool) -> None:
    if stream:
        sent = messages()
        with client.chat.completions.create(model=MODEL, messages=sent, stream=True) as chunks:
            for _ in chunks:
                pass
    else:
        client.chat.completions.create(model=MODEL, messages=messages())


async def acall(client: openai.AsyncOpenAI, stream: bool) -> None:
    if stream:
        chunks = await client.chat.completions.create(model=MODEL, messages=messages(), stream=True)
        async with chunks:
            async for _ in chunks:
                pass
    else:
        await client.chat.completions.create(model=MODEL, messages=messages())


def timed(fn: Callable[[], object], calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


async def atimed(fn: Callable[[], Awaitable[object]], calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - started)
    return samples


Triple = tuple[float, float, float]


def median_rounds(rounds: list[Triple]) -> Triple:
    b, w, d = (statistics.median(r[i] for r in rounds) for i in range(3))
    return b, w, d


def paired(bare: list[float], wrapped: list[float]) -> Triple:
    """(bare p50, wrapped p50, p50 of wrapped − bare per pair), in µs."""
    diffs = [w - b for b, w in zip(bare, wrapped, strict=True)]
    return p50_us(bare), p50_us(wrapped), p50_us(diffs)


def compare(
    bare: openai.OpenAI, wrapped: openai.OpenAI, stream: bool, calls: int, repeat: int
) -> Triple:
    """Median over rounds of (bare p50, wrapped p50, p50 of the per-pair difference), in µs.

    Bare and wrapped calls alternate call by call (which goes first alternates too), and the
    added cost is the median of each pair's difference: this VM's speed drifts by ±30 % within
    seconds, which two separate runs of N calls each would read as costcap's."""
    timed(lambda: call(bare, stream), max(20, calls // 10))  # warm-up
    timed(lambda: call(wrapped, stream), max(20, calls // 10))
    clock = time.perf_counter
    rounds = []
    for _ in range(repeat):
        b: list[float] = []
        w: list[float] = []
        for i in range(calls):
            first, second = (bare, wrapped) if i % 2 else (wrapped, bare)
            started = clock()
            call(first, stream)
            middle = clock()
            call(second, stream)
            ended = clock()
            (b if first is bare else w).append(middle - started)
            (w if first is bare else b).append(ended - middle)
        rounds.append(paired(b, w))
    return median_rounds(rounds)


def acompare(
    bare: openai.AsyncOpenAI, wrapped: openai.AsyncOpenAI, stream: bool, calls: int, repeat: int
) -> Triple:
    async def main() -> Triple:
        await atimed(lambda: acall(bare, stream), max(20, calls // 10))
        await atimed(lambda: acall(wrapped, stream), max(20, calls // 10))
        clock = time.perf_counter
        rounds = []
        for _ in range(repeat):
            b: list[float] = []
            w: list[float] = []
            for i in range(calls):
                first, second = (bare, wrapped) if i % 2 else (wrapped, bare)
                started = clock()
                await acall(first, stream)
                middle = clock()
                await acall(second, stream)
                ended = clock()
                (b if first is bare else w).append(middle - started)
                (w if first is bare else b).append(ended - middle)
            rounds.append(paired(b, w))
        await bare.close()
        await wrapped.close()
        return median_rounds(rounds)

    return asyncio.run(main())


def breakdown(bodies: dict[str, bytes], calls: int, stream: bool) -> dict[str, float]:
    """costcap's work inside one wrapped call, timed directly (p50, µs): the whole call minus
    the time spent in the SDK (its ``create`` and, streamed, its own stream's iteration)."""
    g = guard()
    wrapped = wrap(openai.OpenAI(api_key="x", base_url="http://mock/v1", max_retries=0,
                                 http_client=httpx2.Client(transport=mock_transport(bodies))),
                   guard=g)  # fmt: skip
    real = wrapped.chat.completions._real  # type: ignore[attr-defined]
    sdk: list[float] = [0.0]
    admits: list[float] = []
    settles: list[float] = []

    def timing(fn: Callable[..., Any], samples: list[float] | None = None) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                if samples is None:
                    sdk[0] += elapsed
                else:
                    samples.append(elapsed)

        return run

    sdk_iter = openai.Stream.__iter__

    def timed_iter(self: openai.Stream[Any]) -> Iterator[Any]:
        # The SDK stream's own iteration (GuardedStream overrides __iter__: only the inner one).
        items = sdk_iter(self)
        while True:
            started = time.perf_counter()
            try:
                item = next(items)
            except StopIteration:
                return
            finally:
                sdk[0] += time.perf_counter() - started
            yield item

    real.create = timing(real.create)
    g.admit = timing(g.admit, admits)  # type: ignore[method-assign]
    g.settle = timing(g.settle, settles)  # type: ignore[method-assign]
    openai.Stream.__iter__ = timed_iter  # type: ignore[method-assign]
    try:
        timed(lambda: call(wrapped, stream), max(20, calls // 10))
        admits.clear()
        settles.clear()
        work = []
        for _ in range(calls):
            sdk[0] = 0.0
            started = time.perf_counter()
            call(wrapped, stream)
            work.append(time.perf_counter() - started - sdk[0])
    finally:
        openai.Stream.__iter__ = sdk_iter  # type: ignore[method-assign]
        wrapped.close()
        g.close()
    return {"work": p50_us(work), "admit": p50_us(admits), "settle": p50_us(settles)}


# -- the ladder: what each part of a wrapped call adds -------------------------------------------


class PassThrough:
    """The least any wrapper does: ``client.chat.completions.create`` that writes the output cap
    into ``extra_body`` (as costcap does) and reads the usage from the response."""

    def __init__(self, client: openai.OpenAI) -> None:
        self.real = client.chat.completions
        self.chat = self
        self.completions = self
        self.seen = 0

    def before(self, kwargs: dict[str, Any]) -> None:
        """What a rung adds before the call (nothing here)."""

    def create(self, **kwargs: Any) -> Any:
        self.before(kwargs)
        kwargs["extra_body"] = {"max_completion_tokens": 1024}
        result = self.real.create(**kwargs)
        usage = result.usage
        self.seen += usage.prompt_tokens + usage.completion_tokens
        return result


class WithBpe(PassThrough):
    """The pass-through plus the exact BPE count of the user's message (the only text new on
    every call: the system prompt's count is remembered) — the least an exact admission does."""

    def before(self, kwargs: dict[str, Any]) -> None:
        self.seen += count_encoded(kwargs["messages"][-1]["content"], "o200k_base")


class WithCount(PassThrough):
    """The pass-through plus costcap's whole input count (framing, roles, the cached system
    prompt): what ``guard.admit`` counts."""

    def before(self, kwargs: dict[str, Any]) -> None:
        self.seen += count_messages(kwargs["messages"], kwargs["model"]).tokens


def ladder_rows(bodies: dict[str, bytes], calls: int, repeat: int) -> None:
    plain = Guard("memory://", budgets=[Budget(scope="global", period="day", limit_usd=10**9)],
                  notifiers=[])  # fmt: skip
    ledgered = guard()
    clients = [mock_client(bodies) for _ in range(7)]
    bare = clients[0]
    rungs: list[tuple[str, Any]] = [
        ("bare (the method's noise)", clients[1]),
        ("pass-through: cap into extra_body, usage read", PassThrough(clients[2])),
        ("+ exact BPE count of the new message", WithBpe(clients[3])),
        ("+ costcap's whole input count instead", WithCount(clients[4])),
        ("costcap.wrap, no observers", wrap(clients[5], guard=plain)),
        ("costcap.wrap, ledger on", wrap(clients[6], guard=ledgered)),
    ]
    found: dict[str, list[Triple]] = {name: [] for name, _ in rungs}
    for _ in range(repeat):  # the rungs take turns, so a slow minute is not one rung's
        for name, wrapped in rungs:
            found[name].append(compare(bare, wrapped, False, calls, 1))
    for client in clients:
        client.close()
    plain.close()
    ledgered.close()
    print("\nWhere it goes: in process, sync chat, each rung paired with bare calls:\n")
    print("| wrapper | added µs | added / bare |")
    print("|---|---:|---:|")
    for name, _ in rungs:
        b, _w, d = median_rounds(found[name])
        print(f"| {name} | {d:,.1f} | {d / b:.1%} |")


# -- LiteLLM, in its own virtualenv ---------------------------------------------------------------

LITELLM_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, statistics, sys, time
    import itertools
    import litellm

    litellm.suppress_debug_info = True
    calls, repeat = int(sys.argv[1]), int(sys.argv[2])
    system = {"role": "system", "content":
              "You are the support assistant of a bookshop. Answer in one short sentence."}
    asked = itertools.count()
    text = " hi" * 20  # LiteLLM's mock streams 3 characters a chunk: 20 chunks

    async def one(stream):
        messages = [system, {"role": "user", "content":
                    f"Summarise the plot of Hamlet in one sentence (#{next(asked)})."}]
        if stream:
            response = await litellm.acompletion(model="gpt-4o-mini", messages=messages,
                                                 mock_response=text, stream=True)
            async for _ in response:
                pass
        else:
            await litellm.acompletion(model="gpt-4o-mini", messages=messages, mock_response=text)

    async def p50(stream, n):
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            await one(stream)
            samples.append(time.perf_counter() - started)
        return statistics.median(samples) * 1e6

    async def main():
        out = {"version": litellm.__version__ if hasattr(litellm, "__version__") else "?"}
        for stream in (False, True):
            await p50(stream, max(20, calls // 10))
            out["stream" if stream else "plain"] = statistics.median(
                [await p50(stream, calls) for _ in range(repeat)])
        response = await litellm.acompletion(model="gpt-4o-mini", messages=[system],
                                             mock_response=text)
        out["cost"] = (response._hidden_params or {}).get("response_cost")
        await asyncio.sleep(0.5)  # let its background logging tasks finish
        print(json.dumps(out))

    asyncio.run(main())
    """
)


def litellm_figures(python: str, calls: int, repeat: int) -> dict[str, Any] | str:
    if not Path(python).exists():
        return f"not measured: {python} does not exist (see the module docstring)"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    done = subprocess.run(
        [python, "-c", LITELLM_SCRIPT, str(calls), str(repeat)],
        capture_output=True, text=True, env=env, timeout=1800, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1:]}"
    try:
        version = subprocess.run(
            [python, "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except subprocess.CalledProcessError:
        version = "?"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["version"] = version
    return result


# -- main -----------------------------------------------------------------------------------------


def mock_client(bodies: dict[str, bytes]) -> openai.OpenAI:
    http = httpx2.Client(transport=mock_transport(bodies))
    return openai.OpenAI(api_key="x", base_url="http://mock/v1", max_retries=0, http_client=http)


def mock_async_client(bodies: dict[str, bytes]) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=mock_transport(bodies))
    return openai.AsyncOpenAI(
        api_key="x", base_url="http://mock/v1", max_retries=0, http_client=http
    )


# -- instructions per call (callgrind): a figure the machine's noise does not move --------------

IR_SMALL, IR_LARGE = 100, 600


def ir_worker(argv: list[str]) -> None:
    """``--ir-worker BODIES N bare|wrapped plain|stream``: N calls (after a warm-up), for
    callgrind to count; the benchmark takes the difference of two N."""
    bodies_file, n, which, kind = argv
    bodies = {k: v.encode("latin-1") for k, v in json.loads(Path(bodies_file).read_text()).items()}
    stream = kind == "stream"
    # Under valgrind a call is ~50x slower, so the default 1 s flush would drain batches of a
    # few events; drained once at the end instead, batches are as large as in real traffic.
    LEDGERS.settings = {"flush_interval_s": 3600}
    client = mock_client(bodies)
    g = guard() if which == "wrapped" else None
    if g is not None:
        client = wrap(client, guard=g)
    for _ in range(50):
        call(client, stream)
    for _ in range(int(n)):
        call(client, stream)
    LEDGERS.close()  # drains: the ledger's background work is counted too


def instructions(bodies: dict[str, bytes], which: str, stream: bool) -> int | None:
    """Instructions the whole process (every thread) executes per call, or None without
    valgrind."""
    if shutil.which("valgrind") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        bodies_file = Path(tmp) / "bodies.json"
        bodies_file.write_text(json.dumps({k: v.decode("latin-1") for k, v in bodies.items()}))
        counts = []
        for n in (IR_SMALL, IR_LARGE):
            done = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out",
                 sys.executable, __file__, "--ir-worker", str(bodies_file), str(n), which,
                 "stream" if stream else "plain"],
                capture_output=True, text=True, check=True, timeout=3600,
            )  # fmt: skip
            collected = [line for line in done.stderr.splitlines() if "Collected :" in line]
            counts.append(int(collected[-1].split()[-1]))
    return (counts[1] - counts[0]) // (IR_LARGE - IR_SMALL)


def instruction_rows(bodies: dict[str, bytes]) -> None:
    print("\nInstructions per call (valgrind callgrind, whole process, every thread):\n")
    print("| call | bare SDK | wrapped | added by costcap | added / bare |")
    print("|---|---:|---:|---:|---:|")
    for stream in (False, True):
        bare = instructions(bodies, "bare", stream)
        wrapped = instructions(bodies, "wrapped", stream)
        if bare is None or wrapped is None:
            print("| (valgrind not installed: not measured) | | | | |")
            return
        print(f"| {kind_of(stream)} | {bare:,} | {wrapped:,} | {wrapped - bare:,} "
              f"| {(wrapped - bare) / bare:.1%} |")  # fmt: skip


def kind_of(stream: bool) -> str:
    return "chat, streamed 20 tokens" if stream else "chat"


def http_rows(base_url: str, calls: int, repeat: int) -> None:
    g = guard()
    with (
        openai.OpenAI(base_url=base_url, api_key="x", max_retries=0) as bare,
        wrap(openai.OpenAI(base_url=base_url, api_key="x", max_retries=0), guard=g) as wrapped,
    ):
        for stream in (False, True):
            b, w, d = compare(bare, wrapped, stream, calls, repeat)
            print(f"| HTTP, fake provider (sync) | {kind_of(stream)} | {b:,.0f} | {w:,.0f} "
                  f"| {d:,.1f} | {d / b:.1%} |")  # fmt: skip
    g.close()


def in_process_rows(bodies: dict[str, bytes], calls: int, repeat: int) -> None:
    for stream in (False, True):
        g = guard()
        with mock_client(bodies) as bare, wrap(mock_client(bodies), guard=g) as wrapped:
            b, w, d = compare(bare, wrapped, stream, calls, repeat)
        g.close()
        print(f"| in process (sync) | {kind_of(stream)} | {b:,.0f} | {w:,.0f} | {d:,.1f} "
              f"| {d / b:.1%} |")  # fmt: skip
    for stream in (False, True):
        awrapped = wrap(mock_async_client(bodies), guard=async_guard())
        b, w, d = acompare(mock_async_client(bodies), awrapped, stream, calls, repeat)
        print(f"| in process (async) | {kind_of(stream)} | {b:,.0f} | {w:,.0f} | {d:,.1f} "
              f"| {d / b:.1%} |")  # fmt: skip


def work_rows(bodies: dict[str, bytes], calls: int, repeat: int) -> None:
    print("\ncostcap's own work per wrapped call, timed inside it (sync, in process, p50):\n")
    print("| call | costcap's work µs | of which guard.admit µs | guard.settle µs |")
    print("|---|---:|---:|---:|")
    for stream in (False, True):
        parts = _median_parts([breakdown(bodies, calls, stream) for _ in range(repeat)])
        print(f"| {kind_of(stream)} | {parts['work']:.1f} | {parts['admit']:.1f} | "
              f"{parts['settle']:.1f} |")  # fmt: skip


def litellm_rows(python: str, calls: int, repeat: int) -> None:
    figures = litellm_figures(python, calls, repeat)
    if isinstance(figures, str):
        print(f"\nLiteLLM: {figures}")
        return
    print(f"\nLiteLLM {figures['version']}, `acompletion(..., mock_response=…)`, no network:\n")
    print("| call | p50 µs per call |")
    print("|---|---:|")
    print(f"| chat (mock) | {figures['plain']:,.0f} |")
    print(f"| chat, streamed 20 chunks (mock) | {figures['stream']:,.0f} |")
    print(f"\nLiteLLM's response_cost for the non-streamed mock call: {figures['cost']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--litellm-python", default=LITELLM_PYTHON)
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--ladder", action="store_true",
                        help="what each part of a wrapped call adds (only that)")  # fmt: skip
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per call with valgrind (minutes)")  # fmt: skip
    if sys.argv[1:2] == ["--ir-worker"]:
        ir_worker(sys.argv[2:])
        return
    args = parser.parse_args()
    calls, repeat = args.calls, args.repeat
    if args.ladder:
        ladder(calls, repeat)
        return
    print(f"openai {openai.__version__}; {calls} calls × {repeat} rounds; medians of p50s\n")
    # added / bare: this VM's speed drifts by 2x between runs; the ratio travels better
    print("| path | call | bare p50 µs | wrapped p50 µs | added by costcap µs | added / bare |")
    print("|---|---|---:|---:|---:|---:|")
    with running_provider() as base_url:
        http_rows(base_url, calls, repeat)
        bodies = canned(base_url)
    try:
        in_process_rows(bodies, calls, repeat)
        work_rows(bodies, calls, repeat)
    finally:
        LEDGERS.close()
    if args.instructions:
        instruction_rows(bodies)
    if not args.no_litellm:
        litellm_rows(args.litellm_python, calls, repeat)


def ladder(calls: int, repeat: int) -> None:
    print(f"openai {openai.__version__}; {calls} pairs × {repeat} rounds; medians of p50s")
    with running_provider() as base_url:
        bodies = canned(base_url)
    try:
        ladder_rows(bodies, calls, repeat)
    finally:
        LEDGERS.close()


def _median_parts(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


if __name__ == "__main__":
    main()
