"""``costcap dashboard``: bad input is one line before anything is served (a port in use, a
host beyond loopback without a password, a password variable not set); otherwise it prints
the URL it serves and serves the page there, with the password when it has one."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import error, write_ledger
from tests.dashboard.reference import BUDGETS
from tests.waiting import wait_for


def test_a_port_in_use_is_one_line(busy_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["dashboard", "--port", str(busy_port), "--ledger", "sqlite:///x.db"]
    assert error(capsys, argv) == f"costcap: error: port {busy_port} on 127.0.0.1 is in use\n"


def test_beyond_loopback_without_a_password_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = error(capsys, ["dashboard", "--host", "0.0.0.0", "--port", "0"])
    assert "--host 0.0.0.0 is reachable from other machines" in err
    assert "--password-env" in err


def test_a_password_variable_not_set_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COSTCAP_TEST_NO_SUCH_PASSWORD", raising=False)
    err = error(capsys, ["dashboard", "--password-env", "COSTCAP_TEST_NO_SUCH_PASSWORD"])
    assert "$COSTCAP_TEST_NO_SUCH_PASSWORD is not set" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "65536"], "--port: must be 0..65535"),
        (["--refresh", "-1"], "--refresh: must be 0..3600"),
        (["--ledger", "mysql://x"], "unknown scheme 'mysql'"),
        (["--log-level", "loud"], "not a log level"),
    ],
)
def test_bad_options_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert message in error(capsys, ["dashboard", *argv])


class Served:
    """``costcap dashboard`` in a process of its own: the URL it printed."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "costcap", "dashboard", "--port", "0", *argv],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.said = self.process.stdout.readline()
        self.url = self.said.split(" on ", 1)[1].split(" ", 1)[0]

    def get(self, path: str = "", **options: object) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **options)  # type: ignore[arg-type]

    def stop(self) -> str:
        """Stop it as a service manager would (SIGTERM: uvicorn shuts down, then ends by the
        signal it caught); what it wrote on stderr."""
        self.process.terminate()
        _, err = self.process.communicate(timeout=30)
        assert self.process.returncode == -signal.SIGTERM, err
        return err


def serving(served: Served) -> bool:
    try:
        served.get("static/dashboard.css", auth=("", "pw"))
    except httpx.TransportError:
        return False
    return True


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    return write_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")


def test_it_prints_its_url_and_serves_the_page_there(tmp_path: Path, ledger: str) -> None:
    served = Served(["--ledger", ledger], tmp_path, dict(os.environ))
    try:
        assert served.said.startswith("costcap dashboard on http://127.0.0.1:")
        assert served.url.endswith("/")
        wait_for(lambda: serving(served), timeout=30)
        page = served.get()
        assert page.status_code == 200
        assert page.text.count('class="panel') == 10
    finally:
        assert "Traceback" not in served.stop()


def test_beyond_loopback_every_request_needs_the_password(tmp_path: Path, ledger: str) -> None:
    env = {**os.environ, "COSTCAP_TEST_DASHBOARD_PASSWORD": "pw"}
    argv = ["--host", "0.0.0.0", "--password-env", "COSTCAP_TEST_DASHBOARD_PASSWORD"]
    served = Served([*argv, "--ledger", ledger], tmp_path, env)
    try:
        assert "password: $COSTCAP_TEST_DASHBOARD_PASSWORD" in served.said
        local = served.url.replace("0.0.0.0", "127.0.0.1")
        wait_for(lambda: serving(served), timeout=30)
        refused = httpx.get(local, timeout=10)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Basic realm="costcap"'
        token = base64.b64encode(b"anyone:pw").decode()
        opened = httpx.get(local, headers={"authorization": f"Basic {token}"}, timeout=10)
        assert opened.status_code == 200
    finally:
        assert "Traceback" not in served.stop()


def test_with_costcap_toml_it_reads_its_ledger_and_budgets(tmp_path: Path, ledger: str) -> None:
    config = tmp_path / "costcap.toml"
    config.write_text(BUDGETS.format(store=tmp_path / "store.db", ledger=ledger))
    served = Served(["--config", str(config)], tmp_path, dict(os.environ))
    try:
        assert ledger in served.said
        wait_for(lambda: serving(served), timeout=30)
        budgets = served.get("api/budgets")
        assert budgets.status_code == 200
        assert [r["budget"] for r in budgets.json()] == ["global/day"]
    finally:
        assert "Traceback" not in served.stop()  # the guard it opened closed as it stopped
    assert not (tmp_path / "store.db").exists()  # read as empty, never created
