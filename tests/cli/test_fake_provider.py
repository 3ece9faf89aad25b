"""``costcap fake-provider`` fails before serving, in one line, when it cannot serve."""

from __future__ import annotations

import socket
import sys

import pytest

from tests.cli.helpers import error


@pytest.fixture
def not_served(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Serving replaced by a record of the port of the socket it would have served on."""
    from costcap.cli import fake_provider

    served: list[int] = []

    def record(sock: socket.socket, output_tokens: int) -> None:
        served.append(sock.getsockname()[1])
        sock.close()

    monkeypatch.setattr(fake_provider, "serve", record)
    return served


def test_a_port_in_use_is_one_line_and_no_server_log(
    busy_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """The port is checked before uvicorn starts: no log lines, exit 2."""
    argv = ["fake-provider", "--port", str(busy_port)]
    assert error(capsys, argv) == f"costcap: error: port {busy_port} on 127.0.0.1 is in use\n"


def test_an_unknown_host_is_one_line(
    not_served: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    err = error(capsys, ["fake-provider", "--host", "no-such-host.invalid"])
    assert "cannot listen on 'no-such-host.invalid'" in err
    assert not_served == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "-1"], "Invalid value for --port: must be 0..65535 (got -1)"),
        (["--port", "65536"], "Invalid value for --port: must be 0..65535 (got 65536)"),
        (["--output-tokens", "-1"], "Invalid value for --output-tokens: must be 0..1,000,000"),
    ],
)
def test_bad_numbers_are_refused(
    argv: list[str],
    message: str,
    not_served: list[int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert message in error(capsys, ["fake-provider", *argv])
    assert not_served == []


def test_a_free_port_is_bound_before_serving(
    not_served: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    """The socket handed to the server is bound to the port asked for."""
    from costcap.cli.app import run

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert run(["fake-provider", "--port", str(port)]) == 0
    assert f"fake provider on http://127.0.0.1:{port}" in capsys.readouterr().out
    assert not_served == [port]


@pytest.mark.parametrize("module", ["uvicorn", "starlette"])
def test_without_the_server_extra_it_says_what_to_install(
    module: str,
    not_served: list[int],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A core install: the pip command, not a ModuleNotFoundError."""
    monkeypatch.setitem(sys.modules, module, None)
    assert error(capsys, ["fake-provider"]) == (
        "costcap: error: costcap fake-provider needs: pip install 'costcap[server]'\n"
    )
    assert not_served == []


def test_port_0_serves_on_a_port_the_system_chooses(
    not_served: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    from costcap.cli.app import run

    assert run(["fake-provider", "--port", "0"]) == 0
    (port,) = not_served
    assert port > 0
    assert f"fake provider on http://127.0.0.1:{port} " in capsys.readouterr().out
