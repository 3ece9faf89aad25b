"""The cost event: one per call, whatever happened to it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any, Literal

from costcap.money import usd_from_pico, usd_text

__all__ = ["STATUSES", "CostEvent", "EventsRefused", "Status"]

Status = Literal["ok", "error", "refused", "cut", "lost"]
STATUSES: tuple[Status, ...] = ("ok", "error", "refused", "cut", "lost")


class EventsRefused(ValueError):
    """A ledger sink refuses a batch for good because of the data of (some of) its events: a
    NULL in a required column, a value out of a column's range, a constraint violated, a value
    the database cannot store. Writing the same batch again cannot succeed; the drain isolates
    the events refused and moves them aside. (A sink that cannot be reached, or is busy, raises
    ``StoreUnavailable`` instead: the batch is retried.)"""


@dataclass(frozen=True, slots=True, kw_only=True)
class CostEvent:
    """What one call cost and why. ``request_id`` is unique: recording an event twice keeps one.

    ``status``: ``ok`` (answered), ``error`` (failed; nothing or only what was billed is charged),
    ``refused`` (a budget, rate limit or policy said no before sending; cost 0), ``cut`` (a stream
    stopped early by costcap or the client; the partial cost is charged), ``lost`` (written by
    the ledger for a call whose process died in flight: charged the reservation its lease
    charged, :mod:`costcap.ledger._lost`).
    Money is exact integer picodollars: ``cost_pico`` what the provider bills, ``saved_pico`` what
    a cache hit or routing avoided. ``input_tokens`` is the total input, cache reads and writes
    included (the same convention as :class:`costcap.pricing.Usage`).
    """

    request_id: str
    ts: datetime  # when the call ended (or was refused), aware
    status: Status
    model: str  # the model billed (canonical name)
    requested_model: str | None = None
    provider: str | None = None
    user_id: str | None = None
    feature: str | None = None
    api_key_id: str | None = None
    endpoint: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_pico: int = 0
    saved_pico: int = 0
    latency_ms: float | None = None
    cache_hit: bool = False  # answered from the response cache: cost 0, ``saved_pico`` its price
    cache_miss: bool = False  # cacheable, answered by the provider (the cache's hit rate)
    stream: bool = False
    refused_by: str | None = None  # the budget, rate limit or policy rule
    prompt_hash: str | None = None  # a digest of the request, for runaway-loop detection
    flag: str | None = None  # usage_beyond_request, unread_output_charged, unpriced_audio
    service_tier: str | None = None  # the tier the call was priced at (priority, flex, fast, …)
    tier: str | None = None  # the routing tier the call was sent at (simple, complex, …)
    route_reason: str | None = None  # why that model: explicit, auto, pressure, fallback, …
    cascade_id: str | None = None  # the calls of one cascaded answer share it

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None:
            raise ValueError("CostEvent.ts must be timezone-aware")
        if self.status not in STATUSES:
            raise ValueError(f"CostEvent.status must be one of {STATUSES}, not {self.status!r}")

    @property
    def cost_usd(self) -> Decimal:
        return usd_from_pico(self.cost_pico)

    @property
    def day(self) -> date:
        """The UTC calendar day the event belongs to (rollups and ``cost_logs.date``)."""
        return self.ts.astimezone(UTC).date()

    def to_json(self) -> str:
        """One line of JSON (the spool format and the ``costcap.costs`` log line): the fields
        in sorted order, compact separators, ASCII only — exactly ``json.dumps`` of
        :meth:`_json_fields` with ``sort_keys=True``, written out by hand because this runs on
        every call (3x faster than the encoder: no dict, no generic dispatch; a test checks
        the two agree)."""
        lat = self.latency_ms
        if lat is not None and (type(lat) is not float or not math.isfinite(lat)):
            return self._json_dumps()
        ts = self.ts if self.ts.tzinfo is UTC else self.ts.astimezone(UTC)
        # ints as {n}, not {n:d}: the same text, through the int's str (warm in any app) rather
        # than the format-spec machinery, which an SDK call leaves cold (4 µs vs 1 µs, measured)
        return (
            f'{{"api_key_id":{_s(self.api_key_id)},"cache_hit":{_b(self.cache_hit)},'
            f'"cache_miss":{_b(self.cache_miss)},'
            f'"cache_read_tokens":{self.cache_read_tokens},'
            f'"cache_write_tokens":{self.cache_write_tokens},"cascade_id":{_s(self.cascade_id)},'
            f'"cost_pico":{self.cost_pico},'
            f'"cost_usd":"{usd_text(self.cost_pico)}","endpoint":{_s(self.endpoint)},'
            f'"feature":{_s(self.feature)},"flag":{_s(self.flag)},'
            f'"input_tokens":{self.input_tokens},'
            f'"latency_ms":{"null" if lat is None else float.__repr__(lat)},'
            f'"model":{_s(self.model)},"output_tokens":{self.output_tokens},'
            f'"prompt_hash":{_s(self.prompt_hash)},"provider":{_s(self.provider)},'
            f'"refused_by":{_s(self.refused_by)},"request_id":{_s(self.request_id)},'
            f'"requested_model":{_s(self.requested_model)},'
            f'"route_reason":{_s(self.route_reason)},"saved_pico":{self.saved_pico},'
            f'"service_tier":{_s(self.service_tier)},"status":{_s(self.status)},'
            f'"stream":{_b(self.stream)},"tier":{_s(self.tier)},'
            f'"ts":"{_iso_utc(ts)}","user_id":{_s(self.user_id)}}}'
        )

    def _json_fields(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["ts"] = self.ts.astimezone(UTC).isoformat()
        data["cost_usd"] = str(self.cost_usd)
        return data

    def _json_dumps(self) -> str:
        return _ENCODER.encode(self._json_fields())

    @classmethod
    def from_json(cls, line: str) -> CostEvent:
        """The event of one :meth:`to_json` line. ``ValueError`` (and nothing else) if the line
        is not one: not JSON or nested too deeply to parse, not an object, without one of
        ``request_id``, ``ts``, ``status``, ``model``, a field of the wrong type, text that
        cannot be stored (a lone surrogate), an integer beyond 64 bits, a latency that is not
        a finite number, a time without a time zone or out of range. Fields this version does
        not know are ignored (``cost_usd``, or a newer costcap's)."""
        try:
            data = json.loads(line)
        except RecursionError:  # json raises it for deep nesting ("[" * 100000)
            raise ValueError("not an event: JSON nested too deeply") from None
        if type(data) is not dict:
            raise ValueError(f"not an event: a JSON {type(data).__name__}, not an object")
        values: dict[str, Any] = {}
        for name, value in data.items():
            kind = _KINDS.get(name)
            if kind is None:
                continue
            of = type(value)  # exact types: a bool is no count, an int no flag
            if value is None and kind in _NULLABLE:
                pass
            elif of is not _TYPES[kind] and not (kind == _LATENCY and of is int):
                raise ValueError(f"not an event: {name} is {of.__name__}")
            elif of is str:
                if not value.isascii():
                    _check_text(name, value)
            elif of is int:  # a count, an amount or a latency: a 64-bit integer
                if not -_INT64 <= value < _INT64:
                    raise ValueError(f"not an event: {name} is beyond 64 bits")
            elif of is float and not math.isfinite(value):
                raise ValueError(f"not an event: {name} is {value}")
            values[name] = value
        missing = [name for name in _REQUIRED if values.get(name) is None]
        if missing:
            raise ValueError(f"not an event: no {', '.join(missing)}")
        ts = values["ts"] = datetime.fromisoformat(values["ts"])
        if ts.tzinfo is not UTC and ts.tzinfo is not None:
            try:
                ts.astimezone(UTC)
            except OverflowError:
                raise ValueError(f"not an event: ts {ts} is out of range in UTC") from None
        return cls(**values)  # checks the time zone and the status


def _check_text(name: str, value: str) -> None:
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError(f"not an event: {name} is not valid Unicode") from None


# The type each field of a JSON line must have (``_NULLABLE`` kinds may also be null).
_TEXT, _OPTIONAL_TEXT, _INTEGER, _FLAG, _LATENCY = range(5)
_TYPES: dict[int, type] = {
    _TEXT: str,
    _OPTIONAL_TEXT: str,
    _INTEGER: int,
    _FLAG: bool,
    _LATENCY: float,
}
_NULLABLE = frozenset({_OPTIONAL_TEXT, _LATENCY})
_REQUIRED = ("request_id", "ts", "status", "model")
_INT64 = 2**63
_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(CostEvent))
_KINDS: dict[str, int] = {
    **dict.fromkeys(_REQUIRED, _TEXT),
    **dict.fromkeys(
        (
            "requested_model",
            "provider",
            "user_id",
            "feature",
            "api_key_id",
            "endpoint",
            "refused_by",
            "prompt_hash",
            "flag",
            "service_tier",
            "tier",
            "route_reason",
            "cascade_id",
        ),
        _OPTIONAL_TEXT,
    ),
    **dict.fromkeys(
        (
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "cost_pico",
            "saved_pico",
        ),
        _INTEGER,
    ),
    "cache_hit": _FLAG,
    "cache_miss": _FLAG,
    "stream": _FLAG,
    "latency_ms": _LATENCY,
}
assert set(_KINDS) == set(_FIELD_NAMES)
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


_SECONDS: dict[tuple[int, int, int, int, int, int], str] = {}  # ISO text of recent UTC seconds


def _iso_utc(ts: datetime) -> str:
    """``ts.isoformat()`` of a UTC time. The text of its second is remembered: after an SDK
    call ``isoformat`` runs cold, at ~19 µs, where six field reads and a dict hit take ~6 µs."""
    key = (ts.year, ts.month, ts.day, ts.hour, ts.minute, ts.second)
    second = _SECONDS.get(key)
    if second is None:
        if len(_SECONDS) >= _SECONDS_KEPT:
            _SECONDS.clear()
        second = _SECONDS[key] = ts.replace(microsecond=0, tzinfo=None).isoformat()
    micro = ts.microsecond
    return f"{second}+00:00" if not micro else f"{second}.{str(micro + 1_000_000)[1:]}+00:00"


_SECONDS_KEPT = 64


def _s(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


def _b(value: bool) -> str:
    return "true" if value else "false"
