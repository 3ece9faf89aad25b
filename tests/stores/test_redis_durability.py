"""A Redis server that may lose spend (no persistence, an eviction policy) is named in a warning at
the store's first call, or refused with ``require_durable=1``. The test server runs with
``--save "" --appendonly no``: exactly such a server."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis

from costcap.errors import ConfigError
from costcap.stores import Charge, CounterState, open_async_store, open_store
from costcap.stores._redis_durability import read_config, risks
from tests.services import REDIS_URL, redis_url, unique

LEASE = 60.0
CHARGE = [Charge("b", ("b",), 100, 10)]
LOGGER = "costcap.stores"


@pytest.fixture
def url() -> Iterator[str]:
    """A fresh prefix on the test server; its keys are deleted afterwards."""
    fresh = redis_url()
    yield fresh
    base, _, prefix = fresh.partition("?prefix=")
    with redis.Redis.from_url(base) as client:
        keys = list(client.scan_iter(match=f"{{{prefix}}}:*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def server_without_persistence() -> None:
    """Skip unless the test server is the one without persistence (as started for the tests)."""
    with redis.Redis.from_url(REDIS_URL.partition("?")[0]) as client:
        if client.config_get("appendonly").get("appendonly") != "no":
            pytest.skip("the test Redis persists (appendonly yes)")


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


@pytest.mark.usefixtures("server_without_persistence")
def test_a_server_without_persistence_is_named_in_one_warning(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The first call logs one warning naming the risk (persistence off, appendonly); later
    calls log nothing more."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    store = open_store(url)
    try:
        assert store.admit(uuid.uuid4().hex, CHARGE, LEASE).admitted
        assert store.read([("b",)]) == [CounterState(0, 10)]
    finally:
        store.close()
    (warning,) = records(caplog, logging.WARNING)
    assert "may lose spend: persistence is off" in warning
    assert "appendonly yes" in warning
    assert "require_durable=1" in warning


@pytest.mark.usefixtures("server_without_persistence")
def test_require_durable_refuses_a_server_without_persistence(url: str) -> None:
    """With ``require_durable=1`` the first call raises ConfigError naming the risk, and nothing
    is written."""
    store = open_store(url + "&require_durable=1")
    try:
        with pytest.raises(ConfigError, match="may lose spend and require_durable=1 is set"):
            store.admit(uuid.uuid4().hex, CHARGE, LEASE)
        with pytest.raises(ConfigError, match="persistence is off"):
            store.mark_once("m", 60)
    finally:
        store.close()
    base, _, prefix = url.partition("?prefix=")
    with redis.Redis.from_url(base) as client:
        assert list(client.scan_iter(match=f"{{{prefix}}}:*")) == []


@pytest.mark.usefixtures("server_without_persistence")
async def test_the_async_store_checks_the_server_too(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The asyncio store warns once without the option and refuses with it."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    warned = open_async_store(url)
    refusing = open_async_store(url + "&require_durable=true")
    try:
        await warned.read([("b",)])
        await warned.read([("b",)])
        with pytest.raises(ConfigError, match="persistence is off"):
            await refusing.read([("b",)])
    finally:
        await warned.close()
        await refusing.close()
    assert len(records(caplog, logging.WARNING)) == 1


def test_require_durable_that_is_not_a_truth_value_is_refused() -> None:
    """``require_durable=maybe`` is a ConfigError when the store is created."""
    with pytest.raises(ConfigError, match="require_durable must be true or false"):
        open_store("redis://127.0.0.1:6379/15?require_durable=maybe")


@pytest.fixture
def no_config_user(url: str) -> Iterator[str]:
    """A URL for a user the server denies CONFIG (as managed services do)."""
    name, password = unique("cctest_user"), uuid.uuid4().hex
    base = REDIS_URL.partition("?")[0]
    with redis.Redis.from_url(base) as admin:
        admin.acl_setuser(
            name, enabled=True, passwords=[f"+{password}"], keys=["*"], channels=["*"],
            commands=["+@all", "-config"],
        )  # fmt: skip
        try:
            parts = urlsplit(url)
            yield parts._replace(netloc=f"{name}:{password}@{parts.netloc}").geturl()
        finally:
            admin.acl_deluser(name)


@pytest.mark.usefixtures("server_without_persistence")
def test_a_server_that_denies_config_is_logged_once_as_unchecked(
    no_config_user: str, caplog: pytest.LogCaptureFixture
) -> None:
    """CONFIG refused: one info line says the server could not be checked; calls work."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    store = open_store(no_config_user)
    try:
        assert store.admit(uuid.uuid4().hex, CHARGE, LEASE).admitted
        assert store.read([("b",)]) == [CounterState(0, 10)]
    finally:
        store.close()
    assert records(caplog, logging.WARNING) == []
    (line,) = records(caplog, logging.INFO)
    assert "could not check its eviction policy and persistence" in line


@pytest.mark.usefixtures("server_without_persistence")
def test_require_durable_refuses_a_server_that_cannot_be_checked(no_config_user: str) -> None:
    """CONFIG refused and ``require_durable=1``: a ConfigError saying why."""
    store = open_store(no_config_user + "&require_durable=1")
    try:
        with pytest.raises(ConfigError, match="does not allow CONFIG GET"):
            store.read([("b",)])
    finally:
        store.close()


def test_an_unknown_config_command_reads_as_unchecked() -> None:
    """A server where CONFIG is renamed answers "unknown command": read as not checkable."""
    reply = redis.ResponseError("unknown command 'CONFIG', with args beginning with: 'GET'")
    assert read_config([reply, reply, reply], "h:1/0") == str(reply)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"maxmemory-policy": "noeviction", "appendonly": "yes", "save": ""}, []),
        ({"maxmemory-policy": "volatile-lru", "appendonly": "yes"}, ["'volatile-lru'"]),
        ({"maxmemory-policy": "allkeys-lfu", "appendonly": "yes"}, ["'allkeys-lfu'"]),
        ({"maxmemory-policy": "noeviction", "appendonly": "no", "save": "3600 1"}, ["snapshots"]),
        ({"maxmemory-policy": "noeviction", "appendonly": "no", "save": ""}, ["is off"]),
    ],
)
def test_risks_name_eviction_and_missing_aof(config: dict[str, str], named: list[str]) -> None:
    """noeviction with AOF is safe; any eviction policy (costcap's keys all have TTLs, so
    volatile-* too) and anything short of AOF is named."""
    found = risks(config)
    assert len(found) == len(named)
    for sentence, word in zip(found, named, strict=True):
        assert word in sentence
