"""KeyStore on every backend: create, find, revoke, rotate, expire, list; what is stored; many
writers at once."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from costcap.errors import StoreUnavailable
from costcap.gateway.keys import (
    KeyNotFound,
    KeyRevoked,
    KeyStore,
    open_key_store,
    parse_key_spec,
)
from costcap.stores._postgres_url import Settings
from tests.clocks import Clock
from tests.gateway.keys.conftest import START

SPEC = parse_key_spec(
    name="alice chat", user="alice", feature="chat", models="gpt-4o-mini,claude-haiku-4-5",
    budgets=["$5/day", "$2/rolling:24h"], limits=["20/minute", "5 concurrent"],
)  # fmt: skip


def raw_rows(url: str) -> list[tuple[Any, ...]]:
    """Every row of the keys table, read past the store."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return conn.execute("SELECT * FROM costcap_virtual_keys").fetchall()
    settings = Settings.from_url(url)
    with psycopg.connect(settings.conninfo) as pg:
        return pg.execute(f'SELECT * FROM "{settings.schema}".costcap_virtual_keys').fetchall()


def test_a_created_key_is_found_by_its_secret(store: KeyStore) -> None:
    """find(secret) returns the key create() made, with every field of the spec."""
    key, secret = store.create(SPEC)
    found = store.find(secret)
    assert found == key
    assert (key.name, key.user, key.feature) == ("alice chat", "alice", "chat")
    assert key.models == ("gpt-4o-mini", "claude-haiku-4-5")
    assert key.budget_specs == ("$5/day", "$2/rolling:24h")
    assert key.limit_specs == ("20/minute", "5 concurrent")
    assert key.created_at == START
    assert (key.expires_at, key.revoked_at) == (None, None)


def test_budgets_and_limits_are_charged_to_the_key_id(store: KeyStore) -> None:
    """The key's budgets are hard, scoped key:<id>; its limits are per key."""
    key, _ = store.create(SPEC)
    assert [(b.scope, b.name, b.limit_micros, b.hard) for b in key.budgets] == [
        (f"key:{key.id}", f"key:{key.id}:day", 5_000_000, True),
        (f"key:{key.id}", f"key:{key.id}:rolling:1d", 2_000_000, True),
    ]
    assert [(r.identity, r.name, r.limit) for r in key.limits] == [
        (("key",), f"key:{key.id}:20/minute", 20),
        (("key",), f"key:{key.id}:5 concurrent", 5),
    ]


def test_ids_and_secrets_have_their_shapes(store: KeyStore) -> None:
    """ck_ and 12 hex digits; sk-cc- and 43 URL-safe characters (256 bits)."""
    key, secret = store.create(SPEC)
    assert key.id.startswith("ck_")
    assert len(key.id) == 15
    int(key.id[3:], 16)
    assert secret.startswith("sk-cc-")
    assert len(secret) == 6 + 43
    assert key.id[3:] not in secret


def test_an_unknown_secret_finds_nothing(store: KeyStore) -> None:
    store.create(SPEC)
    assert store.find("sk-cc-" + "A" * 43) is None
    assert store.find("") is None


def test_an_unknown_id_raises_key_not_found(store: KeyStore) -> None:
    for method in (store.get, store.revoke, store.rotate):
        with pytest.raises(KeyNotFound, match="no virtual key 'ck_000000000000'"):
            method("ck_000000000000")
    with pytest.raises(KeyNotFound):
        store.set_expiry("ck_000000000000", None)


def test_only_the_hash_of_the_secret_is_stored(store: KeyStore, keys_url: str) -> None:
    """Read past the store: the secret is in no column; its SHA-256 is."""
    _, secret = store.create(SPEC)
    rows = raw_rows(keys_url)
    assert len(rows) == 1
    cells = [str(cell) for cell in rows[0]]
    assert not any(secret in cell or secret[6:] in cell for cell in cells)
    assert hashlib.sha256(secret.encode()).hexdigest() in cells


def test_a_revoked_key_is_found_but_not_usable(store: KeyStore, clock: Clock) -> None:
    """The gateway sees the revocation (and refuses the key) at once."""
    key, secret = store.create(SPEC)
    clock.advance(60)
    revoked = store.revoke(key.id)
    assert revoked.revoked_at == START + timedelta(seconds=60)
    found = store.find(secret)
    assert found is not None
    assert not found.usable(clock())
    assert found.state(clock()) == "revoked"


def test_revoking_twice_keeps_the_first_time(store: KeyStore, clock: Clock) -> None:
    key, _ = store.create(SPEC)
    first = store.revoke(key.id).revoked_at
    clock.advance(3600)
    assert store.revoke(key.id).revoked_at == first


def test_rotation_kills_the_old_secret_and_keeps_the_id(store: KeyStore) -> None:
    """Same id, budgets and limits; the old secret finds nothing at once, the new one the key."""
    key, old = store.create(SPEC)
    rotated, new = store.rotate(key.id)
    assert new != old
    assert store.find(old) is None
    assert store.find(new) == rotated == key


def test_a_revoked_key_cannot_be_rotated_or_given_an_expiry(store: KeyStore) -> None:
    key, secret = store.create(SPEC)
    store.revoke(key.id)
    with pytest.raises(KeyRevoked, match="stays revoked"):
        store.rotate(key.id)
    with pytest.raises(KeyRevoked):
        store.set_expiry(key.id, None)
    assert store.find(secret) is not None  # the old secret was not replaced


def test_a_key_expires_at_its_time_exactly(store: KeyStore, clock: Clock) -> None:
    """Usable a microsecond before expires_at, not at it."""
    spec = parse_key_spec(user="bob", expires="2h", now=clock())
    key, secret = store.create(spec)
    assert key.expires_at == START + timedelta(hours=2)
    found = store.find(secret)
    assert found is not None
    assert found.usable(START + timedelta(hours=2, microseconds=-1))
    assert not found.usable(START + timedelta(hours=2))
    assert found.state(START + timedelta(hours=2)) == "expired"


def test_expiry_can_be_moved_and_removed(store: KeyStore, clock: Clock) -> None:
    key, secret = store.create(parse_key_spec(expires="1h", now=clock()))
    later = START + timedelta(days=7)
    assert store.set_expiry(key.id, later).expires_at == later
    assert store.get(key.id).expires_at == later
    assert store.set_expiry(key.id, None).expires_at is None
    found = store.find(secret)
    assert found is not None
    assert found.usable(START + timedelta(days=3650))


def test_list_gives_keys_oldest_first_and_hides_revoked_ones(store: KeyStore, clock: Clock) -> None:
    made = []
    for user in ("a", "b", "c"):
        made.append(store.create(parse_key_spec(user=user))[0])
        clock.advance(1)
    store.revoke(made[1].id)
    assert [k.id for k in store.list()] == [made[0].id, made[2].id]
    assert [k.id for k in store.list(include_revoked=True)] == [k.id for k in made]


def test_another_store_on_the_same_database_sees_changes_at_once(
    store: KeyStore, keys_url: str
) -> None:
    """Two stores (two connections, as two processes have): a rotation by one is what the
    other finds next."""
    other = open_key_store(keys_url)
    try:
        key, old = store.create(SPEC)
        assert other.find(old) == key
        _, new = other.rotate(key.id)
        assert store.find(old) is None
        assert store.find(new) is not None
        other.revoke(key.id)
        assert store.get(key.id).revoked_at is not None
    finally:
        other.close()


def test_keys_are_created_at_once_from_many_threads(store: KeyStore, keys_url: str) -> None:
    """8 threads, each with a store of its own, create 10 keys each: 80 distinct keys, every
    secret finds its own."""

    def make(n: int) -> list[tuple[str, str]]:
        own = open_key_store(keys_url)
        try:
            return [(k.id, s) for k, s in (own.create(parse_key_spec(user=f"u{n}"))
                                           for _ in range(10))]  # fmt: skip
        finally:
            own.close()

    with ThreadPoolExecutor(8) as pool:
        made = [pair for pairs in pool.map(make, range(8)) for pair in pairs]
    assert len({key_id for key_id, _ in made}) == len({s for _, s in made}) == 80
    assert len(store.list()) == 80
    for key_id, secret in made[::9]:
        found = store.find(secret)
        assert found is not None
        assert found.id == key_id


def test_the_table_is_created_once_when_stores_open_at_once(keys_url: str) -> None:
    """Six stores opening a fresh database together: no error, one table, shared."""
    with ThreadPoolExecutor(6) as pool:
        stores = list(pool.map(lambda _: open_key_store(keys_url), range(6)))
    try:
        key, secret = stores[0].create(SPEC)
        assert all(s.find(secret) == key for s in stores)
    finally:
        for s in stores:
            s.close()


def test_a_closed_store_refuses_calls(keys_url: str) -> None:
    closed = open_key_store(keys_url)
    closed.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        closed.list()


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def forked(work: Callable[[], None], *, children: int, timeout_s: float = 30.0) -> list[str | None]:
    """Run ``work`` in ``children`` processes made by ``os.fork()`` itself, as gunicorn makes its
    workers; each child's traceback, or None when ``work`` returned. Not multiprocessing: its
    child exits through its own machinery, whose failures (exit code 1, nothing said) are not
    the store's."""
    pids: list[tuple[int, int]] = []
    for _ in range(children):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            os.close(read)
            code = 1
            try:
                work()
                code = 0
            except BaseException:  # noqa: BLE001 - whatever it is, the parent reports it
                os.write(write, traceback.format_exc().encode())
            finally:
                os._exit(code)
        os.close(write)
        pids.append((pid, read))
    deadline = time.monotonic() + timeout_s
    results: list[str | None] = []
    for pid, read in pids:
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        if done[0] == 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            results.append(f"child {pid} still running after {timeout_s} s")
        else:
            said = os.read(read, 1 << 16).decode()
            results.append(None if os.waitstatus_to_exitcode(done[1]) == 0 else said or "exit 1")
        os.close(read)
    return results


def test_a_store_opened_before_fork_works_in_the_children(store: KeyStore) -> None:
    """Two forked children (as under gunicorn --preload) use the parent's store: each on
    connections of its own, each finding the parent's key and creating one; the parent's store
    still works and sees their keys."""
    key, secret = store.create(SPEC)

    def work() -> None:
        found = store.find(secret)
        assert found is not None
        assert found.id == key.id
        store.create(parse_key_spec(user="child"))

    assert forked(work, children=2) == [None, None]
    assert sorted(k.user or "" for k in store.list()) == ["alice", "child", "child"]
