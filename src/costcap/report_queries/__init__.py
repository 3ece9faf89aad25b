"""Every ``costcap report`` as JSON or CSV from query parameters: the one path by which the
gateway's admin API (``/admin/reports/{name}``) and the dashboard (``api/{name}`` and its
panels) read the ledger, so that both answer exactly what ``costcap report NAME --json`` (or
``--csv``) prints for the same ledger and options.

A report is read by name from :data:`REPORTS` with :class:`Params` (the query's parameters,
named as the CLI's options) and :class:`Sources` (what it reads besides the ledger: prices,
the guard's budgets, costcap.toml), and answers an :class:`Answer`. Bad input raises
:class:`QueryError` carrying its HTTP status and a message naming the parameter.
"""

from __future__ import annotations

from costcap.report_queries._answer import Answer, Ask, Sources, listed
from costcap.report_queries._params import Params, QueryError, bad_request
from costcap.report_queries._readers import FILTERS, REPORTS, Read, answer, read_report

__all__ = [
    "FILTERS",
    "REPORTS",
    "Answer",
    "Ask",
    "Params",
    "QueryError",
    "Read",
    "Sources",
    "answer",
    "bad_request",
    "listed",
    "read_report",
]
