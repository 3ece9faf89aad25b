"""Reading a user's file whole, with a ceiling: ``/dev/zero`` or a mistaken multi-gigabyte path
given as a config or a sample is refused after ``most`` bytes instead of filling memory."""

from __future__ import annotations

import errno
from os import PathLike

__all__ = ["read_capped"]


def read_capped(path: str | PathLike[str], *, most: int) -> bytes:
    """The bytes of ``path``. More than ``most`` bytes raise ``OSError`` (``EFBIG``), like a file
    that cannot be read at all, so callers word every unreadable file the same way."""
    with open(path, "rb") as handle:
        data = handle.read(most + 1)
    if len(data) > most:
        raise OSError(errno.EFBIG, f"larger than {most:,} bytes; is it the right file?")
    return data
