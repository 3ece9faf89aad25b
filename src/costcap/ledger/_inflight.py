"""A call in flight: what the ledger keeps of an admitted call until the call's event arrives.

At admission (and at each renewal of its lease) the Guard hands the observers that have
``on_in_flight`` an :class:`InFlight`; the Ledger spools it as one short JSON line beside the
events, and its drain keeps it in ``costcap_inflight`` until the call's event deletes it. A
row whose lease ran out long ago belongs to a process that died with the call in flight: the
drain turns it into a ``lost`` event charged the reservation (:mod:`costcap.ledger._lost`).

Times are whole microseconds since the epoch (UTC), not ``datetime``: this runs at every
admission, and after an SDK call ``datetime.now`` costs ~10 µs where ``time.time_ns`` costs 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple

from costcap.ledger._lines import checked_field, json_object

__all__ = ["EPOCH", "MARKER", "InFlight", "latest", "micros"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MARKER = b'{"inflight":'  # how an in-flight line starts (an event line starts otherwise)
_MICRO = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """``moment`` (aware) in whole microseconds since the epoch, exactly."""
    return (moment - EPOCH) // _MICRO


class InFlight(NamedTuple):
    """An admitted call whose event has not arrived yet: who it is for, what it reserved, and
    until when the store's lease holds the reservation (then charges it in full).

    ``reserved_pico`` is what the lease charges: the reservation in whole micro-dollars, as
    picodollars. ``input_tokens`` is the input reserved for and ``max_tokens`` the output
    allowed; a ``lost`` event carries them as its input and output tokens, and
    ``service_tier`` (the tier the call was admitted at: reserved at, None for the standard
    price) as its tier."""

    request_id: str
    at_us: int  # admitted (or renewed), microseconds since the epoch
    lease_until_us: int  # the lease's end, microseconds since the epoch
    model: str  # the model billed (canonical name)
    requested_model: str | None = None
    provider: str | None = None
    user_id: str | None = None
    feature: str | None = None
    api_key_id: str | None = None
    endpoint: str | None = None
    reserved_pico: int = 0
    input_tokens: int = 0
    max_tokens: int = 0
    service_tier: str | None = None

    @property
    def at(self) -> datetime:
        return EPOCH + self.at_us * _MICRO

    @property
    def lease_until(self) -> datetime:
        return EPOCH + self.lease_until_us * _MICRO

    def to_json(self) -> str:
        """One spool line, starting with :data:`MARKER`; ASCII only (written by hand: it runs
        at every admission)."""
        return (
            f'{{"inflight":1,"request_id":{_s(self.request_id)},"at_us":{self.at_us},'
            f'"lease_until_us":{self.lease_until_us},"model":{_s(self.model)},'
            f'"requested_model":{_s(self.requested_model)},"provider":{_s(self.provider)},'
            f'"user_id":{_s(self.user_id)},"feature":{_s(self.feature)},'
            f'"api_key_id":{_s(self.api_key_id)},"endpoint":{_s(self.endpoint)},'
            f'"reserved_pico":{self.reserved_pico},"input_tokens":{self.input_tokens},'
            f'"max_tokens":{self.max_tokens},"service_tier":{_s(self.service_tier)}}}'
        )

    @classmethod
    def from_json(cls, line: str) -> InFlight:
        """The record of one :meth:`to_json` line; ``ValueError`` (and nothing else) if the
        line is not one: not a JSON object, without ``request_id``, ``at_us``,
        ``lease_until_us`` or ``model``, a field of the wrong type, text that is not valid
        Unicode, an integer beyond 64 bits, a time out of range. Unknown fields are ignored."""
        data = json_object(line, _RECORD)
        values: dict[str, Any] = {}
        for name in cls._fields:
            value = data.get(name)
            if value is None and name not in _REQUIRED:
                continue
            values[name] = checked_field(_RECORD, name, value, integer=name in _INTEGERS)
        record = cls(**values)
        try:
            record.at, record.lease_until  # noqa: B018 - datetimes in range
        except OverflowError:
            raise ValueError("not an in-flight record: a time out of range") from None
        return record


_RECORD = "an in-flight record"
_REQUIRED = frozenset({"request_id", "at_us", "lease_until_us", "model"})
_INTEGERS = frozenset({"at_us", "lease_until_us", "reserved_pico", "input_tokens", "max_tokens"})


def latest(records: Iterable[InFlight]) -> list[InFlight]:
    """One record per request id: the first one's fields, the latest lease end (a renewal
    moves the end forward, never back)."""
    out: dict[str, InFlight] = {}
    for record in records:
        seen = out.get(record.request_id)
        if seen is None:
            out[record.request_id] = record
        elif record.lease_until_us > seen.lease_until_us:
            out[record.request_id] = seen._replace(lease_until_us=record.lease_until_us)
    return list(out.values())


def _s(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)
