"""The gateway benchmark: `costcap serve` and the LiteLLM proxy beside direct calls, one upstream.

Three configurations, each alone on the machine while it is measured, all in front of the same
fake upstream (costcap's fake provider, ``upstream.py``, a process of its own):

- ``direct``  — the client calls the fake upstream;
- ``costcap`` — ``costcap serve --workers 1`` (SQLite guard store and ledger, a global budget of
  $1,000/day) with a virtual key (``costcap keys create``: $100/day, 1,000,000/minute);
- ``costcap-memory`` — the same with the guard's counters in memory (``memory://``; ledger and
  keys still in SQLite): the shape of the LiteLLM proxy run here, whose key spend lives in its
  process;
- ``litellm`` — the LiteLLM proxy, ``--num_workers 1``, in its own venv (``.venv-litellm``), a
  virtual key with a $100/day budget and rpm 1,000,000 (``litellm_auth.py``: no database — see
  README.md), ``litellm_settings.max_budget`` $1,000/day.

Each runs two measurements of chat completions (``max_tokens`` 64; 20 output tokens, streamed
as 20 SSE chunks with ``stream_options.include_usage``):

(a) open loop at a fixed rate (``--rate``, 200/s): ``loadgen.py`` sends on a schedule over raw
    keep-alive HTTP/1.1 connections; latency from the scheduled send time to the response's last
    byte; p50/p99 per round, and what a proxy adds over ``direct`` (the difference of medians);
(b) closed loop, ``--connections`` (32) keep-alive clients as fast as they go: ``wrk -t1``
    with ``wrk_post.lua``; req/s and p50 per round.

Rounds (``--rounds`` per pass) and passes (``--passes``: each starts every proxy afresh) give
the medians. ``--write`` records the tables in ``benchmarks/gateway/results.md``.

Run: ``.venv/bin/python benchmarks/gateway/bench_gateway.py [--quick] [--only direct,costcap]
[--rounds 1] [--passes 6] [--write]`` (``make bench-gateway`` creates the LiteLLM venv first).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYTHON = sys.executable
COSTCAP = str(Path(sys.executable).with_name("costcap"))
LITELLM_VENV = HERE / ".venv-litellm"
RESULTS = HERE / "results.md"
CONFIGS = ("direct", "costcap", "costcap-memory", "litellm")
COSTCAP_STORES = {"costcap": "sqlite:///{dir}/costcap.db", "costcap-memory": "memory://"}
SCENARIOS = ("plain", "stream")
MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Summarise the plot of Hamlet in one sentence."}]
BODIES: dict[str, dict[str, Any]] = {
    "plain": {"model": MODEL, "max_tokens": 64, "messages": MESSAGES},
    "stream": {
        "model": MODEL,
        "max_tokens": 64,
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    },
}
SCENARIO_NAMES = {"plain": "chat", "stream": "chat, streamed 20 tokens"}
KEY_BUDGET_USD = 100
KEY_RPM = 1_000_000
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of *pid* and its descendants (Linux ``/proc``)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += times.get(current, 0.0)
        todo += [child for child, parent in parents.items() if parent == current]
    return total


@dataclass
class Server:
    """A process this benchmark started (its own process group), and where it answers."""

    name: str
    process: subprocess.Popen[bytes] | None
    url: str  # the chat completions URL
    auth: str | None = None  # the Authorization header's value
    log: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def cpu(self) -> float:
        return tree_cpu_seconds(self.process.pid) if self.process is not None else 0.0

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def spawn(
    command: list[str], log: Path, env: dict[str, str | None] | None = None
) -> subprocess.Popen[bytes]:
    """*command* in its own process group, output to *log*; *env* adds (None: removes) variables."""
    merged = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=merged,
            start_new_session=True,  # its own process group: stopped with its children
            cwd=log.parent,
        )


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    """Until GET *url* answers 200 (or the process dies, or *timeout*)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited: {_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s: {_tail(log)}")


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_upstream(workdir: Path) -> Server:
    log = workdir / "upstream.log"
    process = spawn([PYTHON, "-u", str(HERE / "upstream.py"), "--port", "0"], log)
    deadline = time.monotonic() + 30
    port = None
    while port is None and time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the fake upstream exited: {_tail(log)}")
        match = re.search(r"PORT (\d+)", log.read_text())
        if match:
            port = int(match.group(1))
        else:
            time.sleep(0.1)
    if port is None:
        process.kill()
        raise RuntimeError("the fake upstream did not start")
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return Server("upstream", process, url, log=log)


COSTCAP_TOML = """\
[guard]
store = "{store}"

[ledger]
url = "sqlite:///{dir}/ledger.db"

[[budgets]]
scope = "global"
period = "day"
limit_usd = 1000

[gateway]
admin_key_env = "COSTCAP_ADMIN_KEY"
keys = "sqlite:///{dir}/keys.db"

[gateway.upstreams.openai]
base_url = "{upstream}"
api_key_env = "OPENAI_API_KEY"
"""


def start_costcap(upstream: Server, workdir: Path, name: str = "costcap") -> Server:
    home = workdir / name
    home.mkdir()
    config = home / "costcap.toml"
    store = COSTCAP_STORES[name].format(dir=home)
    config.write_text(
        COSTCAP_TOML.format(
            dir=home, store=store, upstream=upstream.url.removesuffix("/chat/completions")
        )
    )
    env: dict[str, str] = {
        "OPENAI_API_KEY": "sk-dummy",
        "COSTCAP_ADMIN_KEY": secrets.token_urlsafe(24),
    }
    created = subprocess.run(
        [
            COSTCAP, "keys", "create", "--config", str(config), "--user", "u1",
            "--feature", "bench", "--budget", f"${KEY_BUDGET_USD}/day",
            "--limit", f"{KEY_RPM}/minute", "--json",
        ],
        capture_output=True, text=True, env={**os.environ, **env}, cwd=home, check=False,
    )  # fmt: skip
    if created.returncode != 0:
        raise RuntimeError(f"costcap keys create failed: {created.stderr.strip()[-800:]}")
    secret = json.loads(created.stdout)["secret"]
    port = free_port()
    log = home / "serve.log"
    process = spawn(
        [
            COSTCAP, "serve", "--config", str(config), "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1",
        ],
        log,
        {**env},
    )  # fmt: skip
    server = Server(name, process, f"http://127.0.0.1:{port}/v1/chat/completions",
                    auth=f"Bearer {secret}", log=log)  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", process, log)
    except BaseException:
        server.stop()
        raise
    return server


def start_litellm(upstream: Server, workdir: Path) -> Server:
    python = LITELLM_VENV / "bin" / "python"
    if not python.exists():
        raise RuntimeError(
            f"no LiteLLM venv at {LITELLM_VENV}: run `make bench-gateway` (or "
            f"python3 -m venv {LITELLM_VENV} && {LITELLM_VENV}/bin/pip install 'litellm[proxy]')"
        )
    home = workdir / "litellm"
    home.mkdir()
    template = (HERE / "litellm_config.yaml.template").read_text()
    base = upstream.url.removesuffix("/chat/completions")
    (home / "config.yaml").write_text(template.replace("${UPSTREAM_BASE_URL}", base))
    shutil.copy(HERE / "litellm_auth.py", home / "litellm_auth.py")
    key = "sk-bench-" + secrets.token_hex(16)
    env: dict[str, str | None] = {
        "OPENAI_API_KEY": "sk-dummy",
        "LITELLM_MASTER_KEY": "sk-master-" + secrets.token_hex(16),
        "BENCH_LITELLM_KEY": key,
        "BENCH_KEY_BUDGET_USD": str(KEY_BUDGET_USD),
        "BENCH_KEY_RPM": str(KEY_RPM),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price list at start
        "LITELLM_LOG": "ERROR",
        "DATABASE_URL": None,  # no database: see litellm_auth.py
    }
    port = free_port()
    log = home / "litellm.log"
    process = spawn(
        [
            str(LITELLM_VENV / "bin" / "litellm"), "--config", str(home / "config.yaml"),
            "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1",
        ],
        log,
        env,
    )  # fmt: skip
    server = Server("litellm", process, f"http://127.0.0.1:{port}/v1/chat/completions",
                    auth=f"Bearer {key}", log=log)  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/health/liveliness", process, log, timeout=180)
    except BaseException:
        server.stop()
        raise
    return server


def smoke(server: Server) -> None:
    """One plain and one streamed call answer 200 with the fake provider's 20 tokens."""
    headers = {"Content-Type": "application/json"}
    if server.auth:
        headers["Authorization"] = server.auth
    for scenario, body in BODIES.items():
        request = urllib.request.Request(
            server.url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:400]
            raise RuntimeError(f"{server.name} {scenario}: HTTP {exc.code} {detail}") from None
        if scenario == "plain":
            content = json.loads(text)["choices"][0]["message"]["content"]
            if content.count("hello") != 20:
                raise RuntimeError(f"{server.name}: unexpected answer {text[:300]}")
        elif text.count("hello") != 20 or "[DONE]" not in text:
            raise RuntimeError(f"{server.name}: unexpected stream {text[:300]}")


# -- load ----------------------------------------------------------------------------------------


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def open_loop(
    server: Server, body: Path, rate: float, seconds: float, warmup: float
) -> dict[str, Any]:
    command = [PYTHON, str(HERE / "loadgen.py"), "--url", server.url, "--body-file", str(body),
               "--rate", str(rate), "--seconds", str(seconds), "--warmup", str(warmup)]  # fmt: skip
    if server.auth:
        command += ["--header", f"Authorization: {server.auth}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed: {done.stderr[-800:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["generator_cpu_pct"] = 100 * result["cpu_s"] / result["wall_s"]
    return result


def wrk(server: Server, body: Path, connections: int, seconds: float) -> dict[str, Any]:
    env = {**os.environ, "BENCH_BODY_FILE": str(body), "BENCH_AUTH": server.auth or ""}
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout",
               "10s", "-s", str(HERE / "wrk_post.lua"), server.url]  # fmt: skip
    cpu0, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=seconds + 60
    )
    wall, cpu = time.perf_counter() - started, _children_cpu() - cpu0
    match = re.search(r"BENCH_JSON (\{.*\})", done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed: {done.stdout[-400:]} {done.stderr[-400:]}")
    result: dict[str, Any] = json.loads(match.group(1))
    errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors",
                                     "status_errors", "timeouts"))  # fmt: skip
    result["errors"] = errors
    result["rps"] = (result["requests"] - result["status_errors"]) / (result["duration_us"] / 1e6)
    result["generator_cpu_pct"] = 100 * cpu / wall
    return result


def measured(
    server: Server, upstream: Server, run: Callable[[], dict[str, Any]], requests_key: str
) -> dict[str, Any]:
    """*run* with the proxy's and the upstream's CPU seconds per request beside its figures."""
    proxy0, up0 = server.cpu() if server is not upstream else 0.0, upstream.cpu()
    result = run()
    count = max(1, int(result[requests_key]))
    if server is not upstream:
        result["proxy_cpu_us"] = (server.cpu() - proxy0) / count * 1e6
    result["upstream_cpu_us"] = (upstream.cpu() - up0) / count * 1e6
    return result


def settle(servers: tuple[Server, ...], timeout: float = 90.0) -> float:
    """Wait until *servers* are idle (under 5 % of a core over 0.5 s): a proxy that fell behind
    in an open-loop round still works off what it had queued. Returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = sum(server.cpu() for server in servers)
        time.sleep(0.5)
        if sum(server.cpu() for server in servers) - before < 0.025:
            break
    return time.monotonic() - started


# -- the run -------------------------------------------------------------------------------------


@dataclass
class Plan:
    configs: tuple[str, ...]
    rate: float
    seconds: float
    warmup: float
    closed_seconds: float
    connections: int
    rounds: int
    passes: int


@dataclass
class Outcome:
    # figures[config][scenario]["open" | "closed"] = one dict per round
    figures: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    behind: set[tuple[str, str]] = field(default_factory=set)  # (config, scenario) fell behind
    load: list[float] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)


class LoadSampler:
    """The 1-minute load average every few seconds, in a thread."""

    def __init__(self, into: list[float], every: float = 5.0) -> None:
        self.into, self.every = into, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.into.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self.into.append(os.getloadavg()[0])
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def start(name: str, upstream: Server, workdir: Path) -> Server:
    if name == "direct":
        return upstream
    return (
        start_costcap(upstream, workdir, name)
        if name.startswith("costcap")
        else start_litellm(upstream, workdir)
    )


def run(plan: Plan, log: Callable[[str], None]) -> Outcome:
    outcome = Outcome(started=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    outcome.versions = versions()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp, LoadSampler(outcome.load):
        workdir = Path(tmp)
        bodies = {}
        for scenario, body in BODIES.items():
            bodies[scenario] = workdir / f"{scenario}.json"
            bodies[scenario].write_text(json.dumps(body))
        upstream = start_upstream(workdir)
        try:
            smoke(upstream)
            for pass_no in range(1, plan.passes + 1):
                for name in plan.configs:
                    if name in outcome.skipped:
                        continue
                    passdir = workdir / f"{name}-{pass_no}"
                    passdir.mkdir()
                    try:
                        server = start(name, upstream, passdir)
                    except (RuntimeError, OSError, ValueError) as exc:
                        outcome.skipped[name] = str(exc)
                        log(f"{name}: not run: {exc}")
                        continue
                    try:
                        smoke(server)
                        measure(
                            plan, name, server=server, upstream=upstream, bodies=bodies,
                            outcome=outcome, pass_no=pass_no, log=log,
                        )  # fmt: skip
                    finally:
                        if server is not upstream:
                            server.stop()
        finally:
            upstream.stop()
    outcome.seconds = time.perf_counter() - started
    return outcome


def measure(
    plan: Plan,
    name: str,
    *,
    server: Server,
    upstream: Server,
    bodies: dict[str, Path],
    outcome: Outcome,
    pass_no: int,
    log: Callable[[str], None],
) -> None:
    figures = outcome.figures.setdefault(name, {})
    for scenario in SCENARIOS:
        body = bodies[scenario]
        # warm-up: connections, caches, the proxy's first calls (not recorded)
        wrk(server, body, plan.connections, max(1.0, plan.warmup))
    settle((server, upstream))
    # (b) first, on the fresh proxy: (a) overloads a proxy that cannot keep up with the rate.
    for round_no in range(1, plan.rounds + 1):
        for scenario in SCENARIOS:
            slot = figures.setdefault(scenario, {"open": [], "closed": []})
            closed = measured(
                server,
                upstream,
                partial(wrk, server, bodies[scenario], plan.connections, plan.closed_seconds),
                "requests",
            )
            slot["closed"].append(closed)
            log(
                f"pass {pass_no} round {round_no} {name:8} {scenario:6} closed: "
                f"{closed['rps']:,.0f} req/s p50 {closed['p50_us'] / 1000:.2f} ms "
                f"({closed['errors']} errors, wrk {closed['generator_cpu_pct']:.0f}% CPU) | "
                f"load {os.getloadavg()[0]:.2f}"
            )
            settle((server, upstream))
    behind = outcome.behind
    for round_no in range(1, plan.rounds + 1):
        for scenario in SCENARIOS:
            if (name, scenario) in behind:
                continue
            slot = figures[scenario]
            opened = measured(
                server,
                upstream,
                partial(open_loop, server, bodies[scenario], plan.rate, plan.seconds, plan.warmup),
                "ok",
            )
            slot["open"].append(opened)
            log(
                f"pass {pass_no} round {round_no} {name:8} {scenario:6} open: "
                f"p50 {opened['latency_p50_ms']:.2f} ms p99 {opened['latency_p99_ms']:.2f} ms "
                f"({opened['ok']} ok, {opened['failed']} failed, "
                f"{opened['unfinished']} unfinished, {opened['achieved_rps']:.0f}/s, "
                f"generator {opened['generator_cpu_pct']:.0f}% CPU) | "
                f"load {os.getloadavg()[0]:.2f}"
            )
            if opened["unfinished"] or opened["achieved_rps"] < 0.9 * plan.rate:
                # It fell behind: its queue grew for the whole round. Once is enough to say so.
                behind.add((name, scenario))
                log(f"{name} {scenario}: did not keep up with {plan.rate:g}/s; no more rounds")
            settle((server, upstream))


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "machine": platform.machine(),
           "cores": str(os.cpu_count())}  # fmt: skip
    probe = "import importlib.metadata as m, sys; print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"  # noqa: E501
    for venv, names in (
        (Path(PYTHON), ["uvicorn", "uvloop", "httptools", "h11", "starlette"]),
        (LITELLM_VENV / "bin" / "python", ["litellm", "uvicorn", "uvloop", "fastapi"]),
    ):
        if not venv.exists():
            continue
        done = subprocess.run(
            [str(venv), "-c", "import json;" + probe, *names],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        prefix = "" if venv == Path(PYTHON) else "litellm venv: "
        if done.returncode == 0:
            for package, version in json.loads(done.stdout).items():
                out[prefix + package] = version
        else:  # a package is missing: version them one by one
            for package in names:
                single = subprocess.run([str(venv), "-c", "import json;" + probe, package],
                                        capture_output=True, text=True, check=False)  # fmt: skip
                out[prefix + package] = (
                    json.loads(single.stdout)[package] if single.returncode == 0 else "absent"
                )
    if LITELLM_VENV.exists():
        done = subprocess.run([str(LITELLM_VENV / "bin" / "python"), "-V"],
                              capture_output=True, text=True, check=False)  # fmt: skip
        out["litellm venv: python"] = done.stdout.split()[-1] if done.returncode == 0 else "?"
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=ROOT, check=False)  # fmt: skip
    dirty = subprocess.run(["git", "status", "--porcelain", "src"], capture_output=True,
                           text=True, cwd=ROOT, check=False)  # fmt: skip
    changed = len(dirty.stdout.splitlines())
    out["costcap commit"] = (head.stdout.strip() or "?") + (
        f" (+ {changed} uncommitted files under src/ when the run started)" if changed else ""
    )
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    out["wrk"] = (wrk_version.stdout or wrk_version.stderr).split("[")[0].strip()
    return out


# -- the report ----------------------------------------------------------------------------------


def _against(
    rows: list[dict[str, Any]], base: list[dict[str, Any]], measure: str
) -> tuple[float, float, tuple[str, str]]:
    """The median p50 and p99 of ``measure`` (``latency`` or ``service``) over ``rows``, and
    what they add to ``base``'s (direct calls'; "—" without them)."""
    p50, p99 = _median(rows, f"{measure}_p50_ms"), _median(rows, f"{measure}_p99_ms")
    if not base:
        return p50, p99, ("—", "—")
    return (
        p50,
        p99,
        (
            f"{p50 - _median(base, f'{measure}_p50_ms'):.2f}",
            f"{p99 - _median(base, f'{measure}_p99_ms'):.2f}",
        ),
    )


def _median(rows: list[dict[str, Any]], key: str) -> float:
    values = [row[key] for row in rows if key in row]
    return statistics.median(values) if values else float("nan")


def report(plan: Plan, outcome: Outcome) -> str:
    fig = outcome.figures
    lines: list[str] = []
    rounds = plan.rounds * plan.passes
    lines += [
        f"### (a) Open loop at {plan.rate:g} req/s: latency and what a proxy adds over direct",
        "",
        f"Latency from each request's **scheduled** send time to its response's last byte; "
        f"p50 and p99 of {plan.seconds:g} s per round (after {plan.warmup:g} s not recorded), "
        f"median of {rounds} rounds. *Added* = the proxy's median minus direct's median.",
        "",
        "| configuration | request | p50 ms | p99 ms | added p50 ms | added p99 ms "
        "| achieved req/s | failed or unfinished | proxy CPU µs/req | generator CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        base = fig.get("direct", {}).get(scenario, {}).get("open", [])
        for name in plan.configs:
            rows = fig.get(name, {}).get(scenario, {}).get("open", [])
            if not rows:
                continue
            p50, p99, added = _against(rows, base if name != "direct" else [], "latency")
            failed = sum(r["failed"] + r["unfinished"] for r in rows)
            cpu = f"{_median(rows, 'proxy_cpu_us'):,.0f}" if name != "direct" else "—"
            achieved = f"{_median(rows, 'achieved_rps'):.0f}"
            if any(r["unfinished"] or r["achieved_rps"] < 0.9 * plan.rate for r in rows):
                achieved += f" (fell behind, {len(rows)} round{'s' if len(rows) > 1 else ''})"
                cpu = "—"  # it also worked on requests that were given up: no per-request figure
            lines.append(
                f"| {name} | {SCENARIO_NAMES[scenario]} | {p50:.2f} | {p99:.2f} | {added[0]} | "
                f"{added[1]} | {achieved} | {failed} | {cpu} | "
                f"{_median(rows, 'generator_cpu_pct'):.0f} % |"
            )
    lines += [
        "",
        "The same rounds measured from the **send** time (the request written to its socket; "
        "the generator's own timer lag left out) and, for streams, to the body's first byte:",
        "",
        "| configuration | request | p50 ms | p99 ms | added p50 ms | added p99 ms | "
        "first byte p50 ms | send lag p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        base = fig.get("direct", {}).get(scenario, {}).get("open", [])
        for name in plan.configs:
            rows = fig.get(name, {}).get(scenario, {}).get("open", [])
            if not rows:
                continue
            p50, p99, added = _against(rows, base if name != "direct" else [], "service")
            lines.append(
                f"| {name} | {SCENARIO_NAMES[scenario]} | {p50:.2f} | {p99:.2f} | {added[0]} | "
                f"{added[1]} | {_median(rows, 'ttfb_p50_ms'):.2f} | "
                f"{_median(rows, 'send_lag_p99_ms'):.2f} |"
            )
    lines += [
        "",
        f"### (b) Closed loop: {plan.connections} keep-alive clients, as fast as they go",
        "",
        f"`wrk -t1 -c{plan.connections} -d{round(plan.closed_seconds)}s`; median of {rounds} "
        "rounds. CPU per request: the proxy's process tree and the fake upstream's.",
        "",
        "| configuration | request | req/s | p50 ms | p99 ms | errors | proxy CPU µs/req "
        "| upstream CPU µs/req | wrk CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        for name in plan.configs:
            rows = fig.get(name, {}).get(scenario, {}).get("closed", [])
            if not rows:
                continue
            cpu = f"{_median(rows, 'proxy_cpu_us'):,.0f}" if name != "direct" else "—"
            lines.append(
                f"| {name} | {SCENARIO_NAMES[scenario]} | {_median(rows, 'rps'):,.0f} | "
                f"{_median(rows, 'p50_us') / 1000:.2f} | {_median(rows, 'p99_us') / 1000:.2f} | "
                f"{sum(r['errors'] for r in rows)} | {cpu} | "
                f"{_median(rows, 'upstream_cpu_us'):,.0f} | "
                f"{_median(rows, 'generator_cpu_pct'):.0f} % |"
            )
    lines += ["", "### Against the targets", ""]
    lines += targets(plan, outcome)
    if outcome.skipped:
        lines += ["", "Not run:", ""]
        lines += [f"- {name}: {why}" for name, why in outcome.skipped.items()]
    return "\n".join(lines).replace("| nan ", "| — ")  # no response came back in time


def targets(plan: Plan, outcome: Outcome) -> list[str]:
    fig = outcome.figures
    out: list[str] = []
    for scenario in SCENARIOS:
        base = fig.get("direct", {}).get(scenario, {}).get("open", [])
        theirs = fig.get("litellm", {}).get(scenario, {}).get("closed", [])
        for name in COSTCAP_STORES:
            rows = fig.get(name, {}).get(scenario, {}).get("open", [])
            if base and rows:
                p50 = _median(rows, "latency_p50_ms") - _median(base, "latency_p50_ms")
                p99 = _median(rows, "latency_p99_ms") - _median(base, "latency_p99_ms")
                out.append(
                    f"- {SCENARIO_NAMES[scenario]}, {plan.rate:g} req/s: {name} adds {p50:.2f} "
                    f"ms p50 (target < 1 ms: {'met' if p50 < 1 else 'not met'}) and {p99:.2f} ms "
                    f"p99 (target < 5 ms: {'met' if p99 < 5 else 'not met'})"
                )
            ours = fig.get(name, {}).get(scenario, {}).get("closed", [])
            if ours and theirs:
                ratio = _median(ours, "rps") / _median(theirs, "rps")
                out.append(
                    f"- {SCENARIO_NAMES[scenario]}, {plan.connections} clients: {name} "
                    f"{_median(ours, 'rps'):,.0f} req/s, LiteLLM "
                    f"{_median(theirs, 'rps'):,.0f} req/s: **{ratio:.1f}×** "
                    f"(target ≥ 10×: {'met' if ratio >= 10 else 'not met'})"
                )
    return out or ["- (costcap or LiteLLM not measured in this run)"]


def machine_notes(plan: Plan, outcome: Outcome) -> str:
    load = outcome.load
    v = outcome.versions
    hidden = {"machine", "cores"}
    parts = [
        f"Run {outcome.started}, {outcome.seconds / 60:.0f} min; {v.get('machine')}, "
        f"{v.get('cores')} cores (a shared, noisy VM). 1-minute load average sampled every 5 s "
        f"during the run: min {min(load):.2f}, median {statistics.median(load):.2f}, "
        f"max {max(load):.2f}.",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if k not in hidden) + ".",
    ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(CONFIGS),
                        help="configurations, comma-separated: " + ",".join(CONFIGS))  # fmt: skip
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop requests a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--closed-seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="rounds per pass")
    parser.add_argument(
        "--passes", type=int, default=6, help="each starts every configuration afresh, in turn"
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (1 round, 3 s)")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    parser.add_argument("--json", type=Path, help="also save every round's figures here")
    args = parser.parse_args()
    configs = tuple(c.strip() for c in args.only.split(",") if c.strip())
    unknown = set(configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configuration(s): {', '.join(sorted(unknown))}")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install -y wrk)")
    plan = Plan(configs, args.rate, args.seconds, args.warmup, args.closed_seconds,
                args.connections, args.rounds, args.passes)  # fmt: skip
    if args.quick:
        plan = Plan(configs, args.rate, 3.0, 1.0, 3.0, args.connections, 1, 1)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    outcome = run(plan, log)
    table = report(plan, outcome)
    notes = machine_notes(plan, outcome)
    print(table + "\n\n" + notes)
    if args.json:
        args.json.write_text(json.dumps({"plan": plan.__dict__, "figures": outcome.figures,
                                         "load": outcome.load, "versions": outcome.versions,
                                         "skipped": outcome.skipped}, indent=1))  # fmt: skip
    if args.write:
        write_results(plan, outcome, table, notes, args)


def write_results(
    plan: Plan, outcome: Outcome, table: str, notes: str, args: argparse.Namespace
) -> None:
    command = ".venv/bin/python benchmarks/gateway/bench_gateway.py " + " ".join(sys.argv[1:])
    RESULTS.write_text(
        "# Gateway: `costcap serve` and the LiteLLM proxy beside direct calls (recorded)\n\n"
        "What is measured and how: [README.md](README.md). Every figure below comes from one run "
        f"of `{command}` on this machine (`make bench-gateway` runs it with `--write`), "
        "written by the script.\n\n"
        f"{table}\n\n## Machine\n\n{notes}\n"
    )


if __name__ == "__main__":
    main()
