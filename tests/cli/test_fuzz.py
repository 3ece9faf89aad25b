"""Every command and subcommand of ``costcap``, fed hostile arguments and files.

The commands are read from the CLI's own command tree, so a command added later is fuzzed too.
Each run starts from arguments that work for that command (none for a command this file does
not know) and adds hostile ones: garbage values, huge and negative numbers, far dates, missing,
unreadable, binary, non-UTF-8 and deeply nested files, bad URLs. Whatever happens, the command
must end with exit code 0 or 2, at most one line on stderr (``costcap: error: …`` for exit 2),
and no traceback.

Four commands would run for long: ``demo`` (a simulated day), ``fake-provider``, ``serve`` and
``dashboard`` (they serve until stopped). Everything they do before that work is fuzzed; the
work itself is replaced by a stub.
NUL characters are not fuzzed in arguments: no command line can carry one.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costcap.cli.app import command_tree, run
from tests.cli.helpers import write_ledger


@dataclass(frozen=True)
class Leaf:
    words: tuple[str, ...]  # ("report", "features")
    options: tuple[str, ...]  # options taking a value
    flags: tuple[str, ...]
    arguments: int  # positional arguments
    places: tuple[str, ...]  # options naming a file, a directory or a URL

    @property
    def name(self) -> str:
        return " ".join(self.words)


def names_a_place(param: Any) -> bool:
    """A path option (typer's own click, or click's) or a URL one."""
    described = getattr(param, "type_descriptor", None)
    is_path = described.is_path if described is not None else type(param.type).__name__ == "Path"
    return bool(is_path) or param.opts[0] in ("--ledger", "--store")


def leaves() -> list[Leaf]:
    """Every command that runs something (not a group), with its options."""
    found: list[Leaf] = []

    def walk(command: Any, words: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, (*words, name))
            return
        params = command.get_params(command.context_class(command))
        named = [p for p in params if p.opts and p.opts[0].startswith("--")]
        found.append(
            Leaf(
                words,
                tuple(p.opts[0] for p in named if not p.is_flag),
                tuple(p.opts[0] for p in named if p.is_flag and p.opts[0] != "--help"),
                len(params) - len(named),
                tuple(p.opts[0] for p in named if names_a_place(p)),
            )
        )

    walk(command_tree(), ())
    return found


LEAVES = leaves()

TEXT = [
    "", " ", "-", "--", "-1", "0", "-0", "1e309", "nan", "inf", "-inf", "0x10", "1_000", "$5",
    "1,5", "½", "é", "🙂", "\udcff", "%s", "'; DROP TABLE costcap_events;--", "x" * 5000,
    "99999999999999999999999999", "-99999999999999999999", "9223372036854775808",
    "1e-999999", "1e999999", "0.0000000000001", "9999-12-31", "0001-01-01", "2026-02-30",
    "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00+05:00", "2026-03-05T25:00", "T",
    "yesterday", "2026-03-05", "2026-03-05T14:00Z", "day", "week", "month", "gpt-4o", "--json",
]  # fmt: skip
URLS = [
    "postgresql://postgres@127.0.0.1:99999/x",
    "postgresql://postgres@127.0.0.1:abc/x",
    "postgresql://postgres@127.0.0.1:1/x",
    "postgresql://[::1",
    "postgresql://postgres@127.0.0.1:5432/test?schema=a;b",
    "redis://127.0.0.1:6379/99",
    "redis://127.0.0.1:6379/abc",
    "sqlite:///nonexistent/dir/x.db",
    "sqlite://",
    "sqlite:////",
    "foo://",
    "://",
]
STORES = [u for u in URLS if not u.startswith("sqlite:///nonexistent")]


@dataclass(frozen=True)
class Arena:
    """A directory of files, good and hostile, the commands run in."""

    root: Path
    ledger: str
    config: Path
    files: tuple[str, ...]


def hostile_files(root: Path) -> list[Path]:
    files = {
        "binary.bin": bytes(range(256)) * 4,
        "latin1.jsonl": '{"messages": [{"role": "user", "content": "caf\xe9"}]}\n'.encode(
            "latin-1"
        ),
        "deep.jsonl": b"[" * 100_000 + b"\n",
        "deep.toml": b"a = " + b"[" * 100_000 + b"\n",
        "negative.jsonl": json.dumps(
            {"messages": [{"role": "user", "content": "hi"}], "max_tokens": -5}
        ).encode(),
        "huge.jsonl": json.dumps(
            {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**40}
        ).encode(),
        "empty.jsonl": b"",
        "nul.toml": b"[guard]\x00\n",
        "latin1.toml": '[guard]\nstore = "caf\xe9"\n'.encode("latin-1"),
        "sample.jsonl": json.dumps(
            {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 50}
        ).encode(),
    }
    for i, store in enumerate(STORES):
        files[f"store{i}.toml"] = f'[guard]\nstore = "{store}"\n'.encode()
        files[f"ledger{i}.toml"] = f'[ledger]\nurl = "{store}"\n'.encode()
    paths = []
    for name, content in files.items():
        (root / name).write_bytes(content)
        paths.append(root / name)
    unreadable = root / "unreadable.toml"
    unreadable.write_text("[guard]\n")
    unreadable.chmod(0)
    (root / "a-directory").mkdir()
    return [*paths, unreadable, root / "a-directory", root / "missing.toml"]


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Arena:
    root = tmp_path_factory.mktemp("fuzz")
    ledger = write_ledger(f"sqlite:///{root / 'ledger.db'}")
    config = root / "costcap.toml"
    config.write_text(
        f'[guard]\nstore = "sqlite:///{root / "store.db"}"\n[ledger]\nurl = "{ledger}"\n'
        '[[budgets]]\nscope = "global"\nperiod = "month"\nlimit_usd = "10"\n'
        '[[budgets]]\nscope = "user:*"\nperiod = "day"\nlimit_usd = "1"\n'
    )
    files = [str(p) for p in hostile_files(root)]
    return Arena(root, ledger, config, (*files, "/etc/passwd", "/dev/null", "/dev/zero", "/"))


def base(leaf: Leaf, arena: Arena) -> list[str]:
    """Arguments that work for ``leaf`` (the fuzz then adds hostile ones)."""
    known = {
        "budgets": ["--config", str(arena.config)],
        "estimate": ["--model", "gpt-4o", "--daily-calls", "10", "--output-tokens", "5"],
        "demo": ["--calls", "10", "--users", "2"],
        "dashboard": ["--ledger", arena.ledger, "--port", "0"],
        "fake-provider": ["--port", "0"],
        "serve": ["--config", str(arena.config), "--port", "0"],
        "prices": ["gpt-4o"],
        "report pacing": ["--config", str(arena.config)],
        "whatif": ["--ledger", arena.ledger, "--route", "chat=gpt-4o-mini"],
    }
    if leaf.name in known:
        return known[leaf.name]
    return ["--ledger", arena.ledger] if leaf.words[:1] == ("report",) else []


@contextlib.contextmanager
def sandbox(arena: Arena) -> Iterator[None]:
    """Run in the arena, without COSTCAP_CONFIG, with the long-running work stubbed out."""
    import costcap.gateway
    from costcap.cli import dashboard, demo, fake_provider

    with pytest.MonkeyPatch.context() as patch, contextlib.chdir(arena.root):
        patch.delenv("COSTCAP_CONFIG", raising=False)
        patch.setenv("COLUMNS", "100")
        patch.setattr(demo, "run_demo", lambda console, calls, users, where: None)
        patch.setattr(fake_provider, "serve", lambda sock, output_tokens: sock.close())
        patch.setattr(costcap.gateway, "run", lambda settings, *, sock, **_: sock.close())
        patch.setattr(dashboard, "serve", lambda app, sock, **_: sock.close())
        yield


def check(argv: list[str], code: int, stdout: str, stderr: str) -> None:
    shown = f"costcap {' '.join(map(repr, argv))}"
    assert code in (0, 2), f"{shown}: exit {code}\n{stderr}"
    assert "Traceback" not in stdout + stderr, f"{shown}\n{stderr}"
    assert stderr.count("\n") <= 1, f"{shown}: more than one line on stderr\n{stderr}"
    if code == 2:
        assert stderr.startswith("costcap: error: "), f"{shown}\n{stderr}"
        assert stderr.endswith("\n"), f"{shown}\n{stderr}"
        for option in {a for a in argv if a.startswith("--")}:
            assert f"{option}: {option}" not in stderr, f"{shown}: names {option} twice"


def values(arena: Arena) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(TEXT),
        st.sampled_from(URLS),
        st.sampled_from(arena.files),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.text(
            st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12
        ),
    )


@pytest.mark.parametrize("leaf", LEAVES, ids=lambda leaf: leaf.name)
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_hostile_arguments(
    leaf: Leaf, arena: Arena, data: st.DataObject, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 0 or 2, at most one line on stderr, never a traceback."""
    argv = [*leaf.words, *base(leaf, arena)]
    pick = values(arena)
    choices = [
        st.tuples(st.sampled_from(leaf.options), pick) if leaf.options else st.nothing(),
        st.sampled_from(leaf.flags).map(lambda f: (f,)) if leaf.flags else st.nothing(),
        pick.map(lambda v: (v,)),  # a stray positional argument
        st.sampled_from(["--no-such-option", "-x"]).map(lambda o: (o,)),
    ]
    for extra in data.draw(st.lists(st.one_of(*choices), min_size=1, max_size=4), label="extra"):
        argv.extend(extra)
    if leaf.arguments and data.draw(st.booleans(), label="replace the argument"):
        argv[len(leaf.words)] = data.draw(pick, label="argument")
    capsys.readouterr()
    with sandbox(arena):
        code = run(argv)
    captured = capsys.readouterr()
    check(argv, code, captured.out, captured.err)


@pytest.mark.parametrize("leaf", LEAVES, ids=lambda leaf: leaf.name)
def test_every_hostile_file_and_url(
    leaf: Leaf, arena: Arena, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each option naming a file, a directory or a URL, given each hostile one in turn."""
    for option in leaf.places:
        for value in (*arena.files, *URLS):
            argv = [*leaf.words, *base(leaf, arena), option, value]
            with sandbox(arena):
                code = run(argv)
            captured = capsys.readouterr()
            check(argv, code, captured.out, captured.err)


def test_every_command_is_fuzzed() -> None:
    """The tree holds the commands this file knows (a new one is fuzzed from no arguments)."""
    names = {leaf.name for leaf in LEAVES}
    assert {
        "budgets",
        "dashboard",
        "estimate",
        "demo",
        "fake-provider",
        "prices",
        "report features",
        "serve",
    } <= names
