"""``costcap keys``: create, list, show, revoke, rotate and expire the gateway's virtual keys.

Where the keys live: ``--keys URL``, else costcap.toml's ``[gateway] keys``, else its
``[guard] store`` or ``[ledger] url`` when that is SQLite or PostgreSQL. A secret is printed once,
by ``create`` and ``rotate``: only its hash is stored.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from costcap.cli.app import app
from costcap.cli.options import config_path, not_empty
from costcap.cli.rows import cell
from costcap.errors import ConfigError

if TYPE_CHECKING:
    from costcap.gateway.keys import KeyStore, VirtualKey

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="The gateway's virtual keys: create, list, show, revoke, rotate, expire.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

Config = Annotated[Path | None, typer.Option(help="costcap.toml (default: ./costcap.toml).")]
Keys = Annotated[
    str | None,
    typer.Option(
        "--keys",
        help="Where the keys live (default: \\[gateway] keys in costcap.toml, else the "
        "database of \\[guard] store or \\[ledger] url).",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
KeyId = Annotated[str, typer.Argument(help="The key's id (ck_…).")]
_REVOCATION = "every gateway refuses it within its key cache time (1 s by default)"


@contextmanager
def _store(config: Path | None, keys: str | None) -> Iterator[KeyStore]:
    from costcap.gateway.keys import keys_url, open_key_store

    store = open_key_store(keys_url(config_path(config), keys))
    try:
        yield store
    finally:
        store.close()


def _json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _print(key: VirtualKey, as_json: bool, text: str) -> None:
    """The key as JSON (``--json``), else ``text``."""
    if as_json:
        _json(key.to_json())
    else:
        sys.stdout.write(text)


def _listed(values: tuple[str, ...] | None, every: str, none: str = "-") -> str:
    if values is None:
        return every
    return ", ".join(values) or none


def _expiry(key: VirtualKey) -> str:
    return "never" if key.expires_at is None else cell(key.expires_at, "time")


def _shown(field: str, value: Any) -> str:
    """A field of :meth:`VirtualKey.to_json` as ``show`` prints it."""
    if field == "models" and value is None:
        return "any"
    if isinstance(value, list):
        return ", ".join(value) or "-"
    if field == "expires_at" and value is None:
        return "never"
    return cell(value, "time" if field.endswith("_at") else "text")


def _summary(key: VirtualKey) -> str:
    """One line: who the key charges, what it may call, its budgets, limits and expiry."""
    parts = [
        f"user {key.user}" if key.user else "any user",
        f"feature {key.feature}" if key.feature else "any feature",
        f"models {_listed(key.models, '')}" if key.models else "any model",
        f"budgets {_listed(key.budget_specs, '')}" if key.budget_specs else "no budget",
        f"limits {_listed(key.limit_specs, '')}" if key.limit_specs else "no rate limit",
        "never expires" if key.expires_at is None else f"expires {_expiry(key)}",
    ]
    name = f"{key.name!r}: " if key.name else ""
    return name + " · ".join(parts)


def _with_secret(key: VirtualKey, secret: str, verb: str, as_json: bool) -> None:
    if as_json:
        _json({**key.to_json(), "secret": secret})
        return
    sys.stdout.write(f"{verb} {key.id}: {_summary(key)}\n")
    sys.stdout.write(f"secret (shown once, stored nowhere): {secret}\n")


@keys_app.command()
def create(
    user: Annotated[str | None, typer.Option(help="Charge every call to this user.")] = None,
    feature: Annotated[str | None, typer.Option(help="... to this feature.")] = None,
    name: Annotated[str | None, typer.Option(help="A label for people.")] = None,
    budget: Annotated[
        list[str] | None,
        typer.Option(help="A hard budget: '$5/day', '$2/rolling:24h' (repeatable)."),
    ] = None,
    limit: Annotated[
        list[str] | None,
        typer.Option(help="A rate limit: '20/minute', '100000 tokens/hour' (repeatable)."),
    ] = None,
    models: Annotated[
        str | None, typer.Option(help="Allowed models, comma-separated (default: any).")
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="30d, 12h, 90m or a date, 2027-01-01 (default: never).")
    ] = None,
    config: Config = None,
    keys: Keys = None,
    as_json: AsJson = False,
) -> None:
    """Create a key. Its secret is printed once: only its hash is stored."""
    from costcap.gateway.keys import parse_key_spec

    not_empty(user=user, feature=feature, name=name, models=models, expires=expires)
    spec = parse_key_spec(
        name=name,
        user=user,
        feature=feature,
        models=models,
        budgets=budget or (),
        limits=limit or (),
        expires=expires,
    )
    with _store(config, keys) as store:
        key, secret = store.create(spec)
    _with_secret(key, secret, "created", as_json)


@keys_app.command("list")
def list_keys(
    include_revoked: Annotated[bool, typer.Option("--all", help="Revoked keys too.")] = False,
    config: Config = None,
    keys: Keys = None,
    as_json: AsJson = False,
) -> None:
    """Every key (expired ones too; revoked ones with --all), oldest first."""
    with _store(config, keys) as store:
        found = store.list(include_revoked=include_revoked)
    now = datetime.now(UTC)
    if as_json:
        _json([key.to_json(now) for key in found])
        return
    if not found:
        sys.stdout.write("no virtual keys (costcap keys create makes one)\n")
        return
    table = Table(title="virtual keys", title_justify="left")
    for header in ("id", "name", "user", "feature", "models", "budgets", "limits", "expires",
                   "state"):  # fmt: skip
        # never cut short: a narrow terminal wraps a cell, but not an id or a state
        table.add_column(header, overflow="fold", no_wrap=header in ("id", "state"))
    for key in found:
        table.add_row(
            key.id,
            key.name or "-",
            key.user or "-",
            key.feature or "-",
            _listed(key.models, "any"),
            _listed(key.budget_specs, ""),
            _listed(key.limit_specs, ""),
            _expiry(key),
            key.state(now),
        )
    Console().print(table)


@keys_app.command()
def show(key_id: KeyId, config: Config = None, keys: Keys = None, as_json: AsJson = False) -> None:
    """One key: who it charges, what it may do, when it expires."""
    with _store(config, keys) as store:
        key = store.get(key_id)
    fields = key.to_json().items()
    _print(key, as_json, "".join(f"{f.removesuffix('_at'):<9} {_shown(f, v)}\n" for f, v in fields))


@keys_app.command()
def revoke(
    key_id: KeyId, config: Config = None, keys: Keys = None, as_json: AsJson = False
) -> None:
    """Revoke a key for good: gateways refuse it within their key cache time (1 s by default)."""
    with _store(config, keys) as store:
        before = store.get(key_id)
        key = store.revoke(key_id)
    if before.revoked_at is not None:
        _print(key, as_json, f"{key.id} was revoked already, at {cell(key.revoked_at, 'time')}\n")
    else:
        _print(key, as_json, f"revoked {key.id}: {_REVOCATION}\n")


@keys_app.command()
def rotate(
    key_id: KeyId, config: Config = None, keys: Keys = None, as_json: AsJson = False
) -> None:
    """A new secret (printed once), same id, budgets and spend; the old secret stops working."""
    with _store(config, keys) as store:
        key, secret = store.rotate(key_id)
    _with_secret(key, secret, "rotated", as_json)


@keys_app.command()
def expire(
    key_id: KeyId,
    within: Annotated[str | None, typer.Option("--in", help="From now: 7d, 12h, 90m.")] = None,
    at: Annotated[str | None, typer.Option(help="A date or time: 2027-01-01.")] = None,
    never: Annotated[bool, typer.Option("--never", help="Never expire.")] = False,
    config: Config = None,
    keys: Keys = None,
    as_json: AsJson = False,
) -> None:
    """Set when a key expires (--in, --at or --never)."""
    from costcap.gateway.keys import parse_duration, parse_moment

    if sum((within is not None, at is not None, never)) != 1:
        raise ConfigError("choose one of --in DURATION, --at DATE and --never")
    now = datetime.now(UTC)
    expires_at = (
        parse_duration(within, now)
        if within is not None
        else parse_moment(at, now)
        if at is not None
        else None
    )
    with _store(config, keys) as store:
        key = store.set_expiry(key_id, expires_at)
    when = "never expires" if key.expires_at is None else f"expires {_expiry(key)}"
    _print(key, as_json, f"{key.id} {when}\n")
