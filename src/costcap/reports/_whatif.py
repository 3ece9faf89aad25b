"""What the logged calls would have cost under another routing, other prices or a response cache.

A :class:`Scenario` says what changes: features sent to another model (``routes``), routed calls
sent to the model their routing tier maps to in another configuration (``tier_model``), every
call priced with other prices (``prices``), a response cache answering a share of the calls
(``cache_hit_rate``). :func:`what_if` prices the ledger's calls again under it, per feature.

The calls are read as groups — per feature, model, service tier, routing tier, whether the
provider answered them, and the band of input counts that sets a long-context price — from the
routing rollup for whole days (:func:`rollup_sql`), from the events summed by the database for
the rest (:func:`groups_sql`), and each group is priced once (:mod:`costcap.reports._reprice`):
the work follows the number of groups, not of calls.

What is assumed (:attr:`WhatIf.assumptions` says it in words): only the calls the provider
answered (status ``ok``, not a cache hit) are priced again; calls refused, cut, failed or lost
keep their logged cost, and cache hits stay at $0. A call moved to another model keeps its
output tokens and has its input re-counted by a tokenizer ratio (an estimate). Prices are those
in force now, at each call's service tier. A cache hit rate r makes r of each feature's priced
calls free, in expectation: their what-if cost times 1 − r.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from costcap.errors import UnknownModel
from costcap.pricing import ModelPrice, PriceCatalog, default_catalog
from costcap.reports._range import TimeRange
from costcap.reports._reprice import (
    Tokens,
    band_sql,
    convert,
    group_cost,
    scale,
    target_price,
    token_ratio,
    tokenizer,
)
from costcap.reports._rows import pct, usd
from costcap.reports._sql import EVENTS, Dialect

__all__ = [
    "CallGroup",
    "Scenario",
    "TokenRatio",
    "WhatIf",
    "WhatIfRow",
    "cells_conditions",
    "groups_sql",
    "long_cells_sql",
    "read_group",
    "read_rollup",
    "rollup_sql",
    "span_conditions",
    "what_if",
]


@dataclass(frozen=True, slots=True)
class CallGroup:
    """Calls that are priced alike, and their sums. ``''``: no feature, service tier or
    routing tier; ``priced``: calls the provider answered (status ok, not a cache hit), else
    calls kept as logged (their tokens unused); ``input_floor``: the band of input counts its
    calls are in (:func:`costcap.reports._reprice.band_sql`: the last cutoff they reach, 0
    below the first), which sets their long-context tier."""

    feature: str
    model: str
    service_tier: str
    tier: str
    priced: bool
    input_floor: int
    calls: int
    tokens: Tokens
    cost_pico: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """What changes. ``routes``: feature → the model its calls are priced at (a feature named
    here wins over ``tier_model``); ``tier_model``: (feature or None, routing tier) → the model
    a routed call is priced at (None: the call keeps its model), with ``tier_models`` every
    model it can give and ``tiers_from`` where the mapping comes from; ``prices``: price every
    call the provider answered with this catalog (else only the calls moved to another model
    are priced, with ``catalog``, default the bundled prices); ``prices_from``: its file;
    ``cache_hit_rate``: the share, 0 to 1, of those calls a response cache answers;
    ``catalog_from``: the files whose ``[models]`` ``catalog`` holds (for the assumptions)."""

    routes: Mapping[str, str] = field(default_factory=dict)
    tier_model: Callable[[str | None, str], str | None] | None = None
    tier_models: Sequence[str] = ()
    tiers_from: str | None = None
    prices: PriceCatalog | None = None
    prices_from: str | None = None
    catalog: PriceCatalog | None = None
    catalog_from: Sequence[str] = ()
    cache_hit_rate: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        rate = self.cache_hit_rate
        if isinstance(rate, bool) or not isinstance(rate, Decimal | int):
            raise ValueError(f"cache_hit_rate must be a Decimal from 0 to 1, not {rate!r}")
        if not Decimal(rate).is_finite() or not 0 <= rate <= 1:
            raise ValueError(f"cache_hit_rate must be from 0 to 1, not {rate}")
        object.__setattr__(self, "cache_hit_rate", Decimal(rate))
        for feature, model in self.routes.items():
            if not isinstance(model, str) or not model.strip():
                raise ValueError(f"the route of feature {feature!r} needs a model")
        object.__setattr__(self, "routes", dict(self.routes))
        object.__setattr__(self, "tier_models", tuple(self.tier_models))
        object.__setattr__(self, "catalog_from", tuple(self.catalog_from))

    @property
    def pricing(self) -> PriceCatalog:
        """The catalog that prices the calls priced again."""
        return self.prices or self.catalog or default_catalog()

    def target(self, group: CallGroup) -> str:
        """The model ``group``'s calls are priced at."""
        routed = self.routes.get(group.feature)
        if routed is not None:
            return routed
        if group.tier and self.tier_model is not None:
            found = self.tier_model(group.feature or None, group.tier)
            if found is not None:
                return found
        return group.model

    def targets(self, model: str) -> list[str]:
        """Every model a call of ``model`` may be priced at."""
        out = dict.fromkeys([*self.routes.values(), *self.tier_models])
        out[model] = None
        return list(out)


@dataclass(frozen=True, slots=True)
class WhatIfRow:
    """One feature's calls (``feature`` None: the calls without one; in the total, every
    feature). ``calls`` counts every call, refused ones included; ``priced`` the calls priced
    again (answered by the provider: status ok, not a cache hit); ``moved`` those of them sent
    to another model. ``difference_usd`` is what-if minus actual; ``difference_pct`` of the
    actual cost (None when that is $0)."""

    feature: str | None
    calls: int
    priced: int
    moved: int
    actual_usd: Decimal
    whatif_usd: Decimal
    difference_usd: Decimal
    difference_pct: Decimal | None


@dataclass(frozen=True, slots=True)
class TokenRatio:
    """Input tokens of ``to_model`` per input token of ``from_model``, for the ``calls`` moved
    between them."""

    from_model: str
    from_family: str
    to_model: str
    to_family: str
    ratio: Decimal
    calls: int


@dataclass(frozen=True, slots=True)
class WhatIf:
    """Rows per feature (the dearest actual cost first), their total, the token ratios used and
    every assumption in words."""

    rows: list[WhatIfRow]
    total: WhatIfRow
    ratios: list[TokenRatio]
    assumptions: list[str]


@dataclass
class _Sums:
    calls: int = 0
    priced: int = 0
    moved: int = 0
    actual: int = 0
    kept: int = 0  # what-if picodollars of the calls kept as they were
    repriced: int = 0  # what-if picodollars of the priced calls, before the cache

    def row(self, feature: str | None, keep: Decimal) -> WhatIfRow:
        whatif = self.kept + scale(self.repriced, keep)
        return WhatIfRow(
            feature=feature,
            calls=self.calls,
            priced=self.priced,
            moved=self.moved,
            actual_usd=usd(self.actual),
            whatif_usd=usd(whatif),
            difference_usd=usd(whatif - self.actual),
            difference_pct=pct(whatif - self.actual, self.actual) if self.actual else None,
        )


def _ratio_decimal(ratio: Fraction) -> Decimal:
    """``ratio`` to four places, without trailing zeros (1.25, 0.8, 1)."""
    exact = Decimal(ratio.numerator) / Decimal(ratio.denominator)
    return Decimal(format(exact.quantize(Decimal("0.0001")).normalize(), "f"))


class _Pricer:
    """Prices groups under a scenario, resolving each model and tier once."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.catalog = scenario.pricing
        self.prices: dict[tuple[str, str], ModelPrice | None] = {}
        self.unpriced: dict[str, int] = {}
        self.moves: dict[tuple[str, str], int] = {}

    def price(self, model: str, service_tier: str) -> ModelPrice | None:
        key = (model, service_tier)
        if key not in self.prices:
            try:
                self.prices[key] = target_price(self.catalog, model, service_tier)
            except UnknownModel:
                self.prices[key] = None
        return self.prices[key]

    def cost(self, group: CallGroup) -> tuple[int, bool]:
        """The what-if picodollars of ``group`` (before the cache), and whether it moved."""
        target = self.scenario.target(group)
        if target == group.model and self.scenario.prices is None:
            return group.cost_pico, False
        price = self.price(target, group.service_tier)
        if price is None:  # the model a call keeps, which the catalog cannot price
            if target != group.model:
                raise UnknownModel(target)
            self.unpriced[group.model] = self.unpriced.get(group.model, 0) + group.calls
            return group.cost_pico, False
        ratio = token_ratio(group.model, target) if target != group.model else Fraction(1)
        per_call = round(group.input_floor * ratio)
        tokens = convert(group.tokens, ratio)
        if target != group.model:
            self.moves[(group.model, target)] = self.moves.get((group.model, target), 0)
            self.moves[(group.model, target)] += group.calls
        return group_cost(price, group.calls, tokens, per_call), target != group.model


def what_if(groups: Iterable[CallGroup], scenario: Scenario) -> WhatIf:
    """Price ``groups`` again under ``scenario``: one row per feature, the total, the ratios
    used and the assumptions."""
    pricer = _Pricer(scenario)
    sums: dict[str, _Sums] = {}
    for group in groups:
        s = sums.setdefault(group.feature, _Sums())
        s.calls += group.calls
        s.actual += group.cost_pico
        if not group.priced:
            s.kept += group.cost_pico
            continue
        cost, moved = pricer.cost(group)
        s.priced += group.calls
        s.moved += group.calls if moved else 0
        s.repriced += cost
    keep = 1 - scenario.cache_hit_rate
    ranked = sorted(sums.items(), key=lambda item: (-item[1].actual, item[0]))
    rows = [s.row(feature or None, keep) for feature, s in ranked]
    total = _Sums()
    for s in sums.values():
        total.calls += s.calls
        total.priced += s.priced
        total.moved += s.moved
        total.actual += s.actual
        total.kept += s.kept
        total.repriced += s.repriced
    ratios = [
        TokenRatio(
            from_model=source,
            from_family=tokenizer(source)[0],
            to_model=target,
            to_family=tokenizer(target)[0],
            ratio=_ratio_decimal(token_ratio(source, target)),
            calls=calls,
        )
        for (source, target), calls in sorted(pricer.moves.items())
    ]
    return WhatIf(
        rows=rows,
        total=_total_row(total, keep, rows),
        ratios=ratios,
        assumptions=_assumptions(scenario, ratios, pricer.unpriced),
    )


def _total_row(total: _Sums, keep: Decimal, rows: list[WhatIfRow]) -> WhatIfRow:
    """The total: its what-if is the sum of the rows' (each rounded to the picodollar)."""
    row = total.row(None, keep)
    whatif = sum((r.whatif_usd for r in rows), Decimal(0))
    actual = row.actual_usd
    return WhatIfRow(
        feature=None,
        calls=row.calls,
        priced=row.priced,
        moved=row.moved,
        actual_usd=actual,
        whatif_usd=whatif,
        difference_usd=whatif - actual,
        difference_pct=pct(whatif - actual, actual) if actual else None,
    )


def _assumptions(
    scenario: Scenario, ratios: list[TokenRatio], unpriced: Mapping[str, int]
) -> list[str]:
    prices = "the bundled prices (genai-prices)"
    if scenario.prices is not None:
        prices = f"the [models] of {scenario.prices_from or 'the file given'} over {prices}"
    elif scenario.catalog_from:
        prices = f"{prices} with the [models] of {' and '.join(scenario.catalog_from)}"
    elif scenario.catalog is not None:
        prices = "the catalog given"
    out = []
    if scenario.routes:
        moved = ", ".join(f"{f or '(none)'} → {m}" for f, m in sorted(scenario.routes.items()))
        out.append(f"Features moved: {moved}: their calls priced at that model.")
    if scenario.tier_model is not None:
        out.append(
            "Routed calls (those with a routing tier) priced at the model their tier maps to in "
            f"the [router] of {scenario.tiers_from or 'the configuration given'} (a built-in "
            "tier name at the tier of the same height); a tier it does not have keeps its "
            "model; calls the router did not route keep theirs."
        )
    if scenario.prices is not None:
        out.append("Every call answered by the provider priced again, at its model or the one "
                   "it moves to.")  # fmt: skip
    out += [
        f"Prices: {prices}, as in force now; each call at its service tier (the model's price "
        "for that tier, its standard price where it has none); prompt-cache reads and writes "
        "carried over, writes at the five-minute rate (the ledger does not keep the one-hour "
        "share); a call whose model stays and is not priced again keeps its logged cost.",
        "Output: a call moved to another model keeps its logged output tokens (the length of "
        "the answer carried over).",
        "Input: a call moved to a model with another tokenizer has its input (and prompt-cache "
        "reads and writes) re-counted by a ratio of tokenizer families, tokens per o200k_base "
        "token of English text: o200k_base 1, cl100k_base 1 (1.002 measured on English and "
        "code), Claude 1.25, Gemini 1.05, other models 1.25 (costcap's estimate profile). An "
        "estimate: the ledger keeps token counts, not text, and text in other scripts than "
        "Latin differs more between tokenizers.",
        "Calls refused, cut, failed (error) or lost keep their logged cost (refused: $0; cut: "
        "what was billed); calls answered from the response cache stay at $0.",
    ]
    for r in ratios:
        out.append(
            f"Token ratio {r.from_model} ({r.from_family}) → {r.to_model} ({r.to_family}): "
            f"× {r.ratio} on input ({r.calls:,} call{'' if r.calls == 1 else 's'})."
        )
    if scenario.cache_hit_rate:
        out.append(
            f"Response cache: {scenario.cache_hit_rate} of each feature's calls answered by the "
            "provider cost $0, in expectation (their what-if cost × "
            f"{1 - scenario.cache_hit_rate})."
        )
    for model, calls in sorted(unpriced.items()):
        out.append(f"{model}: no price in the catalog; its {calls:,} calls keep their logged cost.")
    return out


# -- reading ---------------------------------------------------------------------------------------
#
# Whole days come from the routing rollup (schema 6), whose rows carry the sums of the calls
# priced again and the most input tokens one of them had: a row whose calls all stay below the
# first input cutoff is two groups (the priced calls, the others); a row that reaches it is
# read again from its day's events, grouped by band. Partial days, a user's calls and ledgers
# before routing are read from the events, grouped by the database.

_PRICED = "CASE WHEN e.status = 'ok' AND NOT e.cache_hit THEN 1 ELSE 0 END"
_EVENT_SUMS = (
    "COUNT(*)",
    "SUM(e.input_tokens)",
    "SUM(e.output_tokens)",
    "SUM(e.cache_read_tokens)",
    "SUM(e.cache_write_tokens)",
    "SUM(e.cost_pico)",
)
_ROUTE = "costcap_rollup_daily_route"
_ROUTE_SUMS = (
    "SUM(e.calls)",
    "SUM(e.cost_pico)",
    "SUM(e.priced_calls)",
    "SUM(e.priced_input_tokens)",
    "SUM(e.priced_output_tokens)",
    "SUM(e.priced_cache_read_tokens)",
    "SUM(e.priced_cache_write_tokens)",
    "SUM(e.priced_cost_pico)",
)
# A routing rollup row: its key, as the events' columns give it
CELL_KEYS = ("day", "feature", "tier", "route_reason", "model", "service_tier")
_CELL_CHUNK = 100  # rollup rows read again per statement


def span_conditions(dialect: Dialect, span: TimeRange) -> tuple[list[str], list[object]]:
    """``ts`` bounds of ``span`` over events ``e``."""
    conditions: list[str] = []
    params: list[object] = []
    for bound, op in ((span.since, ">="), (span.until, "<")):
        if bound is not None:
            conditions.append(f"e.ts {op} ?")
            params.append(dialect.ts(bound))
    return conditions, params


def groups_sql(
    dialect: Dialect,
    conditions: Sequence[str],
    params: Sequence[object],
    cutoffs: Sequence[int],
    *,
    version: int,
) -> tuple[str, list[object]]:
    """The SQL and parameters that group the events matching ``conditions`` (over ``e``, with
    ``params``) as :class:`CallGroup` rows, by the band of ``cutoffs`` their input is in too.
    ``version``: the ledger's schema (routing tiers from 6, service tiers from 4)."""
    keys = [
        "COALESCE(e.feature, '')",
        "e.model",
        "COALESCE(e.service_tier, '')" if version >= 4 else "''",
        "COALESCE(e.tier, '')" if version >= 6 else "''",
        _PRICED,
        band_sql(cutoffs),
    ]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    positions = ", ".join(str(i + 1) for i in range(len(keys)))
    sql = f"SELECT {', '.join([*keys, *_EVENT_SUMS])} FROM {EVENTS} e{where} GROUP BY {positions}"
    return dialect.sql(sql), list(params)


def read_group(row: Sequence[object]) -> CallGroup:
    """A :func:`groups_sql` row as a CallGroup (PostgreSQL sums are numeric)."""
    feature, model, service_tier, tier, priced, band, calls, *sums = row
    inp, out, read, write, cost = (int(v or 0) for v in sums)  # type: ignore[call-overload]
    return CallGroup(
        feature=str(feature),
        model=str(model),
        service_tier=str(service_tier),
        tier=str(tier),
        priced=bool(priced),
        input_floor=int(band),  # type: ignore[call-overload]
        calls=int(calls),  # type: ignore[call-overload]
        tokens=Tokens(inp, out, read, write),
        cost_pico=cost,
    )


def rollup_sql(
    dialect: Dialect, conditions: Sequence[str], params: Sequence[object], first_cutoff: int | None
) -> tuple[str, list[object]]:
    """The routing rollup's rows matching ``conditions`` (days and filters over ``e``) whose
    priced calls all had fewer than ``first_cutoff`` input tokens (None: every row), summed per
    feature, model, service tier and routing tier."""
    where = list(conditions)
    extra: list[object] = []
    if first_cutoff is not None:
        where.append("e.priced_max_input_tokens < ?")
        extra.append(first_cutoff)
    keys = "e.feature, e.model, e.service_tier, e.tier"
    sql = f"SELECT {keys}, {', '.join(_ROUTE_SUMS)} FROM {_ROUTE} e"
    if where:
        sql += f" WHERE {' AND '.join(where)}"
    return dialect.sql(f"{sql} GROUP BY {keys}"), [*params, *extra]


def read_rollup(row: Sequence[object]) -> list[CallGroup]:
    """A :func:`rollup_sql` row as its priced calls and the others."""
    feature, model, service_tier, tier, *sums = row
    calls, cost, p_calls, inp, out, read, write, p_cost = (int(v or 0) for v in sums)  # type: ignore[call-overload]

    def group(priced: bool, calls: int, tokens: Tokens, cost: int) -> CallGroup:
        return CallGroup(
            feature=str(feature), model=str(model), service_tier=str(service_tier),
            tier=str(tier), priced=priced, input_floor=0, calls=calls, tokens=tokens,
            cost_pico=cost,
        )  # fmt: skip

    return [
        group(True, p_calls, Tokens(inp, out, read, write), p_cost),
        group(False, calls - p_calls, Tokens(), cost - p_cost),
    ]


def long_cells_sql(
    dialect: Dialect, conditions: Sequence[str], params: Sequence[object], first_cutoff: int
) -> tuple[str, list[object]]:
    """The keys of the routing rollup's rows matching ``conditions`` with a priced call of
    ``first_cutoff`` input tokens or more."""
    where = " AND ".join([*conditions, "e.priced_max_input_tokens >= ?"])
    sql = f"SELECT {', '.join(f'e.{k}' for k in CELL_KEYS)} FROM {_ROUTE} e WHERE {where}"
    return dialect.sql(sql), [*params, first_cutoff]


def cells_conditions(
    dialect: Dialect, cells: Sequence[Sequence[object]]
) -> list[tuple[list[str], list[object]]]:
    """Event conditions (and parameters) selecting the events of routing rollup rows ``cells``
    (their keys in :data:`CELL_KEYS` order): one day at a time, so that each statement reads
    its day once through the ``day`` index."""
    one = " AND ".join(
        "e.model = ?" if k == "model" else f"COALESCE(e.{k}, '') = ?" for k in CELL_KEYS[1:]
    )
    by_day: dict[object, list[Sequence[object]]] = {}
    for cell in cells:
        by_day.setdefault(dialect.day(dialect.read_day(cell[0])), []).append(cell)
    out = []
    for day, rows in sorted(by_day.items(), key=lambda item: str(item[0])):
        for start in range(0, len(rows), _CELL_CHUNK):
            chunk = rows[start : start + _CELL_CHUNK]
            params: list[object] = [day]
            for cell in chunk:
                params += cell[1:]
            out.append(([f"e.day = ? AND (({') OR ('.join([one] * len(chunk))}))"], params))
    return out
