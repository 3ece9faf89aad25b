"""tiktoken built offline from the ranks bundled in ``bpe-openai`` — the tests' reference.

``tiktoken.get_encoding`` downloads its ranks on first use and fails offline. Here the
regex and special tokens come from tiktoken's own ``tiktoken_ext.openai_public`` (we call its
constructor with the download step stubbed out, which also hands us its ``expected_hash``),
the ranks come from ``bpe_openai/data/<name>.tiktoken.gz``, and the SHA-256 of the
decompressed file must equal tiktoken's ``expected_hash`` — the very check tiktoken makes
after a download. Needs the dev extra (tiktoken); the runtime counter does not use this.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from unittest import mock

from costcap.tokens._encodings import bpe_openai_dir

if TYPE_CHECKING:
    import tiktoken

__all__ = ["ReferenceSpec", "bundled_ranks_bytes", "reference_encoding", "reference_spec"]

_lock = threading.Lock()
_cache: dict[str, tiktoken.Encoding] = {}


@dataclass(frozen=True)
class ReferenceSpec:
    """What tiktoken's source says about an encoding (without downloading it)."""

    name: str
    url: str
    expected_hash: str
    pat_str: str
    special_tokens: dict[str, int]


def reference_spec(name: str) -> ReferenceSpec:
    """Read ``name``'s regex, special tokens, URL and hash from ``tiktoken_ext.openai_public``."""
    from tiktoken_ext import openai_public  # dev-only (tiktoken is in the dev extra)

    seen: dict[str, str] = {}

    def no_download(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        seen["url"] = url
        seen["hash"] = expected_hash or ""
        return {}

    with _lock, mock.patch.object(openai_public, "load_tiktoken_bpe", no_download):
        spec: dict[str, Any] = openai_public.ENCODING_CONSTRUCTORS[name]()
    return ReferenceSpec(
        name=name,
        url=seen["url"],
        expected_hash=seen["hash"],
        pat_str=spec["pat_str"],
        special_tokens=dict(spec["special_tokens"]),
    )


def bundled_ranks_bytes(name: str) -> bytes:
    """The decompressed ``<name>.tiktoken`` file shipped inside the bpe-openai wheel."""
    packed = (bpe_openai_dir() / "data" / f"{name}.tiktoken.gz").read_bytes()
    return gzip.decompress(packed)


def _parse_ranks(data: bytes) -> dict[bytes, int]:
    # Same parsing as tiktoken.load.load_tiktoken_bpe.
    return {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }


def reference_encoding(name: str) -> tiktoken.Encoding:
    """tiktoken's ``Encoding`` for ``name``, offline, from hash-verified bundled ranks."""
    with _lock:
        found = _cache.get(name)
    if found is not None:
        return found
    import tiktoken  # dev-only dependency, imported on use

    spec = reference_spec(name)
    data = bundled_ranks_bytes(name)
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.expected_hash:
        msg = f"bundled {name} ranks have sha256 {actual}, tiktoken expects {spec.expected_hash}"
        raise RuntimeError(msg)
    encoding = tiktoken.Encoding(
        name,
        pat_str=spec.pat_str,
        mergeable_ranks=_parse_ranks(data),
        special_tokens=spec.special_tokens,
    )
    with _lock:
        return _cache.setdefault(name, encoding)
