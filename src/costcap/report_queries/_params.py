"""Query parameters named as ``costcap report``'s options, and the error a bad one is."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol, runtime_checkable

__all__ = ["Params", "QueryError", "bad_request"]

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


class QueryError(Exception):
    """An answer other than 2xx: its HTTP ``status``, the error ``kind`` (an OpenAI-style
    ``type``), a message saying what to do, and the parameter at fault, if one is."""

    def __init__(self, status: int, kind: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.param = status, kind, message, param


def bad_request(message: str, param: str | None = None) -> QueryError:
    return QueryError(400, "invalid_request_error", message, param)


class _Items(Protocol):
    def multi_items(self) -> list[tuple[str, str]]: ...


@runtime_checkable
class _Request(Protocol):
    @property
    def query_params(self) -> _Items: ...


class Params:
    """A request's query parameters (or ``(name, value)`` pairs), each given at most once and
    named as the CLI's options (``by-tier``; ``by_tier`` is read the same). Parameters not in
    ``allowed`` are refused: a typo would otherwise widen the answer silently."""

    def __init__(
        self, query: _Request | Iterable[tuple[str, str]], allowed: Collection[str]
    ) -> None:
        items = query.query_params.multi_items() if isinstance(query, _Request) else query
        self._values: dict[str, str] = {}
        for raw, value in items:
            name = raw.replace("_", "-")
            if name not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                raise bad_request(f"unknown query parameter {raw!r} (this route takes: {known})")
            if name in self._values:
                raise bad_request(f"query parameter {raw!r} is given twice", name)
            self._values[name] = value

    def items(self) -> list[tuple[str, str]]:
        """The parameters given, by their canonical names, in the order given."""
        return list(self._values.items())

    def text(self, name: str, default: str | None = None) -> str | None:
        """The parameter's text (a filter: never empty), else ``default``."""
        value = self._values.get(name)
        if value is None:
            return default
        if not value.strip():
            raise bad_request(f"{name} must not be empty", name)
        return value

    def flag(self, name: str) -> bool:
        value = self._values.get(name)
        if value is None:
            return False
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise bad_request(f"{name} must be true or false, not {value!r}", name)

    def integer(self, name: str) -> int | None:
        value = self._values.get(name)
        if value is None:
            return None
        try:
            return int(value.strip())
        except ValueError:
            raise bad_request(f"{name} must be a whole number, not {value!r}", name) from None
