"""A cached answer and its stored form.

An entry keeps the answer's bytes exactly as the provider sent them (a JSON body, or the SSE
event stream), with what the call cost, so a hit replays it byte for byte and its ledger event
says what it saved. Stored form (big-endian)::

    b"ccr1" | blake2b-128 of the rest | record | model | provider | body

    record: shape (1 byte: 0 json, 1 sse), cost_pico, input_tokens, output_tokens (8 bytes
            each, signed), stored_at (an 8-byte float), the byte lengths of model and provider
            (2 bytes each; provider 0xFFFF when there is none)

A stored value that does not read back — truncated, altered, another format — is
:class:`CorruptEntry`: the cache drops it and asks the provider again.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from costcap.cache._key import Shape

__all__ = ["CachedAnswer", "CorruptEntry"]

_MAGIC = b"ccr1"
_DIGEST = 16
_RECORD = struct.Struct(">BqqqdHH")
_HEAD = len(_MAGIC) + _DIGEST
_SHAPES: tuple[Shape, Shape] = ("json", "sse")
_NO_PROVIDER = 0xFFFF


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
        model = self.model.encode()
        provider = b"" if self.provider is None else self.provider.encode()
        record = _RECORD.pack(
            _SHAPES.index(self.shape), self.cost_pico, self.input_tokens, self.output_tokens,
            self.stored_at, len(model), _NO_PROVIDER if self.provider is None else len(provider),
        )  # fmt: skip
        rest = b"".join((record, model, provider, self.body))
        return _MAGIC + hashlib.blake2b(rest, digest_size=_DIGEST).digest() + rest

    @classmethod
    def decode(cls, value: bytes) -> CachedAnswer:
        if len(value) < _HEAD + _RECORD.size or value[: len(_MAGIC)] != _MAGIC:
            raise CorruptEntry("not a costcap cache entry")
        rest = memoryview(value)[_HEAD:]
        if hashlib.blake2b(rest, digest_size=_DIGEST).digest() != value[len(_MAGIC) : _HEAD]:
            raise CorruptEntry("the entry's checksum does not match")
        shape, cost, tokens_in, tokens_out, stored_at, model_len, provider_len = (
            _RECORD.unpack_from(rest)
        )
        at = _RECORD.size
        provider_bytes = 0 if provider_len == _NO_PROVIDER else provider_len
        if shape > 1 or at + model_len + provider_bytes > len(rest):
            raise CorruptEntry("the entry's record does not read")
        try:
            model = bytes(rest[at : at + model_len]).decode()
            at += model_len
            provider = (
                None if provider_len == _NO_PROVIDER
                else bytes(rest[at : at + provider_len]).decode()
            )  # fmt: skip
        except UnicodeDecodeError:
            raise CorruptEntry("the entry's record does not read") from None
        return cls(
            _SHAPES[shape], bytes(rest[at + provider_bytes :]), model, cost,
            provider, tokens_in, tokens_out, stored_at,
        )  # fmt: skip
