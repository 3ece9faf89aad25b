"""What a report read from query parameters answers, and what it reads besides the ledger."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from costcap.cli.rows import record, write_csv
from costcap.report_queries._params import Params

if TYPE_CHECKING:
    from costcap.config import GuardConfig
    from costcap.guard import Guard
    from costcap.pricing import PriceCatalog

__all__ = ["Answer", "Ask", "Sources", "listed"]


@dataclass(frozen=True)
class Answer:
    """One report's answer: ``data`` is what ``costcap report NAME --json`` prints (JSON-ready:
    exact decimal strings, ISO dates), ``rows`` the dataclass rows its ``--csv`` writes, of
    ``row_type`` (the header even without a row)."""

    data: Any
    rows: Sequence[Any]
    row_type: type

    def csv(self) -> str:
        """What ``--csv`` prints, written by the CLI's own CSV writer."""
        out = io.StringIO()
        write_csv(self.rows, row_type=self.row_type, out=out)
        return out.getvalue()


def listed(rows: Sequence[Any], row_type: type) -> Answer:
    """A report that prints a list of rows (most of them)."""
    return Answer([record(row) for row in rows], rows, row_type)


@dataclass(frozen=True)
class Sources:
    """What reports read besides the ledger, each asked for only by the report that needs it
    (a host without budgets still serves every other report).

    ``catalog``: the prices the cascades are valued at where no call says (costcap.toml's);
    ``guard``: the face of a sync :class:`~costcap.guard.Guard` that budget pacing reads (its
    clock, budgets and ``status``) — raises :class:`~costcap.report_queries.QueryError` saying
    how to get one where there is none; ``config``: costcap.toml's settings (the response
    cache's thresholds), None without one."""

    catalog: Callable[[], PriceCatalog]
    guard: Callable[[], Guard]
    config: Callable[[], GuardConfig | None]


@dataclass(frozen=True)
class Ask:
    """What a report reads besides the ledger: the query's parameters and the sources."""

    params: Params
    sources: Sources
    users_limit: int = 10  # ``report users`` lists 10 by default; ``/admin/usage`` every user
