"""Reading back the spool lines that are not events (calls in flight, alerts fired): a JSON
object, and each field of it checked, so that a damaged line is a ``ValueError`` (the spool
moves it aside) and never a record the database would refuse later."""

from __future__ import annotations

import json
from typing import Any

from costcap.ledger._event import _INT64

__all__ = ["checked_field", "json_object"]


def json_object(line: str, record: str) -> dict[str, Any]:
    """The JSON object of ``line``; ``ValueError("not {record}: …")`` if it is not one (not
    JSON, nested too deeply to parse, another JSON value)."""
    try:
        data = json.loads(line)
    except RecursionError:
        raise ValueError(f"not {record}: JSON nested too deeply") from None
    except ValueError as exc:  # not JSON
        raise ValueError(f"not {record}: {exc}") from None
    if type(data) is not dict:
        raise ValueError(f"not {record}: not a JSON object")
    return data


def checked_field(record: str, name: str, value: object, *, integer: bool) -> Any:
    """``value`` of field ``name`` if it is an integer within 64 bits (``integer``) or text
    that is valid Unicode; else ``ValueError("not {record}: …")`` saying what it is."""
    if type(value) is not (int if integer else str):
        what = "missing" if value is None else f"a {type(value).__name__}"
        raise ValueError(f"not {record}: {name} is {what}")
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        raise ValueError(f"not {record}: {name} is beyond 64 bits")
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError(f"not {record}: {name} is not Unicode") from None
    return value
