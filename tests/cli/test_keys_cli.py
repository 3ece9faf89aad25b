"""``costcap keys``: create, list, show, revoke, rotate and expire virtual keys; bad input is one
line and exit code 2."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from costcap.gateway.keys import KeyStore, open_key_store
from tests.cli.helpers import error, out
from tests.services import drop_postgres_schema, postgres_url

STORE = "sqlite:///costcap.db"


@pytest.fixture(autouse=True)
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSTCAP_CONFIG", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # a wide table: one row per key
    (tmp_path / "costcap.toml").write_text(f'[guard]\nstore = "{STORE}"\n')
    return tmp_path


@pytest.fixture
def keys() -> Iterator[KeyStore]:
    store = open_key_store(STORE)
    yield store
    store.close()


def create(capsys: pytest.CaptureFixture[str], *options: str) -> dict[str, Any]:
    """``keys create --json``: the key, with its secret."""
    data: dict[str, Any] = json.loads(out(capsys, ["keys", "create", "--json", *options]))
    return data


def test_create_prints_the_id_a_summary_and_the_secret_once(
    capsys: pytest.CaptureFixture[str], keys: KeyStore
) -> None:
    text = out(capsys, ["keys", "create", "--user", "alice", "--feature", "chat",
                        "--budget", "$5/day", "--budget", "$2/rolling:24h",
                        "--limit", "20/minute", "--models", "gpt-4o-mini"])  # fmt: skip
    first, second = text.splitlines()
    match = re.fullmatch(r"created (ck_[0-9a-f]{12}): (.*)", first)
    assert match is not None
    assert match.group(2) == (
        "user alice · feature chat · models gpt-4o-mini · budgets $5/day, $2/rolling:24h · "
        "limits 20/minute · never expires"
    )
    secret = second.removeprefix("secret (shown once, stored nowhere): ")
    assert text.count(secret) == 1
    found = keys.find(secret)
    assert found is not None
    assert found.id == match.group(1)


def test_create_json_holds_the_key_and_its_secret(
    capsys: pytest.CaptureFixture[str], keys: KeyStore
) -> None:
    data = create(capsys, "--name", "ci", "--expires", "30d")
    assert data["secret"].startswith("sk-cc-")
    assert (data["name"], data["state"], data["revoked_at"]) == ("ci", "active", None)
    assert data["expires_at"] is not None
    assert keys.get(data["id"]).name == "ci"


def test_list_shows_a_row_per_key(capsys: pytest.CaptureFixture[str]) -> None:
    made = create(capsys, "--user", "bob", "--budget", "$1/week", "--models", "a,b")
    text = out(capsys, ["keys", "list"])
    row = next(line for line in text.splitlines() if made["id"] in line)
    for cell in ("bob", "a, b", "$1/week", "never", "active"):
        assert cell in row


def test_list_json_and_all(capsys: pytest.CaptureFixture[str]) -> None:
    kept, revoked = create(capsys), create(capsys)
    out(capsys, ["keys", "revoke", revoked["id"]])
    listed = json.loads(out(capsys, ["keys", "list", "--json"]))
    assert [k["id"] for k in listed] == [kept["id"]]
    every = json.loads(out(capsys, ["keys", "list", "--all", "--json"]))
    assert [(k["id"], k["state"]) for k in every] == [
        (kept["id"], "active"), (revoked["id"], "revoked"),
    ]  # fmt: skip
    assert not any("secret" in k for k in every)


def test_list_without_keys_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert out(capsys, ["keys", "list"]) == "no virtual keys (costcap keys create makes one)\n"


def test_show_prints_every_field_and_never_the_secret(capsys: pytest.CaptureFixture[str]) -> None:
    made = create(capsys, "--user", "carol", "--limit", "5 concurrent")
    text = out(capsys, ["keys", "show", made["id"]])
    assert f"id        {made['id']}\n" in text
    assert "user      carol\n" in text
    assert "models    any\n" in text
    assert "limits    5 concurrent\n" in text
    assert "expires   never\n" in text
    assert made["secret"] not in text
    data = json.loads(out(capsys, ["keys", "show", made["id"], "--json"]))
    assert data == {k: v for k, v in made.items() if k != "secret"}


def test_revoke_stops_the_secret_and_says_when_done_already(
    capsys: pytest.CaptureFixture[str], keys: KeyStore
) -> None:
    made = create(capsys)
    text = out(capsys, ["keys", "revoke", made["id"]])
    assert text.startswith(f"revoked {made['id']}: every gateway refuses it within")
    found = keys.find(made["secret"])
    assert found is not None
    assert found.revoked_at is not None
    assert "was revoked already" in out(capsys, ["keys", "revoke", made["id"]])


def test_rotate_prints_a_new_secret_and_the_old_one_dies(
    capsys: pytest.CaptureFixture[str], keys: KeyStore
) -> None:
    made = create(capsys, "--user", "dan")
    rotated = json.loads(out(capsys, ["keys", "rotate", made["id"], "--json"]))
    assert rotated["id"] == made["id"]
    assert keys.find(made["secret"]) is None
    found = keys.find(rotated["secret"])
    assert found is not None
    assert found.id == made["id"]
    text = out(capsys, ["keys", "rotate", made["id"]])
    assert text.startswith(f"rotated {made['id']}: user dan")
    assert "secret (shown once, stored nowhere): sk-cc-" in text


def test_expire_in_at_and_never(capsys: pytest.CaptureFixture[str], keys: KeyStore) -> None:
    made = create(capsys)
    assert out(capsys, ["keys", "expire", made["id"], "--at", "2099-01-01"]) == (
        f"{made['id']} expires 2099-01-01 00:00:00 UTC\n"
    )
    out(capsys, ["keys", "expire", made["id"], "--in", "7d"])
    expires = keys.get(made["id"]).expires_at
    assert expires is not None
    assert expires.year < 2099
    assert out(capsys, ["keys", "expire", made["id"], "--never"]) == (
        f"{made['id']} never expires\n"
    )
    assert keys.get(made["id"]).expires_at is None


@pytest.mark.parametrize(("argv", "message"), [
    (["keys", "show", "ck_000000000000"], "no virtual key 'ck_000000000000'"),
    (["keys", "revoke", "ck_000000000000"], "no virtual key"),
    (["keys", "rotate", "nope"], "no virtual key 'nope'"),
    (["keys", "create", "--budget", "$5/fortnight"], "'fortnight' is not a period"),
    (["keys", "create", "--limit", "20/fortnight"], "not a time window"),
    (["keys", "create", "--expires", "2001-01-01"], "is not in the future"),
    (["keys", "create", "--user", ""], "--user"),
    (["keys", "create", "--models", ","], "non-empty name"),
    (["keys", "create", "--keys", "redis://127.0.0.1:6379/0"], "not Redis"),
    (["keys", "list", "--config", "missing.toml"], "missing.toml: cannot read the file"),
    (["keys", "expire", "ck_000000000000"], "choose one of --in DURATION, --at DATE and --never"),
    (["keys", "expire", "ck_000000000000", "--in", "7d", "--never"], "choose one of"),
    (["keys", "expire", "ck_000000000000", "--in", "2027-01-01"], "not a duration"),
    (["keys", "expire", "ck_000000000000", "--at", "7d"], "not a date"),
    (["keys", "show"], "Missing argument"),
    (["keys", "create", "--bogus"], "No such option"),
])  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert message in error(capsys, argv)


def test_a_revoked_key_cannot_be_rotated(capsys: pytest.CaptureFixture[str]) -> None:
    made = create(capsys)
    out(capsys, ["keys", "revoke", made["id"]])
    assert "stays revoked" in error(capsys, ["keys", "rotate", made["id"]])
    assert "stays revoked" in error(capsys, ["keys", "expire", made["id"], "--never"])


def test_without_a_config_the_error_says_what_to_pass(
    capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    (here / "costcap.toml").unlink()
    assert "--keys URL" in error(capsys, ["keys", "list"])


def test_keys_in_postgresql(capsys: pytest.CaptureFixture[str]) -> None:
    """--keys names the database: the same commands on PostgreSQL."""
    url = postgres_url()
    try:
        made = create(capsys, "--keys", url, "--user", "erin")
        listed = json.loads(out(capsys, ["keys", "list", "--keys", url, "--json"]))
        assert [k["user"] for k in listed] == ["erin"]
        out(capsys, ["keys", "revoke", made["id"], "--keys", url])
        assert json.loads(out(capsys, ["keys", "list", "--keys", url, "--json"])) == []
    finally:
        drop_postgres_schema(url)
