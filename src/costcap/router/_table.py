"""The ``[router]`` table of ``costcap.toml``::

    [router]                         # the routes of every feature not listed below
    simple = "gpt-4o-mini"           # a tier: its name = its model, cheapest first
    complex = "gpt-4o"
    pressure = 0.8                   # settings here are inherited by every feature

    [router.features.chat]
    simple = "claude-haiku-4-5"
    complex = "claude-sonnet-4-5"
    critical = "claude-opus-4-5"
    default = "complex"              # the tier of a call that is not classified
    chain = ["claude-sonnet-4-5", "claude-opus-4-5"]   # fallbacks, in order
    auto = true                      # classify calls that name no complexity

    [router.features.chat.cascade]
    enabled = true
    validators = ["empty", "refusal", "truncated", "json_schema"]
    json_schema = { type = "object", required = ["answer"] }

In a table, the keys ``default``, ``chain``, ``pressure``, ``auto`` and ``cascade`` are settings
(and ``features`` in ``[router]``); every other key is a tier. A feature inherits ``[router]``'s
``pressure``, ``auto`` and ``cascade`` when it does not set them, and its tiers, ``default`` and
``chain`` when it names no tier of its own. Every problem is a ConfigError naming the file and
the key: an unknown key, a tier named as ``default`` that the table does not have, a model the
price catalog (the bundled prices plus the file's ``[models]``) cannot price.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from costcap._toml import read_toml
from costcap.errors import ConfigError, UnknownModel
from costcap.pricing import PriceCatalog, default_catalog
from costcap.router._config import (
    BUILTIN_TIERS,
    BUILTIN_VALIDATORS,
    Cascade,
    FeatureRoutes,
    RouterConfig,
    Validator,
)

__all__ = ["catalog_for", "load_router", "parse_router_table", "parse_tiers"]

_SETTINGS = ("auto", "cascade", "chain", "default", "pressure")
_INHERITED = ("auto", "cascade", "pressure")
_CASCADE_KEYS = ("enabled", "json_schema", "validators")


def load_router(
    path: str | Path, *, validators: Mapping[str, Validator] | None = None
) -> RouterConfig:
    """``costcap.toml``'s ``[router]`` (an empty RouterConfig when there is none), its models
    checked against the bundled prices plus the file's ``[models]``."""
    data = read_toml(path, parse_float=Decimal)
    source = str(path)
    return parse_router_table(
        data.get("router", {}), source, catalog=catalog_for(data, source), validators=validators
    )


def parse_tiers(
    text: str, *, catalog: PriceCatalog | None = None, where: str = "--tiers"
) -> FeatureRoutes:
    """Tiers given on a command line, ``"simple=gpt-4o-mini,complex=gpt-4o"`` (cheapest first),
    as FeatureRoutes; every model checked against ``catalog`` (default: the bundled prices). A
    problem is a ConfigError starting with ``where``."""
    tiers: dict[str, str] = {}
    for index, item in enumerate(text.split(",")):
        name, sep, model = (part.strip() for part in item.partition("="))
        if not sep or not name or not model:
            raise ConfigError(f"{where}: TIER=MODEL pairs separated by commas, not {item!r}")
        if name in tiers:
            raise ConfigError(f"{where}: tier {name!r} named twice")
        try:
            (catalog or default_catalog()).resolve(model)
        except UnknownModel as exc:
            raise ConfigError(f"{where}[{index}]: {exc}") from None
        tiers[name] = model
    try:
        return FeatureRoutes(tiers=tiers)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {str(exc).removeprefix('FeatureRoutes.tiers: ')}") from None


def catalog_for(data: Mapping[str, Any], source: str) -> PriceCatalog:
    """The price catalog a configuration's routes are checked against: the bundled prices plus
    its ``[models]`` (read the way :meth:`PriceCatalog.from_toml` reads them)."""
    models = data.get("models")
    if not models:
        return default_catalog()
    if not isinstance(models, Mapping):
        raise ConfigError(f'{source}: models: must be a table of [models."name"] tables')
    from costcap.pricing._config import parse_models

    entries = parse_models(_decimals(models), source=source)
    return PriceCatalog._from_entries(entries, default_catalog()._clock)


def _decimals(value: Any) -> Any:
    """Floats (a file read with ``parse_float=float``) as the Decimals they were written as."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def parse_router_table(
    table: object,
    source: str,
    *,
    catalog: PriceCatalog | None = None,
    validators: Mapping[str, Validator] | None = None,
) -> RouterConfig:
    """The ``[router]`` table as a RouterConfig. ``validators`` names user validators that the
    file may list beside the built-ins. Every problem is a ConfigError naming ``source`` and the
    key."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: router: must be a table")
    reader = _Reader(source, catalog or default_catalog(), dict(validators or {}))
    features_table = table.get("features", {})
    if not isinstance(features_table, Mapping):
        raise ConfigError(f"{source}: router.features: must be a table of [router.features.NAME]")
    base_table = {k: v for k, v in table.items() if k != "features"}
    base = reader.routes(base_table, "router") if base_table else None
    inherited = {k: base_table[k] for k in _INHERITED if k in base_table}
    base_tiers = {k: v for k, v in base_table.items() if k not in _SETTINGS}
    features: dict[str, FeatureRoutes] = {}
    for name, own in features_table.items():
        key = f"router.features.{name}"
        if not isinstance(own, Mapping):
            raise ConfigError(f"{source}: {key}: must be a table")
        merged = {**inherited, **own}
        if not any(k not in _SETTINGS for k in own):  # no tier of its own: [router]'s
            merged = {**base_tiers, **{k: base_table[k] for k in ("default", "chain")
                                       if k in base_table}, **merged}  # fmt: skip
        routes = reader.routes(merged, key)
        assert routes is not None  # a feature's table without tiers is refused
        features[name] = routes
    if base is None and not features and base_table:
        raise ConfigError(f'{source}: router: no tiers (name one, e.g. simple = "gpt-4o-mini")')
    return RouterConfig(features=features, routes=base if base_tiers else None)


class _Reader:
    def __init__(
        self, source: str, catalog: PriceCatalog, validators: dict[str, Validator]
    ) -> None:
        self.source, self.catalog, self.validators = source, catalog, validators

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {problem}")

    def routes(self, table: Mapping[str, Any], key: str) -> FeatureRoutes | None:
        tiers = {k: v for k, v in table.items() if k not in _SETTINGS}
        if not tiers:
            if key == "router":
                return None  # settings only: inherited by the features
            raise self.fail(key, 'no tiers (name at least one, e.g. simple = "gpt-4o-mini")')
        for name, model in tiers.items():
            self.tier(table, key, name, model)
        kwargs: dict[str, Any] = {"tiers": tiers}
        if "default" in table:
            default = table["default"]
            if not isinstance(default, str) or default not in tiers:
                raise self.fail(
                    f"{key}.default",
                    f"{default!r} is not one of its tiers ({', '.join(tiers)})",
                )
            kwargs["default"] = default
        if "chain" in table:
            kwargs["chain"] = self.chain(table["chain"], f"{key}.chain")
        if "pressure" in table:
            kwargs["pressure"] = table["pressure"]
        if "auto" in table:
            kwargs["auto"] = table["auto"]
        if "cascade" in table:
            kwargs["cascade"] = self.cascade(table["cascade"], f"{key}.cascade")
        routes: FeatureRoutes = self.build(key, lambda: FeatureRoutes(**kwargs))
        return routes

    def tier(self, table: Mapping[str, Any], key: str, name: str, model: object) -> None:
        where = f"{key}.{name}"
        settings = [*_SETTINGS, "features"] if key == "router" else list(_SETTINGS)
        close = difflib.get_close_matches(name, settings, n=1, cutoff=0.75)
        hint = f"unknown key (did you mean {close[0]!r}?)" if close else None
        if not isinstance(model, str) or not model.strip():
            raise self.fail(
                where,
                hint
                or f"unknown key (settings are {', '.join(settings)}; any other key is a "
                f"tier and maps its name to a model), not {model!r}",
            )
        if hint is not None and (model in table or model in BUILTIN_TIERS):
            raise self.fail(where, hint)
        try:
            self.catalog.resolve(model.strip())
        except UnknownModel as exc:
            raise self.fail(where, hint or str(exc)) from None

    def chain(self, value: object, key: str) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(key, f"a list of model names, not {value!r}")
        for index, model in enumerate(value):
            if not isinstance(model, str) or not model.strip():
                raise self.fail(f"{key}[{index}]", f"a model name, not {model!r}")
            try:
                self.catalog.resolve(model.strip())
            except UnknownModel as exc:
                raise self.fail(f"{key}[{index}]", str(exc)) from None
        return [m.strip() for m in value]

    def cascade(self, value: object, key: str) -> Cascade:
        if not isinstance(value, Mapping):
            raise self.fail(
                key, "must be a table ([…cascade] with enabled, validators, json_schema)"
            )
        for name in value:
            if name not in _CASCADE_KEYS:
                raise self.fail(
                    f"{key}.{name}", f"unknown key (expected one of {list(_CASCADE_KEYS)})"
                )
        kwargs: dict[str, Any] = {}
        if "enabled" in value:
            kwargs["enabled"] = value["enabled"]
        if "validators" in value:
            names = value["validators"]
            if not isinstance(names, list):
                raise self.fail(f"{key}.validators", f"a list of validator names, not {names!r}")
            listed: list[str | Validator] = []
            for index, name in enumerate(names):
                if isinstance(name, str) and name in self.validators:
                    listed.append(self.validators[name])
                    continue
                if not isinstance(name, str) or name not in BUILTIN_VALIDATORS:
                    known = [*BUILTIN_VALIDATORS, *self.validators]
                    raise self.fail(
                        f"{key}.validators[{index}]",
                        f"unknown validator {name!r} (known: {', '.join(known)})",
                    )
                listed.append(name)
            kwargs["validators"] = tuple(listed)
        if "json_schema" in value:
            kwargs["json_schema"] = _plain_json(value["json_schema"])
        cascade: Cascade = self.build(key, lambda: Cascade(**kwargs))
        return cascade

    def build(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()``, its ConfigError reported under ``key`` (``FeatureRoutes.pressure: …`` as
        ``<file>: router.features.chat.pressure: …``)."""
        try:
            return make()
        except ConfigError as exc:
            problem = str(exc)
            for prefix in ("FeatureRoutes.", "Cascade."):
                if problem.startswith(prefix):
                    rest = problem.removeprefix(prefix)
                    raise ConfigError(f"{self.source}: {key}.{rest}") from None
            raise self.fail(key, problem) from None


def _plain_json(value: Any) -> Any:
    """A TOML value as JSON would hold it (Decimals as numbers)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {k: _plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v) for v in value]
    return value
