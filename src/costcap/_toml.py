"""Reading ``costcap.toml``: every way the file can fail to be TOML is a ConfigError naming it.

Shared by :func:`costcap.config.load_config` and the ``[models]`` reader of
:mod:`costcap.pricing`, so both word the same problem the same way.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from os import PathLike
from typing import Any

from costcap._files import read_capped
from costcap.errors import ConfigError

__all__ = ["MAX_TOML_BYTES", "read_toml"]

MAX_TOML_BYTES = 16 * 2**20  # a costcap.toml is a few kilobytes; this is a wrong file


def read_toml(
    path: str | PathLike[str], *, parse_float: Callable[[str], Any] = float
) -> dict[str, Any]:
    """The TOML document at ``path``. A file that cannot be read (missing, a directory, no
    permission), is not UTF-8 text, is not TOML or nests deeper than the parser can follow
    raises ConfigError naming the file."""
    if not isinstance(path, str | PathLike):
        raise ConfigError(f"a config path must be a str or a path, not {path!r}")
    source = str(path)
    try:
        raw = read_capped(path, most=MAX_TOML_BYTES)
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the file: {exc.strerror or exc}") from None
    except ValueError as exc:  # e.g. an embedded NUL byte in the path
        raise ConfigError(f"{source}: cannot read the file: {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise ConfigError(
            f"{source}: not valid TOML: line {line} is not UTF-8 text (byte 0x{byte}); "
            "save the file as UTF-8"
        ) from None
    try:
        return tomllib.loads(text, parse_float=parse_float)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError(
            f"{source}: not valid TOML: arrays or tables nested too deeply to read"
        ) from None
