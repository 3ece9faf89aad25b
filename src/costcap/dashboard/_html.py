"""The dashboard's HTML: the page, its filter form, the totals strip and each panel's card.

Every text that comes from the ledger or the request is escaped (``html.escape``, quotes
included: it also goes into attributes). Every URL is relative (``api/features?…``,
``static/dashboard.css``), so the same page works at ``/`` (``costcap dashboard``) and under
the gateway's ``/dashboard/``.

Each row a panel shows is ``<tr data-row data-key="KEY">`` and each of its cells ``<td
data-field="FIELD" data-value="V">``: FIELD a field of the report's JSON rows, V its JSON value
as text (exact decimal strings, integers as digits, null as empty) — what a script or a test
compares with ``costcap report NAME --json``. The shown text is the CLI table's (``$0.0135``,
``1,234``, ``12.5%``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from html import escape
from typing import Any

from costcap.cli.rows import Column, cell
from costcap.dashboard._panels import PANELS, Page, Panel, Shown
from costcap.dashboard._query import STACKS

__all__ = ["document", "notice", "panels_html"]

_GRAINS = ("day", "week", "month")
_NUMERIC = ("money", "count", "tokens", "pct", "rate", "time")


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def value_text(value: Any) -> str:
    """A JSON value as text: null as empty, booleans as ``true`` / ``false``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _shown(value: Any, kind: str) -> str:
    """The CLI table's text for a JSON value (money and rates arrive as decimal strings)."""
    if isinstance(value, str) and kind in ("money", "rate"):
        value = Decimal(value)
    return cell(value, kind)


def _href(name: str, query: str, *, csv: bool = False) -> str:
    if not csv:
        return f"api/{name}?{query}"
    return f"api/{name}?{query}&format=csv" if query else f"api/{name}?format=csv"


def _row(record: Mapping[str, Any], key: Sequence[str], cells: Iterable[str], mark: str) -> str:
    name = "|".join(value_text(record.get(field)) for field in key)
    return f'<tr {mark} data-key="{_e(name)}">{"".join(cells)}</tr>'


def _cell(record: Mapping[str, Any], column: Column) -> str:
    _, field, kind = column
    value = record.get(field)
    shown = "(no feature)" if field == "feature" and value is None else _shown(value, kind)
    css = f' class="num {kind}"' if kind in _NUMERIC else f' class="{kind}"'
    if kind == "tag" and value is not None:
        css = f' class="tag tag-{_e(value)}"'
    return (
        f'<td data-field="{_e(field)}" data-value="{_e(value_text(value))}"{css}>{_e(shown)}</td>'
    )


def _width(part: Decimal, whole: Decimal) -> Decimal:
    """``part`` of ``whole`` as a CSS width in percent, 0..100."""
    if whole <= 0:
        return Decimal(100) if part > 0 else Decimal(0)
    return min(max(part * 100 / whole, Decimal(0)), Decimal(100)).quantize(Decimal("0.1"))


def _share_bar(record: Mapping[str, Any]) -> str:
    width = _width(Decimal(record["share_pct"]), Decimal(100))
    return (
        f'<td class="bar-cell" aria-hidden="true"><div class="bar">'
        f'<span class="spent" style="width: {width}%"></span></div></td>'
    )


def _budget_bar(record: Mapping[str, Any]) -> str:
    limit, spent = Decimal(record["limit_usd"]), Decimal(record["spent_usd"])
    reserved = Decimal(record["reserved_usd"])
    used = _width(spent, limit)
    held = min(_width(reserved, limit), Decimal(100) - used)
    title = (
        f"spent {cell(spent, 'money')} + reserved {cell(reserved, 'money')} "
        f"of {cell(limit, 'money')}"
    )
    return (
        f'<td class="bar-cell"><div class="bar" title="{_e(title)}">'
        f'<span class="spent status-{_e(record["status"])}" style="width: {used}%"></span>'
        f'<span class="reserved" style="width: {held}%"></span></div></td>'
    )


_BARS = {"features": (1, _share_bar), "users": (1, _share_bar), "budgets": (3, _budget_bar)}


def _table(panel: Panel, records: Sequence[Mapping[str, Any]], *, mark: str = "data-row") -> str:
    columns = [c for c in panel.columns if not records or c[1] in records[0]]
    bar = _BARS.get(panel.name)
    heads = [
        f'<th scope="col"{" class=num" if kind in _NUMERIC else ""}>{_e(header)}</th>'
        for header, _, kind in columns
    ]
    if bar is not None:
        heads.insert(bar[0], '<th scope="col" class="bar-cell"><span class="sr">bar</span></th>')
    rows = []
    for record in records:
        cells = [_cell(record, c) for c in columns]
        if bar is not None:
            cells.insert(bar[0], bar[1](record))
        rows.append(_row(record, panel.key, cells, mark))
    return (
        f'<div class="table-wrap"><table data-table="{_e(panel.name)}">'
        f"<thead><tr>{''.join(heads)}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _chart(shown: Shown) -> str:
    chart, error = shown.extra.get("chart"), shown.extra.get("chart_error")
    if chart is not None:
        return f'<figure class="chart">{chart}</figure>'
    return f'<p class="note">{_e(error)}</p>' if error else ""


_CASCADES = Panel("cascades", "", "routes", (), ("feature",), (
    ("feature", "feature", "text"), ("cascades", "cascades", "count"),
    ("escalated", "escalations", "count"), ("rate", "escalation_rate", "rate"),
    ("cost", "cost_usd", "money"), ("all upper tier", "upper_cost_usd", "money"),
    ("saved", "saved_usd", "money"),
))  # fmt: skip

_PER_USER = (
    ("users", "users", "count"), ("mean", "mean_usd", "money"),
    ("median", "median_usd", "money"), ("p90", "p90_usd", "money"), ("max", "max_usd", "money"),
    ("no user", "unattributed_cost_usd", "money"),
)  # fmt: skip


def _per_user(figures: Mapping[str, Any] | None) -> str:
    """The cost-per-user figures (``report per-user``) above the users' table."""
    if not figures:
        return ""
    items = "".join(
        f'<div><dt>{_e(label)}</dt><dd data-field="{_e(field)}" '
        f'data-value="{_e(value_text(figures.get(field)))}">'
        f"{_e(_shown(figures.get(field), kind))}</dd></div>"
        for label, field, kind in _PER_USER
    )
    return f'<dl class="figures" data-per-user aria-label="Spend per user">{items}</dl>'


def _rows_of(panel: Panel, shown: Shown) -> list[Mapping[str, Any]]:
    if shown.answer is None:
        return []
    data: Any = shown.answer.data
    return list(data["routes"]) if panel.name == "routes" else list(data)


def _body(panel: Panel, shown: Shown) -> str:
    if shown.error is not None:
        return f'<p class="error" role="alert">{_e(shown.error)}</p>'
    records = _rows_of(panel, shown)
    parts = [_chart(shown)]
    if panel.name == "users":
        parts.append(_per_user(shown.extra.get("per_user")))
    parts.append(_table(panel, records) if records else '<p class="empty">nothing here</p>')
    if panel.name == "routes" and shown.answer is not None:
        data = shown.answer.data
        if data["cascades"]:
            parts.append("<h3>Cascades</h3>")
            parts.append(_table(_CASCADES, data["cascades"], mark="data-cascade"))
            parts.append(f'<p class="note">{_e(data["cascade_assumption"])}</p>')
    return "".join(parts)


def _card(panel: Panel, shown: Shown, query: str) -> str:
    links = (
        f'<a data-format="json" href="{_e(_href(panel.name, query))}">JSON</a> '
        f'<a data-format="csv" href="{_e(_href(panel.name, query, csv=True))}">CSV</a>'
    )
    if panel.name == "users":
        links += f' <a href="{_e(_href("per-user", query))}">per user</a>'
    note = f'<p class="note">{_e(panel.note)}</p>' if panel.note else ""
    return (
        f'<section class="panel panel-{panel.name}" data-panel="{panel.name}" '
        f'id="panel-{panel.name}" aria-labelledby="title-{panel.name}">'
        f'<header><h2 id="title-{panel.name}">{_e(panel.title)}</h2>'
        f'<nav class="formats" aria-label="{_e(panel.title)} as data">{links}</nav></header>'
        f"{note}{_body(panel, shown)}</section>"
    )


_TOTALS = (
    ("spend", "cost_usd", "money"), ("calls", "calls", "count"),
    ("refused", "refused", "count"), ("saved by the cache", "saved_usd", "money"),
)  # fmt: skip


def _totals(totals: Mapping[str, Any]) -> str:
    items = "".join(
        f'<div class="total" data-total="{field}" data-value="{_e(value_text(totals[field]))}">'
        f'<span class="label">{_e(label)}</span>'
        f'<span class="figure">{_e(cell(totals[field], kind))}</span></div>'
        for label, field, kind in _TOTALS
    )
    label = "Totals for the range"
    return f'<section id="totals" class="totals" aria-label="{label}">{items}</section>'


def panels_html(page: Page, query: str) -> str:
    """The inner HTML of ``<main id="panels">``: the totals strip and every panel's card."""
    cards = "".join(_card(p, page.panels[p.name], query) for p in PANELS)
    return f'{_totals(page.totals)}<div class="grid">{cards}</div>'


def notice(title: str, lines: Sequence[str], *, kind: str = "info") -> str:
    """A card in place of the panels: an empty or missing ledger, one that cannot be reached,
    a bad request. ``lines`` are paragraphs; text in backticks is shown as code."""
    paragraphs = "".join(f"<p>{_code(line)}</p>" for line in lines)
    role = ' role="alert"' if kind == "error" else ""
    return (
        f'<section class="notice notice-{kind}" data-notice="{_e(kind)}"{role}>'
        f"<h2>{_e(title)}</h2>{paragraphs}</section>"
    )


def _code(line: str) -> str:
    parts = line.split("`")
    return "".join(f"<code>{_e(p)}</code>" if i % 2 else _e(p) for i, p in enumerate(parts))


def _input(name: str, label: str, value: str, *, kind: str = "text", listed: bool = False) -> str:
    extra = f' list="{name}-list"' if listed else ""
    if kind == "date":
        extra += ' placeholder="YYYY-MM-DD"'
    return (
        f'<label>{_e(label)} <input type="{kind}" name="{name}" value="{_e(value)}"{extra}></label>'
    )


def _select(name: str, label: str, value: str, choices: Sequence[str]) -> str:
    options = "".join(
        f'<option value="{c}"{" selected" if c == value else ""}>{c}</option>' for c in choices
    )
    return f'<label>{_e(label)} <select name="{name}">{options}</select></label>'


def _date_kind(value: str) -> str:
    """``date`` (a picker) unless the value is a datetime, which a date input would drop."""
    return "date" if not value or len(value) == len("2026-03-01") else "text"


def filters_form(values: Mapping[str, str], lists: Mapping[str, Sequence[str]]) -> str:
    """``<form id="filters" method="get">``: the page's parameters, named as they are sent."""
    since, until = values.get("since", ""), values.get("until", "")
    fields = [
        _input("since", "from", since, kind=_date_kind(since)),
        _input("until", "to", until, kind=_date_kind(until)),
        _input("feature", "feature", values.get("feature", ""), listed=True),
        _input("user", "user", values.get("user", ""), listed=True),
        _input("model", "model", values.get("model", ""), listed=True),
        _select("granularity", "per", values.get("granularity", "day"), _GRAINS),
        _select("stack", "stack by", values.get("stack", "feature"), STACKS),
    ]
    datalists = "".join(
        f'<datalist id="{name}-list">'
        + "".join(f'<option value="{_e(v)}"></option>' for v in names)
        + "</datalist>"
        for name, names in lists.items()
    )
    return (
        f'<form id="filters" method="get" aria-label="Range and filters">{"".join(fields)}'
        '<button type="submit">Apply</button> <a class="reset" href="./">Reset</a>'
        f"{datalists}</form>"
    )


def document(
    *,
    main: str,
    calls: int,
    refreshed_at: str,
    refresh: float,
    form: str,
    ledger: str,
) -> str:
    """The whole page around ``main`` (the inner HTML of ``<main id="panels">``)."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>costcap dashboard</title>"
        '<link rel="icon" href="data:,">'  # no request for /favicon.ico, outside the app
        '<link rel="stylesheet" href="static/dashboard.css">'
        '<script src="static/dashboard.js" defer></script></head>'
        f'<body data-refresh="{_e(refresh)}">'
        '<header class="top"><h1>costcap</h1>'
        f'<p class="ledger">ledger <code>{_e(ledger)}</code></p></header>'
        f"{form}"
        f'<main id="panels" data-calls="{calls}" data-refreshed-at="{_e(refreshed_at)}">'
        f"{main}</main>"
        '<footer><p id="refresh-status" role="status" aria-live="polite">'
        f"{_e(_every(refresh))}</p></footer></body></html>"
    )


def _every(refresh: float) -> str:
    if refresh <= 0:
        return "Live refresh is off: reload the page for new figures."
    return f"Updates every {refresh:g} s."
