"""Mutation testing of costcap's money path: ``make mutate``.

Each module in :data:`MODULES` is mutated one small bug at a time (the operators are listed in
``tools/mutate_ops.py``) and its tests are run against every mutant; a mutant is *killed* when a
test fails (or its collection fails), killed by *timeout* when the tests run past the module's
time limit, and *survives* when every test passes. Per module it prints the mutants generated,
killed, timed out, survived and accepted as equivalent, and the score
``(killed + timeouts) / (generated - equivalents)``; the exit status is 1 when a module scores
under ``--min-score`` (90 %), 2 when the tool cannot run (the unmutated tests fail, say).

Every module of the money path belongs in :data:`MODULES`, with the tests that cover it: a
short list of files (or ``file::test`` ids) that kills what can be killed and runs in seconds
(the whole table must run in under 30 minutes on two cores). An equivalent mutant — one that no
input can tell apart from the original — goes in ``tools/mutate_equivalents.txt`` with its
reason; any other survivor is a missing test.

Nothing is mutated in the checkout: the tool copies ``src/``, ``tests/`` and
``pyproject.toml`` into one temporary directory per worker and rewrites the module there. The
tests run in a process forked from this one (third-party packages already imported, costcap not)
with the copy first on ``sys.path`` and in ``PYTHONPATH``, so the copy's costcap is imported, not
the editable install's; a canary (a copy of ``money.py`` that raises on import) checks that on
every run. Bytecode is never written, so no stale ``.pyc`` can stand in for a mutant.

Why not a maintained tool (pip offers mutmut 3.8 and cosmic-ray 8.7): mutmut 3 rewrites every
module of ``paths_to_mutate`` into a ``mutants/`` directory of the working directory, names its
mutants by function and ordinal, and picks the tests of each from its own first run of the
suite; cosmic-ray keeps its mutants in a session database and is configured by one module path
and one test command per session. Neither swaps the rounding this code relies on (``-(-a // b)``
ceiling division, ``ROUND_CEILING``), and either would need a wrapper to copy the tree, keep a
test list per module and read back the results. The mutator here is ~300 lines over :mod:`ast`,
its ids name the place in the source (they move only when lines above them do), and the table
of modules and tests is the one place to look.

    .venv/bin/python -m tools.mutate [--module money ...] [--jobs 2] [--list] [--show ID]
        [--json results.json] [--min-score 0.9] [--timeout-factor 3]
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tools.mutate_ops import Mutant, apply, mutants_of

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "tools" / "mutate_equivalents.txt"


@dataclass(frozen=True, slots=True)
class Target:
    name: str  # the mutant ids' prefix
    path: str  # under src/costcap
    tests: tuple[str, ...]  # pytest arguments: files, node ids, -k expressions


#: Every money-path module and the tests that cover it. A new money-path module goes here.
# Store-independent modules skip the Redis and PostgreSQL parametrizations (memory and SQLite
# run the same tests): ``-k`` applies to the whole list.
NO_SERVERS = ("-k", "not redis and not postgres")
MODULES = (
    Target("money", "money.py", (
        "tests/test_money.py",
        "tests/test_money_rounding.py",
        "tests/test_amount_spellings.py",
        "tests/test_guard_rounding.py",
        "tests/test_guard_boundaries.py",
        "tests/budgets/test_budget.py",
        *NO_SERVERS,
    )),
    Target("admission", "admission.py", (
        "tests/test_admission.py",
        "tests/test_guard_figures.py",
        "tests/alerts",
        *NO_SERVERS,
    )),
    Target("periods", "budgets/_periods.py", (
        "tests/budgets",
        *NO_SERVERS,
    )),
    Target("window", "limits/_window.py", (
        "tests/limits",
        *NO_SERVERS,
    )),
    Target("cost", "pricing/_cost.py", (
        "tests/pricing/test_cost_parts.py",
        "tests/pricing/test_price_from_usd.py",
        "tests/pricing/test_cost.py",
        "tests/pricing/test_tiers.py",
        "tests/pricing/test_media.py",
    )),
    Target("worst_case", "worst_case.py", (
        "tests/test_worst_case_rates.py",
        "tests/test_worst_case.py",
        "tests/test_worst_case_cache_marks.py",
    )),
)  # fmt: skip

# (pytest cannot rewrite the asserts of plugins imported before it starts: PRELOAD does that)
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "--hypothesis-seed=0",
               "-W", "ignore::pytest.PytestAssertRewriteWarning")  # fmt: skip
# Imported once here, before forking, so no mutant pays for them (about a second each on the
# pricing tests: the SDKs' types, a pytest plugin's client); costcap itself never is. Those
# not installed are skipped.
PRELOAD = ("pytest", "hypothesis", "pytest_asyncio", "genai_prices", "httpx", "anyio", "redis",
           "psycopg", "rich", "typer", "limits", "openai", "anthropic", "langsmith.pytest_plugin",
           "tomllib", "zoneinfo", "decimal")  # fmt: skip
# A mutant that builds a huge integer (a bound check removed) fails with MemoryError at this
# size instead of taking the shared machine's memory: 4 GiB of address space per test run.
MEMORY_LIMIT = 4 << 30
COPIED = ("src", "tests")
IGNORED = shutil.ignore_patterns("__pycache__", ".hypothesis", "*.db", "*.pyc")
KILLED, TIMEOUT, SURVIVED, EQUIVALENT = "killed", "timeout", "survived", "equivalent"


class ToolError(Exception):
    """The run cannot say anything about the mutants (exit status 2)."""


@dataclass(slots=True)
class Outcome:
    mutant: Mutant
    status: str
    seconds: float = 0.0
    by: str = ""  # the first failing test, if any


@dataclass(slots=True)
class Report:
    target: Target
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    timeout_s: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def score(self) -> float:
        judged = len(self.outcomes) - self.count(EQUIVALENT)
        return (self.count(KILLED) + self.count(TIMEOUT)) / judged if judged else 1.0


def read_equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """``id reason`` per line (``#`` comments and blank lines ignored): the reason is required."""
    accepted: dict[str, str] = {}
    if not path.exists():
        return accepted
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        mutant_id, _, reason = text.partition(" ")
        if not reason.strip():
            raise ToolError(f"{path.name}:{number}: {mutant_id} needs a reason")
        accepted[mutant_id] = reason.strip()
    return accepted


def say(text: str = "", *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


# -- the copies and the forked test runs


def make_copies(base: Path, jobs: int) -> list[Path]:
    copies = []
    for n in range(jobs):
        copy = base / f"w{n}"
        for name in COPIED:
            shutil.copytree(ROOT / name, copy / name, ignore=IGNORED)
        shutil.copy2(ROOT / "pyproject.toml", copy / "pyproject.toml")
        copies.append(copy)
    return copies


def start_tests(copy: Path, tests: Sequence[str], log: Path) -> int:
    """Fork a child that runs ``tests`` in ``copy``; its pid (also its process group)."""
    pid = os.fork()
    if pid:
        return pid
    code = 3
    try:  # the child: never returns
        os.setpgid(0, 0)
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.chdir(copy)
        sys.path[:0] = [str(copy / "src"), str(copy)]
        os.environ["PYTHONPATH"] = os.pathsep.join([str(copy / "src"), str(copy)])
        import pytest

        code = int(pytest.main([*tests, *PYTEST_ARGS]))
        costcap = sys.modules.get("costcap")
        if costcap is not None and not str(costcap.__file__).startswith(str(copy)):
            say(f"mutate: costcap imported from {costcap.__file__}, not the copy")
            code = 3
    except BaseException:  # noqa: BLE001 - a forked child reports everything and exits
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def wait(pid: int, deadline: float) -> int | None:
    """The child's pytest exit code, or None once ``deadline`` has passed (the child is killed)."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.01)


def first_failure(log: Path) -> str:
    text = log.read_text(encoding="utf-8", errors="replace")
    match = re.search(r"^(?:FAILED|ERROR) (\S+)", text, re.MULTILINE)
    return match.group(1) if match else (text.strip().splitlines() or [""])[-1][:120]


def run_once(copy: Path, tests: Sequence[str], log: Path, timeout_s: float) -> int | None:
    return wait(start_tests(copy, tests, log), time.monotonic() + timeout_s)


def check_isolation(copy: Path, log: Path) -> None:
    """A broken ``money.py`` in the copy must fail the tests: else they import another costcap."""
    module = copy / "src" / "costcap" / "money.py"
    original = module.read_text(encoding="utf-8")
    module.write_text('raise ImportError("mutation canary")\n' + original, encoding="utf-8")
    try:
        code = run_once(copy, ["tests/test_money.py"], log, 300)
    finally:
        module.write_text(original, encoding="utf-8")
    if code == 0:
        raise ToolError("the canary mutant survived: the tests do not import the copy's costcap")


def baseline(target: Target, copy: Path, log: Path) -> float:
    """Seconds the unmutated tests take; they must pass."""
    started = time.monotonic()
    code = run_once(copy, target.tests, log, 1800)
    if code != 0:
        failure = first_failure(log)
        raise ToolError(f"{target.name}: the unmutated tests fail ({failure}); see {log}")
    return time.monotonic() - started


@contextmanager
def restored(files: Sequence[Path]) -> Iterator[None]:
    originals = [f.read_text(encoding="utf-8") for f in files]
    try:
        yield
    finally:
        for f, text in zip(files, originals, strict=True):
            f.write_text(text, encoding="utf-8")


def run_target(
    target: Target, copies: Sequence[Path], accepted: dict[str, str], timeout_factor: float
) -> Report:
    report = Report(target)
    source = (copies[0] / "src" / "costcap" / target.path).read_text(encoding="utf-8")
    mutants = mutants_of(source, target.name)
    logs = [copy / "mutant.log" for copy in copies]
    started = time.monotonic()
    report.timeout_s = timeout_factor * baseline(target, copies[0], logs[0]) + 10
    pending = [m for m in mutants if m.id not in accepted]
    report.outcomes = [Outcome(m, EQUIVALENT) for m in mutants if m.id in accepted]
    files = [copy / "src" / "costcap" / target.path for copy in copies]
    running: dict[int, tuple[int, Mutant, float]] = {}  # worker → (pid, mutant, start)
    with restored(files):
        while pending or running:
            for worker in range(len(copies)):
                if worker not in running and pending:
                    mutant = pending.pop(0)
                    files[worker].write_text(apply(source, mutant), encoding="utf-8")
                    pid = start_tests(copies[worker], target.tests, logs[worker])
                    running[worker] = (pid, mutant, time.monotonic())
            for worker, (pid, mutant, began) in list(running.items()):
                done, status = os.waitpid(pid, os.WNOHANG)
                late = time.monotonic() - began > report.timeout_s
                if not done and not late:
                    continue
                code = os.waitstatus_to_exitcode(status) if done else wait(pid, 0)
                del running[worker]
                report.outcomes.append(outcome(mutant, code, time.monotonic() - began,
                                               logs[worker]))  # fmt: skip
            time.sleep(0.01)
    report.outcomes.sort(key=lambda o: mutants.index(o.mutant))
    report.seconds = time.monotonic() - started
    return report


def outcome(mutant: Mutant, code: int | None, seconds: float, log: Path) -> Outcome:
    if code is None:
        return Outcome(mutant, TIMEOUT, seconds)
    if code in (4, 5):  # usage error, no tests collected: the table is wrong, not the mutant
        raise ToolError(f"{mutant.id}: pytest exit code {code}: {first_failure(log)}")
    if code == 0:
        return Outcome(mutant, SURVIVED, seconds)
    return Outcome(mutant, KILLED, seconds, first_failure(log))


# -- reporting


def diff_line(source: str, mutant: Mutant) -> str:
    """The mutated line(s), ``-old`` / ``+new``."""
    lines = difflib.unified_diff(
        source.splitlines(), apply(source, mutant).splitlines(), n=0, lineterm=""
    )
    return "\n".join(f"      {line.strip()}" for line in list(lines)[3:])


def print_report(reports: Sequence[Report], sources: dict[str, str], min_score: float) -> None:
    say()
    say("| module | generated | killed | timeouts | survived | equivalent | score | time |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in reports:
        mark = "" if r.score >= min_score else " ✗"
        say(f"| {r.target.name} | {len(r.outcomes)} | {r.count(KILLED)} | {r.count(TIMEOUT)} "
              f"| {r.count(SURVIVED)} | {r.count(EQUIVALENT)} | {r.score:.1%}{mark} "
              f"| {r.seconds:.0f} s |")  # fmt: skip
    for r in reports:
        survivors = [o for o in r.outcomes if o.status == SURVIVED]
        if survivors:
            say(f"\nsurvivors of {r.target.name} ({r.target.path}):")
            for o in survivors:
                say(f"  {o.mutant.id}\n{diff_line(sources[r.target.name], o.mutant)}")


def write_json(path: Path, reports: Sequence[Report]) -> None:
    data = {
        r.target.name: {
            "seconds": round(r.seconds, 1),
            "timeout_s": round(r.timeout_s, 1),
            "score": r.score,
            "mutants": {o.mutant.id: {"status": o.status, "by": o.by} for o in r.outcomes},
        }
        for r in reports
    }
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    names = [t.name for t in MODULES]
    parser = argparse.ArgumentParser(prog="mutate", description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", choices=names, help="default: all")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--min-score", type=float, default=0.9)
    parser.add_argument("--timeout-factor", type=float, default=3.0,
                        help="a mutant's time limit: this × the unmutated run, + 10 s")  # fmt: skip
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--show", metavar="ID", help="print one mutant as a diff, run nothing")
    parser.add_argument("--json", type=Path, help="write every mutant's outcome here")
    return parser.parse_args(argv)


def run(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    targets = [t for t in MODULES if args.module is None or t.name in args.module]
    sources = {
        t.name: (ROOT / "src" / "costcap" / t.path).read_text(encoding="utf-8") for t in MODULES
    }
    if args.list or args.show:
        return show(targets, sources, args.show)
    try:
        accepted = read_equivalents()
        return mutate(targets, accepted, args)
    except ToolError as error:
        say(f"mutate: {error}", err=True)
        return 2


def show(targets: Sequence[Target], sources: dict[str, str], wanted: str | None) -> int:
    for t in targets:
        for mutant in mutants_of(sources[t.name], t.name):
            if wanted is None:
                say(mutant.id)
            elif mutant.id == wanted:
                say(f"{mutant.id} ({t.path})\n{diff_line(sources[t.name], mutant)}")
                return 0
    if wanted is None:
        return 0
    say(f"mutate: no mutant {wanted}", err=True)
    return 1


def mutate(targets: Sequence[Target], accepted: dict[str, str], args: argparse.Namespace) -> int:
    if "costcap" in sys.modules:
        raise ToolError("costcap is imported before forking: the mutants would not be seen")
    sys.dont_write_bytecode = True
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    for name in PRELOAD:
        if importlib.util.find_spec(name.partition(".")[0]) is not None:
            importlib.import_module(name)
    started = time.monotonic()
    reports: list[Report] = []
    with tempfile.TemporaryDirectory(prefix="costcap-mutate-") as tmp:
        copies = make_copies(Path(tmp), args.jobs)
        check_isolation(copies[0], Path(tmp) / "canary.log")
        sources = {}
        for target in targets:
            reports.append(run_target(target, copies, accepted, args.timeout_factor))
            r = reports[-1]
            sources[target.name] = (copies[0] / "src" / "costcap" / target.path).read_text(
                encoding="utf-8"
            )
            say(f"{target.name}: {len(r.outcomes)} mutants, {r.score:.1%} killed "
                  f"in {r.seconds:.0f} s (time limit {r.timeout_s:.0f} s)")  # fmt: skip
    generated = {o.mutant.id for r in reports for o in r.outcomes}
    names = {t.name for t in targets}
    stale = [i for i in accepted if i.split(":")[0] in names and i not in generated]
    print_report(reports, sources, args.min_score)
    for mutant_id in stale:
        say(f"\nwarning: {mutant_id} is in {EQUIVALENTS.name} but no longer generated")
    if args.json:
        write_json(args.json, reports)
    counts = Counter(r.score >= args.min_score for r in reports)
    say(f"\n{len(reports)} modules, {counts[False]} under {args.min_score:.0%}, "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip
    return 1 if counts[False] else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
