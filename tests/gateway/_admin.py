"""Helpers for the admin API's tests: clients holding the admin key or a virtual key, calls
through the gateway that fill its ledger, and the CLI's ``--json`` output to compare with."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from costcap.cli.app import run
from tests.gateway.conftest import RunningGateway

ADMIN_KEY = "admin-secret"  # what the conftest's gateway reads from its admin_key_env
HI = [{"role": "user", "content": "hi"}]


def ask(
    gw: RunningGateway, method: str, path: str, secret: str | None = ADMIN_KEY, **options: Any
) -> httpx.Response:
    """``METHOD /admin{path}`` sending ``secret`` as a bearer token (None: no key)."""
    headers = {} if secret is None else {"authorization": f"Bearer {secret}"}
    return httpx.request(method, f"{gw.base}/admin{path}", headers=headers, timeout=30, **options)


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The OpenAI-style error object of an answer that must have ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    found: dict[str, Any] = response.json()["error"]
    assert isinstance(found["message"], str)
    assert found["message"]
    assert isinstance(found["type"], str)
    assert found["type"]
    return found


def call(gw: RunningGateway, secret: str, model: str = "gpt-4o-mini") -> None:
    """One chat completion through the gateway with the virtual key ``secret``."""
    sdk = openai.OpenAI(base_url=gw.openai_base, api_key=secret, max_retries=0)
    sdk.chat.completions.create(model=model, messages=HI)  # type: ignore[arg-type]
    sdk.close()


def refused(gw: RunningGateway, secret: str) -> None:
    """A call the gateway refuses (the key's budget is too small for it)."""
    with pytest.raises(openai.APIStatusError) as caught:
        call(gw, secret)
    assert caught.value.status_code == 402


def cli_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    """What ``costcap ARGV --json`` prints, parsed."""
    capsys.readouterr()
    code = run([*argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)
