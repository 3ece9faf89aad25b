"""Counting needs no network, and the counter loads once even under concurrent first use."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_BLOCKED = textwrap.dedent(
    """
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network is blocked in this test")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    from costcap.tokens import count_messages, count_text, upper_bound_messages

    assert count_text("hello world", "gpt-4o") == 2
    assert count_text("hello world", "gpt-4") == 2
    assert count_messages([{"role": "user", "content": "Hello"}], "gpt-4o").tokens == 8
    assert count_messages([{"role": "user", "content": "Hello"}], "claude-sonnet-4-5").tokens > 0
    assert upper_bound_messages([{"role": "user", "content": "Hello"}], "gemini-2.5-pro") > 0
    print("offline ok")
    """
)


def test_counting_works_with_sockets_blocked() -> None:
    """In a fresh process whose sockets refuse to connect, every counter still works."""
    env = {"TIKTOKEN_CACHE_DIR": "/nonexistent", "PYTHONWARNINGS": "error"}
    done = subprocess.run(
        [sys.executable, "-c", _BLOCKED],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "offline ok"


def test_the_blocking_itself_works() -> None:
    """The harness really blocks: a connection attempt in it fails."""
    code = _BLOCKED.split("from costcap")[0] + "socket.create_connection(('127.0.0.1', 9))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "network is blocked" in done.stderr


def test_concurrent_first_use_builds_one_counter() -> None:
    """Many threads counting at once in a fresh process share one loaded counter."""
    code = textwrap.dedent(
        """
        import threading
        from costcap.tokens import _encodings
        from costcap.tokens import count_text

        built = []
        original = _encodings._bindings

        def counting_bindings():
            module = original()
            class Spy:
                def tokenizer_for_encoding(self, name):
                    built.append(name)
                    return module.tokenizer_for_encoding(name)
            return Spy()

        _encodings._bindings = counting_bindings
        barrier = threading.Barrier(16)
        results = []

        def work():
            barrier.wait()
            results.append(count_text("hello world " * 100, "gpt-4o"))

        threads = [threading.Thread(target=work) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert built == ["o200k_base"], built
        assert results == [results[0]] * 16, results
        print("one load")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "one load"
