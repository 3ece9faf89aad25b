"""A cached answer and its stored form.

An entry keeps the answer's bytes exactly as the provider sent them (a JSON body, or the SSE
event stream), with what the call cost, so a hit replays it byte for byte and its ledger event
says what it saved. Stored form::

    b"ccr1" | blake2b-128 of the rest | 4-byte length of the record | record (JSON) | body

A stored value that does not read back — truncated, altered, another format — is
:class:`CorruptEntry`: the cache drops it and asks the provider again.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

from costcap.cache._key import Shape

__all__ = ["CachedAnswer", "CorruptEntry"]

_MAGIC = b"ccr1"
_DIGEST = 16
_LENGTH = struct.Struct(">I")
_HEAD = len(_MAGIC) + _DIGEST + _LENGTH.size


class CorruptEntry(ValueError):
    """A stored value that is not an intact cached answer."""


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """One cached answer: its bytes and what producing it cost."""

    shape: Shape  # "json": a JSON body; "sse": a text/event-stream body
    body: bytes
    model: str  # the model that answered (as billed)
    cost_pico: int  # what the call that produced it cost: what each hit saves
    provider: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    stored_at: float = 0.0  # seconds since the epoch

    @property
    def content_type(self) -> str:
        return "text/event-stream; charset=utf-8" if self.shape == "sse" else "application/json"

    def encode(self) -> bytes:
        record = json.dumps(
            {
                "shape": self.shape,
                "model": self.model,
                "cost_pico": self.cost_pico,
                "provider": self.provider,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "stored_at": self.stored_at,
            },
            separators=(",", ":"),
        ).encode()
        rest = _LENGTH.pack(len(record)) + record + self.body
        return _MAGIC + hashlib.blake2b(rest, digest_size=_DIGEST).digest() + rest

    @classmethod
    def decode(cls, value: bytes) -> CachedAnswer:
        if len(value) < _HEAD or value[: len(_MAGIC)] != _MAGIC:
            raise CorruptEntry("not a costcap cache entry")
        rest = value[len(_MAGIC) + _DIGEST :]
        if hashlib.blake2b(rest, digest_size=_DIGEST).digest() != value[len(_MAGIC) : _HEAD - 4]:
            raise CorruptEntry("the entry's checksum does not match")
        (length,) = _LENGTH.unpack_from(rest)
        try:
            record: dict[str, Any] = json.loads(rest[_LENGTH.size : _LENGTH.size + length])
            answer = cls(
                shape=record["shape"],
                body=rest[_LENGTH.size + length :],
                model=record["model"],
                cost_pico=record["cost_pico"],
                provider=record["provider"],
                input_tokens=record["input_tokens"],
                output_tokens=record["output_tokens"],
                stored_at=record["stored_at"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptEntry(f"the entry's record does not read: {exc}") from None
        if answer.shape not in ("json", "sse") or type(answer.cost_pico) is not int:
            raise CorruptEntry("the entry's record does not read")
        return answer
