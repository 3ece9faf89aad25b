"""Routes in code: each feature's tiers (cheapest first), default tier, fallback chain, cascade,
budget pressure and classifier.

::

    RouterConfig(features={
        "chat": FeatureRoutes(
            tiers={"simple": "claude-haiku-4-5", "complex": "claude-sonnet-4-5",
                   "critical": "claude-opus-4-5"},
            default="complex",
            cascade=Cascade(enabled=True, validators=("empty", "refusal", has_citation)),
            pressure=Decimal("0.8"),
        ),
    }, routes=FeatureRoutes(tiers={"simple": "gpt-4o-mini", "complex": "gpt-4o"}))

``routes`` are the routes of every feature not named in ``features`` (and of calls with no
feature). Every value is checked when built; a bad one is a ConfigError naming it. Whether the
models have prices is checked against a price catalog by :func:`check_models` (the
:class:`~costcap.router.Router` and :func:`~costcap.router.load_router` call it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias

from costcap.errors import ConfigError, UnknownModel

if TYPE_CHECKING:
    from costcap.pricing import PriceCatalog

__all__ = [
    "BUILTIN_TIERS",
    "BUILTIN_VALIDATORS",
    "Cascade",
    "Classifier",
    "FeatureRoutes",
    "RouterConfig",
    "Validator",
    "builtin_rank",
    "check_models",
]

#: The tier names every feature understands, lowest first. A feature may name any tiers; these
#: three (from a request or the classifier) map onto its own (:meth:`FeatureRoutes.tier_for`).
BUILTIN_TIERS = ("simple", "complex", "critical")
#: The validators costcap ships (:mod:`costcap.router._validators`).
BUILTIN_VALIDATORS = ("empty", "refusal", "truncated", "json_schema")
#: Validators a cascade runs when none are named.
DEFAULT_VALIDATORS = ("empty", "refusal", "truncated")

#: ``(answer_text, finish_reason) -> bool``: True accepts the answer, False escalates it.
Validator: TypeAlias = Callable[[str, "str | None"], bool]
#: Replaces the heuristic: given the request's Content, returns a Classification or a tier name.
Classifier: TypeAlias = Callable[[Any], Any]

_TIER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def builtin_rank(name: str) -> int | None:
    """0, 1 or 2 for ``simple``, ``complex``, ``critical``; None for any other name."""
    try:
        return BUILTIN_TIERS.index(name)
    except ValueError:
        return None


def _share(value: object, what: str) -> Decimal:
    """A share above 0 and at most 1, exact: a float is read as it is written (``0.8``)."""
    shown = value if isinstance(value, Decimal) else repr(value)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ConfigError(f"{what}: a share above 0 and at most 1 (e.g. 0.8), not {shown}")
    share = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not share.is_finite() or not 0 < share <= 1:
        raise ConfigError(f"{what}: a share above 0 and at most 1 (e.g. 0.8), not {shown}")
    return share


@dataclass(frozen=True, slots=True, kw_only=True)
class Cascade:
    """Try the cheaper tier first, and ask the next tier up when a validator rejects the answer.

    ``validators`` are names of the built-ins (``empty``, ``refusal``, ``truncated``,
    ``json_schema``) and/or callables ``(answer_text, finish_reason) -> bool``. A
    ``json_schema`` (a JSON Schema as a mapping) adds the ``json_schema`` validator when it is
    not named. Off by default; streams are never cascaded.
    """

    enabled: bool = False
    validators: tuple[str | Validator, ...] = DEFAULT_VALIDATORS
    json_schema: Mapping[str, Any] | None = None
    _check: Callable[[Any], str | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"Cascade.enabled: true or false, not {self.enabled!r}")
        validators = self.validators
        if isinstance(validators, str) or not isinstance(validators, Iterable):
            raise ConfigError(
                f"Cascade.validators: a list of names or callables, not {validators!r}"
            )
        validators = tuple(validators)
        for index, validator in enumerate(validators):
            if isinstance(validator, str):
                if validator not in BUILTIN_VALIDATORS:
                    raise ConfigError(
                        f"Cascade.validators[{index}]: unknown validator {validator!r} "
                        f"(built in: {', '.join(BUILTIN_VALIDATORS)}; or pass a callable)"
                    )
            elif not callable(validator):
                raise ConfigError(
                    f"Cascade.validators[{index}]: a validator name or a callable "
                    f"(answer_text, finish_reason) -> bool, not {validator!r}"
                )
        if self.json_schema is not None:
            if not isinstance(self.json_schema, Mapping):
                raise ConfigError(
                    f"Cascade.json_schema: a JSON Schema (a table), not {self.json_schema!r}"
                )
            if "json_schema" not in validators:
                validators = (*validators, "json_schema")
            from costcap.router._validators import compile_schema

            object.__setattr__(self, "_check", compile_schema(self.json_schema))
        elif "json_schema" in validators:
            raise ConfigError("Cascade.validators: 'json_schema' needs a json_schema to check")
        object.__setattr__(self, "validators", validators)

    def schema_check(self) -> Callable[[Any], str | None]:
        """The compiled ``json_schema``: an instance's first problem, or None."""
        if self._check is None:
            raise ConfigError("Cascade.json_schema: none given")
        return self._check

    def names(self) -> tuple[str, ...]:
        """The validators as the ledger and logs name them (a callable by its ``__name__``)."""
        return tuple(v if isinstance(v, str) else validator_name(v) for v in self.validators)


def validator_name(validator: object) -> str:
    return str(getattr(validator, "__name__", None) or type(validator).__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureRoutes:
    """One feature's routes.

    ``tiers`` maps tier names to models, cheapest first (in the mapping's order). The built-in
    names, where used, come in their order (``simple`` before ``complex`` before ``critical``).
    ``default`` is the tier of a call that is not classified (``auto=False``, or nothing to
    read); when not set, the middle tier (of two, the upper one). ``chain`` is the fallback
    models in order; when not set, the tiers above the one chosen, lowest first, then those
    below it, highest first. ``pressure`` is the share of the feature's or the user's budget
    spent from which a routed call goes one tier down (at the share exactly, it does).
    ``classify`` replaces the heuristic.
    """

    tiers: Mapping[str, str]
    default: str | None = None
    chain: Sequence[str] | None = None
    cascade: Cascade = field(default_factory=Cascade)
    pressure: Decimal | float | None = None
    auto: bool = True
    classify: Classifier | None = None

    def __post_init__(self) -> None:
        pairs = _tier_pairs(self.tiers)
        object.__setattr__(self, "tiers", dict(pairs))
        names = [name for name, _ in pairs]
        ranks = [r for r in map(builtin_rank, names) if r is not None]
        if ranks != sorted(ranks):
            order = " before ".join(n for n in names if builtin_rank(n) is not None)
            raise ConfigError(
                f"FeatureRoutes.tiers: cheapest first: the built-in tiers go simple before "
                f"complex before critical, not {order}"
            )
        if self.default is None:
            object.__setattr__(self, "default", names[len(names) // 2])
        elif self.default not in self.tiers:
            raise ConfigError(
                f"FeatureRoutes.default: {self.default!r} is not one of its tiers "
                f"({', '.join(names)})"
            )
        if self.chain is not None:
            if isinstance(self.chain, str) or not isinstance(self.chain, Sequence):
                raise ConfigError(f"FeatureRoutes.chain: a list of model names, not {self.chain!r}")
            for index, model in enumerate(self.chain):
                if not isinstance(model, str) or not model.strip():
                    raise ConfigError(f"FeatureRoutes.chain[{index}]: a model name, not {model!r}")
            object.__setattr__(self, "chain", tuple(self.chain))
        if not isinstance(self.cascade, Cascade):
            raise ConfigError(f"FeatureRoutes.cascade: a Cascade, not {self.cascade!r}")
        if self.pressure is not None:
            object.__setattr__(self, "pressure", _share(self.pressure, "FeatureRoutes.pressure"))
        if not isinstance(self.auto, bool):
            raise ConfigError(f"FeatureRoutes.auto: true or false, not {self.auto!r}")
        if self.classify is not None and not callable(self.classify):
            raise ConfigError(f"FeatureRoutes.classify: a callable, not {self.classify!r}")

    # -- reading --------------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The tier names, cheapest first."""
        return tuple(self.tiers)

    @property
    def models(self) -> tuple[str, ...]:
        """Every model the routes can send: the tiers', then the chain's not among them."""
        seen = dict.fromkeys(self.tiers.values())
        seen.update(dict.fromkeys(self.chain or ()))
        return tuple(seen)

    @property
    def default_tier(self) -> str:
        assert self.default is not None  # set in __post_init__
        return self.default

    @property
    def top(self) -> str:
        """The highest tier."""
        return self.names[-1]

    def model(self, tier: str) -> str:
        return self.tiers[tier]

    def tier_for(self, name: str) -> str | None:
        """The feature's tier for ``name``: its own tier of that name; else, for a built-in
        name, the tier at the same height (rank 0, 1, 2 of 3 → position
        ⌈rank × (n − 1) / 2⌉ of n: between two, the upper one); else None."""
        if name in self.tiers:
            return name
        rank = builtin_rank(name)
        if rank is None:
            return None
        names = self.names
        return names[math.ceil(rank * (len(names) - 1) / 2)]

    @property
    def pressure_share(self) -> Decimal | None:
        """``pressure`` as the exact Decimal it was read as."""
        return self.pressure if isinstance(self.pressure, Decimal) else None


def _tier_pairs(tiers: object) -> list[tuple[str, str]]:
    if isinstance(tiers, Mapping):
        pairs = list(tiers.items())
    elif isinstance(tiers, Sequence) and not isinstance(tiers, str):
        pairs = list(tiers)
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise ConfigError(f"FeatureRoutes.tiers: (tier, model) pairs, not {pair!r}")
    else:
        raise ConfigError(f"FeatureRoutes.tiers: a mapping of tier names to models, not {tiers!r}")
    if not pairs:
        raise ConfigError("FeatureRoutes.tiers: at least one tier")
    seen: set[str] = set()
    for name, model in pairs:
        if not isinstance(name, str) or not _TIER_NAME.fullmatch(name) or name == "auto":
            raise ConfigError(
                f"FeatureRoutes.tiers: {name!r} is not a tier name (letters, digits, _ . -; "
                "not 'auto')"
            )
        if name in seen:
            raise ConfigError(f"FeatureRoutes.tiers.{name}: named twice")
        seen.add(name)
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"FeatureRoutes.tiers.{name}: a model name, not {model!r}")
    return [(name, model.strip()) for name, model in pairs]


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterConfig:
    """Every feature's routes: ``features`` by name, and ``routes`` for the rest (None: a
    feature not named has no routes, and a route name for it is refused with ``NoRoutes``)."""

    features: Mapping[str, FeatureRoutes] = field(default_factory=dict)
    routes: FeatureRoutes | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.features, Mapping):
            raise ConfigError(
                "RouterConfig.features: feature names mapped to FeatureRoutes, "
                f"not {self.features!r}"
            )
        for name, routes in self.features.items():
            if not isinstance(name, str) or not isinstance(routes, FeatureRoutes):
                raise ConfigError(
                    "RouterConfig.features: feature names mapped to FeatureRoutes, "
                    f"not {name!r}: {routes!r}"
                )
        if self.routes is not None and not isinstance(self.routes, FeatureRoutes):
            raise ConfigError(f"RouterConfig.routes: a FeatureRoutes or None, not {self.routes!r}")
        object.__setattr__(self, "features", dict(self.features))

    def for_feature(self, feature: str | None) -> FeatureRoutes | None:
        """The routes of ``feature``: its own, else ``routes`` (None: it has none)."""
        if feature is not None:
            own = self.features.get(feature)
            if own is not None:
                return own
        return self.routes

    def all_routes(self) -> dict[str | None, FeatureRoutes]:
        """Every FeatureRoutes by feature name (None: the routes of the other features)."""
        out: dict[str | None, FeatureRoutes] = {}
        out.update(self.features.items())
        if self.routes is not None:
            out[None] = self.routes
        return out


def check_models(config: RouterConfig, catalog: PriceCatalog) -> dict[str, str]:
    """Resolve every model the routes name: ``{model: provider}``. A model the catalog has no
    price for is a ConfigError naming the feature and the tier (or chain position)."""
    providers: dict[str, str] = {}
    for feature, routes in config.all_routes().items():
        where = "RouterConfig.routes" if feature is None else f"RouterConfig.features[{feature!r}]"
        places = [(f"tiers.{tier}", model) for tier, model in routes.tiers.items()]
        places += [(f"chain[{i}]", model) for i, model in enumerate(routes.chain or ())]
        for key, model in places:
            if model in providers:
                continue
            try:
                providers[model] = catalog.resolve(model).provider
            except UnknownModel as exc:
                raise ConfigError(f"{where}.{key}: {exc}") from None
    return providers
