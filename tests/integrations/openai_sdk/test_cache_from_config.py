"""The response cache a Guard holds: built by ``from_config`` from a ``[cache]`` that names a
``url``, used by every client wrapped on that Guard unless ``wrap`` is told otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from costcap import AsyncGuard, Guard
from costcap.cache import AsyncResponseCache, ResponseCache
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.openai_sdk.conftest import MESSAGES, MODEL, async_sdk_client, sdk_client

ASK: dict[str, Any] = {"model": MODEL, "messages": MESSAGES, "temperature": 0}


def config(tmp_path: Path, cache: str) -> Path:
    path = tmp_path / "costcap.toml"
    path.write_text(f'[guard]\nstore = "memory://"\n{cache}')
    return path


def test_from_config_builds_the_cache_its_url_names(tmp_path: Path) -> None:
    guard = Guard.from_config(config(tmp_path, '[cache]\nurl = "memory://"\nttl = "2m"\n'))
    assert isinstance(guard.cache, ResponseCache)
    assert guard.cache.policy.ttl_s == 120
    guard.close()


def test_a_cache_table_without_a_url_builds_none(tmp_path: Path) -> None:
    guard = Guard.from_config(config(tmp_path, "[cache]\nuseful_hit_rate = 0.3\n"))
    assert guard.cache is None
    guard.close()


def test_an_async_guard_gets_an_async_cache(tmp_path: Path) -> None:
    guard = AsyncGuard.from_config(config(tmp_path, '[cache]\nurl = "memory://"\n'))
    assert isinstance(guard.cache, AsyncResponseCache)


def test_a_client_wrapped_on_the_guard_uses_its_cache(
    tmp_path: Path, fp: FakeProviderServer
) -> None:
    guard = Guard.from_config(config(tmp_path, '[cache]\nurl = "memory://"\n'), notifiers=[])
    with wrap(sdk_client(fp), guard=guard) as client:
        first = client.chat.completions.create(**ASK)
        second = client.chat.completions.create(**ASK)
    assert second == first
    assert len(fp.requests) == 1
    guard.close()


def test_cache_false_wraps_without_the_guards_cache(tmp_path: Path, fp: FakeProviderServer) -> None:
    guard = Guard.from_config(config(tmp_path, '[cache]\nurl = "memory://"\n'), notifiers=[])
    with wrap(sdk_client(fp), guard=guard, cache=False) as client:
        client.chat.completions.create(**ASK)
        client.chat.completions.create(**ASK)
    assert len(fp.requests) == 2
    guard.close()


async def test_an_async_client_wrapped_on_the_guard_uses_its_cache(
    tmp_path: Path, fp: FakeProviderServer
) -> None:
    guard = AsyncGuard.from_config(config(tmp_path, '[cache]\nurl = "memory://"\n'), notifiers=[])
    async with wrap(async_sdk_client(fp), guard=guard) as client:
        first = await client.chat.completions.create(**ASK)
        second = await client.chat.completions.create(**ASK)
    assert second == first
    assert len(fp.requests) == 1
    await guard.close()
