"""The VirtualKey record, and what a new key is made from (:class:`KeySpec`), read from the
command line's spellings by :func:`parse_key_spec`.

Spellings:

* a budget is ``$AMOUNT/PERIOD``: ``$5/day``, ``$20/week``, ``$100/month``, ``$2/rolling:24h``
  (hard; the period as :func:`costcap.budgets.parse_period` reads it);
* a rate limit is anything :class:`costcap.limits.RateLimit` reads: ``20/minute``,
  ``100000 tokens/hour``, ``$2/day``, ``5 concurrent``;
* models are a comma-separated list (``gpt-4o-mini,claude-haiku-4-5``);
* an expiry is a duration from now (``90m``, ``12h``, ``30d``, ``2w``; also ``s``) or a date or
  time (``2027-01-01``: midnight UTC; ``2027-01-01T09:00:00+02:00``; a time without an offset is
  UTC).

Every bad value is a :class:`~costcap.errors.ConfigError` saying which and why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from costcap._checks import usd
from costcap.budgets import Budget, parse_period
from costcap.errors import ConfigError
from costcap.limits import RateLimit

__all__ = [
    "KeySpec",
    "KeyState",
    "VirtualKey",
    "key_budgets",
    "key_limits",
    "parse_duration",
    "parse_expiry",
    "parse_key_spec",
    "parse_moment",
]

KeyState = Literal["active", "expired", "revoked"]

_BUDGET = re.compile(r"^\s*(?P<amount>[^/]+?)\s*/\s*(?P<period>[^/]+?)\s*$")
_DURATION = re.compile(r"^\s*(?P<count>\d+)\s*(?P<unit>[smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_MAX_EXPIRY_S = 100 * 366 * 86400  # a century: further than that is a typo
_MAX_TEXT = 256  # characters in a name, user, feature or model
_PROBE_ID = "ck_new"  # the id a spec is checked under before the key has one


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def key_budgets(key_id: str, specs: Sequence[str]) -> tuple[Budget, ...]:
    """The hard budgets ``specs`` (``"$5/day"``) give the key ``key_id``: scope ``key:<id>``,
    named ``key:<id>:<period>``. Two budgets over the same period are refused."""
    budgets: list[Budget] = []
    for spec in specs:
        where = f"budget {spec!r}"
        match = _BUDGET.match(spec) if isinstance(spec, str) else None
        if match is None:
            raise ConfigError(f"{where}: write it as $AMOUNT/PERIOD, e.g. '$5/day'")
        amount = usd(match.group("amount"), f"{where}: amount")
        period = parse_period(match.group("period"), where=where)
        name = f"key:{key_id}:{period.label}"
        if any(b.name == name for b in budgets):
            raise ConfigError(f"{where}: the key has another budget per {period.label}")
        try:
            budgets.append(Budget(f"key:{key_id}", period, amount, mode="hard", name=name))
        except ConfigError as exc:  # its limit: above the most, or finer than a micro-dollar
            reason = str(exc).removeprefix(f"budget {name!r}: ")
            raise ConfigError(f"{where}: {reason}") from None
    return tuple(budgets)


def key_limits(key_id: str, specs: Sequence[str]) -> tuple[RateLimit, ...]:
    """The rate limits ``specs`` (``"20/minute"``) give the key ``key_id``: per key, named
    ``key:<id>:<rate>``. The same rate twice is refused."""
    limits: list[RateLimit] = []
    for spec in specs:
        if not isinstance(spec, str):
            raise ConfigError(f"rate limit {spec!r}: must be text such as '20/minute'")
        name = f"key:{key_id}:{spec.strip()}"
        if any(limit.name == name for limit in limits):
            raise ConfigError(f"rate limit {spec!r}: given twice")
        limits.append(RateLimit(spec, per="key", name=name))
    return tuple(limits)


def parse_duration(text: str, now: datetime) -> datetime:
    """``now`` plus a duration: ``90m``, ``12h``, ``30d``, ``2w`` (also ``s``); at least 1."""
    where = f"expiry {text!r}"
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(f"{where}: not a duration (e.g. 30d, 12h, 90m, 2w)")
    seconds = int(match.group("count")) * _UNITS[match.group("unit").lower()]
    if seconds <= 0:
        raise ConfigError(f"{where}: a duration must be at least 1 (e.g. 30d, 12h, 90m)")
    if seconds > _MAX_EXPIRY_S:
        raise ConfigError(f"{where}: more than a century from now")
    return _utc(now) + timedelta(seconds=seconds)


def _moment(text: str) -> datetime | None:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        try:
            return _utc(datetime.fromisoformat(text.strip()))
        except ValueError:
            return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _future(moment: datetime, text: str, now: datetime) -> datetime:
    if moment <= _utc(now):
        raise ConfigError(f"expiry {text!r}: {moment.isoformat()} is not in the future")
    return moment


def parse_moment(text: str, now: datetime) -> datetime:
    """A date (``2027-01-01``: midnight UTC) or time (``2027-01-01T09:00:00+02:00``; without
    an offset, UTC) after ``now``."""
    moment = _moment(text)
    if moment is None:
        raise ConfigError(
            f"expiry {text!r}: not a date (2027-01-01) nor a time (2027-01-01T09:00:00Z)"
        )
    return _future(moment, text, now)


def parse_expiry(text: str, now: datetime) -> datetime:
    """When a key given ``--expires TEXT`` at ``now`` expires: a duration from now
    (:func:`parse_duration`) or a date or time (:func:`parse_moment`)."""
    if _DURATION.match(text):
        return parse_duration(text, now)
    moment = _moment(text)
    if moment is None:
        raise ConfigError(
            f"expiry {text!r}: not a duration (30d, 12h, 90m, 2w) nor a date (2027-01-01) "
            "or time (2027-01-01T09:00:00Z)"
        )
    return _future(moment, text, now)


def _text(value: object, what: str) -> str | None:
    """A name, user, feature or model: None, or non-empty text a store and a ledger can keep."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} must be non-empty text, not {value!r}")
    if len(value) > _MAX_TEXT:
        raise ConfigError(f"{what} is longer than {_MAX_TEXT} characters")
    if any(ord(c) < 0x20 or 0xD800 <= ord(c) <= 0xDFFF or c == "\x7f" for c in value):
        raise ConfigError(f"{what} {value!r} holds a control character or a lone surrogate")
    return value


def _models(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, Sequence):
        raise ConfigError(f"models must be a comma-separated list of names, not {value!r}")
    models: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"models {value!r}: each must be a non-empty name, not {name!r}")
        model = _text(name.strip(), "a model")
        if model is not None and model not in models:
            models.append(model)
    if not models:
        raise ConfigError(f"models must name at least one model, not {value!r}")
    return tuple(models)


@dataclass(frozen=True)
class KeySpec:
    """What a new key is made of. Checked when built: every bad value is a ConfigError.

    ``budgets`` and ``limits`` are spellings (``"$5/day"``, ``"20/minute"``); ``models`` None
    allows every model; ``user`` and ``feature`` None let each request say.
    """

    name: str | None = None
    user: str | None = None
    feature: str | None = None
    models: tuple[str, ...] | None = None
    budgets: tuple[str, ...] = ()
    limits: tuple[str, ...] = ()
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        _text(self.name, "a key's name")
        _text(self.user, "a key's user")
        _text(self.feature, "a key's feature")
        set_(self, "models", _models(self.models))
        for what in ("budgets", "limits"):
            specs = getattr(self, what)
            if isinstance(specs, str) or not isinstance(specs, Sequence):
                raise ConfigError(f"a key's {what} must be a list of spellings, not {specs!r}")
            set_(self, what, tuple(s.strip() if isinstance(s, str) else s for s in specs))
        key_budgets(_PROBE_ID, self.budgets)
        key_limits(_PROBE_ID, self.limits)
        if self.expires_at is not None:
            if not isinstance(self.expires_at, datetime):
                raise ConfigError(f"a key's expiry must be a datetime, not {self.expires_at!r}")
            set_(self, "expires_at", _utc(self.expires_at))


def parse_key_spec(
    *,
    name: str | None = None,
    user: str | None = None,
    feature: str | None = None,
    models: str | Sequence[str] | None = None,
    budgets: Sequence[str] = (),
    limits: Sequence[str] = (),
    expires: str | None = None,
    now: datetime | None = None,
) -> KeySpec:
    """A KeySpec from the command line's spellings: ``models="a,b"``, ``budgets=["$5/day"]``,
    ``limits=["20/minute"]``, ``expires="30d"`` (from ``now``, by default the current time)."""
    moment = datetime.now(UTC) if now is None else now
    return KeySpec(
        name=name,
        user=user,
        feature=feature,
        models=_models(models),
        budgets=tuple(budgets),
        limits=tuple(limits),
        expires_at=None if expires is None else parse_expiry(expires, moment),
    )


@dataclass(frozen=True)
class VirtualKey:
    """A key the gateway accepts in place of a provider key. Holds no secret: only its public
    ``id`` (``ck_…``), which calls are charged to (``api_key``; budget scope ``key:<id>``).

    ``budgets`` and ``limits`` are built from ``budget_specs`` and ``limit_specs`` (the
    spellings given, kept for listing). Times are aware, in UTC.
    """

    id: str
    name: str | None
    user: str | None
    feature: str | None
    models: tuple[str, ...] | None
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    budget_specs: tuple[str, ...] = ()
    limit_specs: tuple[str, ...] = ()
    budgets: tuple[Budget, ...] = field(init=False, repr=False)
    limits: tuple[RateLimit, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "budgets", key_budgets(self.id, self.budget_specs))
        object.__setattr__(self, "limits", key_limits(self.id, self.limit_specs))

    def state(self, now: datetime) -> KeyState:
        """``revoked`` (at once, whenever it was revoked), ``expired`` (from ``expires_at`` on)
        or ``active``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def usable(self, now: datetime) -> bool:
        """Whether a request at ``now`` may use this key: neither revoked nor expired."""
        return self.state(now) == "active"

    def allows_model(self, model: str) -> bool:
        """Whether the key may call ``model`` (every model when ``models`` is None)."""
        return self.models is None or model in self.models

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        """The key as JSON-ready data (ISO times), with its state at ``now`` (default: the
        current time). Never the secret nor its hash: the record holds neither."""
        moment = datetime.now(UTC) if now is None else now

        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "id": self.id,
            "name": self.name,
            "user": self.user,
            "feature": self.feature,
            "models": None if self.models is None else list(self.models),
            "budgets": list(self.budget_specs),
            "limits": list(self.limit_specs),
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "state": self.state(moment),
        }
