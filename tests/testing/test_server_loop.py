"""A fake provider served in a background thread leaves the process's event-loop policy as it
found it (uvicorn < 0.36 sets uvloop's process-wide when it runs a server: a process forked
after that inherits a used uvloop, which uvloop does not support)."""

from __future__ import annotations

import asyncio

import httpx

from costcap.testing import run_fake_provider


def test_serving_leaves_the_event_loop_policy_alone() -> None:
    before = type(asyncio.get_event_loop_policy())
    with run_fake_provider() as server:
        assert httpx.get(f"{server.base_url}/v1/models").status_code == 200
        assert type(asyncio.get_event_loop_policy()) is before
    assert type(asyncio.get_event_loop_policy()) is before
