"""The [router] table of costcap.toml: load_router, parse_router_table and load_config."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from costcap.config import load_config
from costcap.errors import ConfigError
from costcap.router import FeatureRoutes, load_router, parse_router_table, parse_tiers

FULL = """
[models."house-model"]
input = "0.50"
output = "1.50"

[router]
pressure = 0.8
simple = "gpt-4o-mini"
complex = "gpt-4o"

[router.features.chat]
simple = "claude-haiku-4-5"
complex = "claude-sonnet-4-5"
critical = "claude-opus-4-5"
default = "simple"
chain = ["claude-sonnet-4-5"]
auto = false

[router.features.chat.cascade]
enabled = true
validators = ["empty", "refusal"]
json_schema = { type = "object", required = ["answer"] }

[router.features.house]
only = "house-model"
pressure = 0.5
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "costcap.toml"
    path.write_text(text)
    return path


def one_feature(tmp_path: Path, body: str) -> Path:
    return write(tmp_path, f'[router.features.x]\nsimple = "gpt-4o-mini"\n{body}\n')


def test_a_feature_s_tiers_in_the_order_written(tmp_path: Path) -> None:
    chat = load_router(write(tmp_path, FULL)).features["chat"]
    assert chat.tiers == {"simple": "claude-haiku-4-5", "complex": "claude-sonnet-4-5",
                          "critical": "claude-opus-4-5"}  # fmt: skip


def test_a_feature_s_settings_are_read(tmp_path: Path) -> None:
    chat = load_router(write(tmp_path, FULL)).features["chat"]
    assert (chat.default, chat.chain, chat.auto) == ("simple", ("claude-sonnet-4-5",), False)


def test_the_cascade_table_is_read(tmp_path: Path) -> None:
    cascade = load_router(write(tmp_path, FULL)).features["chat"].cascade
    assert (cascade.enabled, cascade.validators) == (True, ("empty", "refusal", "json_schema"))


def test_a_feature_inherits_the_router_s_pressure(tmp_path: Path) -> None:
    assert load_router(write(tmp_path, FULL)).features["chat"].pressure == Decimal("0.8")


def test_a_feature_s_own_setting_wins(tmp_path: Path) -> None:
    assert load_router(write(tmp_path, FULL)).features["house"].pressure == Decimal("0.5")


def test_the_router_s_tiers_route_features_not_listed(tmp_path: Path) -> None:
    routes = load_router(write(tmp_path, FULL)).for_feature("search")
    assert routes is not None
    assert routes.tiers == {"simple": "gpt-4o-mini", "complex": "gpt-4o"}


def test_a_feature_with_settings_only_takes_the_router_s_tiers(tmp_path: Path) -> None:
    text = '[router]\nsimple = "gpt-4o-mini"\ncomplex = "gpt-4o"\n'
    text += "[router.features.x]\npressure = 0.9\n"
    routes = load_router(write(tmp_path, text)).features["x"]
    assert (routes.names, routes.pressure) == (("simple", "complex"), Decimal("0.9"))


def test_a_model_priced_in_the_file_s_models_is_known(tmp_path: Path) -> None:
    assert load_router(write(tmp_path, FULL)).features["house"].tiers == {"only": "house-model"}


def test_a_file_without_router_gives_empty_routes(tmp_path: Path) -> None:
    config = load_router(write(tmp_path, "[guard]\nstore = 'memory://'\n"))
    assert (config.features, config.routes) == ({}, None)


def test_load_config_keeps_the_router(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    assert load_config(path).router == load_router(path)


def test_a_config_without_router_has_none(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")).router is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'defualt = "simple"',
            r"router\.features\.x\.defualt: unknown key \(did you mean 'default'\?\)",
        ),
        ("featurs = 1", r"router\.features\.x\.featurs: unknown key"),
        ('default = "huge"', r"router\.features\.x\.default: 'huge' is not one of its tiers"),
        ('complex = "gpt-9-ultra"', r"router\.features\.x\.complex: unknown model 'gpt-9-ultra'"),
        ('chain = ["nope"]', r"router\.features\.x\.chain\[0\]: unknown model 'nope'"),
        ('chain = "gpt-4o"', r"router\.features\.x\.chain: a list of model names"),
        ("pressure = 1.5", r"router\.features\.x\.pressure: a share above 0 and at most 1"),
        ('auto = "yes"', r"router\.features\.x\.auto: true or false"),
        ("cascade = 1", r"router\.features\.x\.cascade: must be a table"),
        ("cascade = { on = true }", r"router\.features\.x\.cascade\.on: unknown key"),
        (
            'cascade = { validators = ["nope"] }',
            r"router\.features\.x\.cascade\.validators\[0\]: unknown validator",
        ),
        (
            'cascade = { json_schema = { type = "nonsense" } }',
            r"router\.features\.x\.cascade\.json_schema: not a valid",
        ),
    ],
)
def test_a_bad_key_is_a_config_error_naming_file_and_key(
    tmp_path: Path, body: str, message: str
) -> None:
    path = one_feature(tmp_path, body)
    with pytest.raises(ConfigError, match=rf"^{path}: {message}"):
        load_router(path)


def test_load_config_refuses_a_bad_router_the_same_way(tmp_path: Path) -> None:
    path = one_feature(tmp_path, 'default = "huge"')
    with pytest.raises(ConfigError, match=rf"^{path}: router\.features\.x\.default"):
        load_config(path)


def test_a_router_with_no_tiers_anywhere_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"router: no tiers"):
        load_router(write(tmp_path, "[router]\npressure = 0.8\n"))


def test_a_feature_table_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^f\.toml: router\.features\.x: must be a table"):
        parse_router_table({"features": {"x": 3}}, "f.toml")


def test_a_user_validator_can_be_named_in_the_file() -> None:
    def cites(text: str, finish_reason: str | None) -> bool:
        return "[1]" in text

    table = {"simple": "gpt-4o-mini", "cascade": {"validators": ["cites"]}}
    routes = parse_router_table(table, "f.toml", validators={"cites": cites}).routes
    assert isinstance(routes, FeatureRoutes)
    assert routes.cascade.validators == (cites,)


def test_tiers_from_a_command_line_keep_their_order() -> None:
    routes = parse_tiers("simple=gpt-4o-mini, complex=gpt-4o")
    assert routes.tiers == {"simple": "gpt-4o-mini", "complex": "gpt-4o"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("simple", r"^--tiers: TIER=MODEL pairs"),
        ("simple=gpt-4o-mini,simple=gpt-4o", r"^--tiers: tier 'simple' named twice"),
        ("simple=gpt-4o-mini,complex=gpt-11", r"^--tiers\[1\]: unknown model 'gpt-11'"),
        ("critical=o3,simple=gpt-4o-mini", r"^--tiers: cheapest first"),
    ],
)
def test_bad_command_line_tiers_name_the_option(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_tiers(text)
