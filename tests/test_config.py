"""costcap.toml: budgets, allocation, policy, guard settings; errors name file and key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from costcap.config import load_config
from costcap.errors import ConfigError

GOOD = """
[guard]
store = "memory://"
strict = true
timezone = "Europe/Paris"

[policy]
default_max_tokens = 800
max_tokens_cap = 4000

[policy.features.chat]
allowed_models = ["gpt-4o-mini", "claude-haiku-4-5"]
max_cost_usd = "0.05"

[[budgets]]
scope = "global"
period = "day"
limit_usd = "100"

[[budgets]]
scope = "user:*"
period = "day"
limit_usd = 5
mode = "soft"

[allocation]
total_usd = "5000"
period = "month"
shares = { chat = 40, code = 30, analysis = 20, admin = 10 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "costcap.toml"
    path.write_text(text)
    return path


def test_full_config_loads(tmp_path: Path) -> None:
    """Every section of a realistic file is read into the guard's settings."""
    config = load_config(write(tmp_path, GOOD))
    assert config.store == "memory://"
    assert config.strict
    assert config.policy.features["chat"].max_cost_usd == Decimal("0.05")
    assert [b.scope for b in config.budgets] == [
        "global", "user:*", "feature:chat", "feature:code", "feature:analysis", "feature:admin",
    ]  # fmt: skip
    assert config.budgets[0].window.tz.key == "Europe/Paris"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[[budgets]]\nscope='global'\nperiod='day'\nlimit_usd='ten'",
            r"budgets\[0\].*not a dollar",
        ),
        ("[[budgets]]\nscope='global'\nlimit_usd=1", r"budgets\[0\]\.period: is required"),
        (
            "[[budgets]]\nscope='global'\nperiod='day'\nlimit_usd=1\ncolour='red'",
            r"budgets\[0\]\.colour",
        ),
        ("[policy]\ndefault_max_tokens=-1", "policy: default_max_tokens must be a whole number"),
        ("[guard]\nstrict='yes'", "guard.strict: must be bool"),
        ("[allocation]\ntotal_usd=10\nshares={a=70,b=40}", "more than 100%"),
        ("[budgetz]\nx=1", "budgetz: unknown key"),
    ],
)
def test_bad_config_names_file_key_and_problem(tmp_path: Path, text: str, message: str) -> None:
    """A bad value is a ConfigError whose message starts with the file and names the key."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(caught.value).startswith(str(path))


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    """A TOML syntax error is reported with the file name."""
    path = write(tmp_path, "[guard\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A config path that does not exist is refused by name."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_rate_limits_load(tmp_path: Path) -> None:
    """``[[limits]]`` entries become rate-limit rules."""
    path = write(tmp_path, '[[limits]]\nrate = "20/minute"\nper = "user"\n')
    (rule,) = load_config(path).limits
    assert (rule.kind, rule.limit, rule.window_s, rule.identity) == ("requests", 20, 60, ("user",))


def test_bad_rate_limit_names_the_entry(tmp_path: Path) -> None:
    """A rule that does not parse is refused with its index."""
    path = write(tmp_path, '[[limits]]\nrate = "lots/minute"\n')
    with pytest.raises(ConfigError, match=r"limits\[0\].*not a rate"):
        load_config(path)


def test_non_utf8_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    """A file that is not UTF-8 text is refused by name and line, not a UnicodeDecodeError."""
    path = tmp_path / "costcap.toml"
    path.write_bytes(b'[guard]\nstore = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"not valid TOML: line 2 is not UTF-8") as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_directory_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    """A directory given as the config file is refused with the loaders' one wording."""
    with pytest.raises(ConfigError, match=r"cannot read the file: Is a directory"):
        load_config(tmp_path)


def test_both_loaders_word_a_bad_file_alike(tmp_path: Path) -> None:
    """load_config and PriceCatalog.from_toml report one TOML error in the same words."""
    from costcap.pricing import PriceCatalog

    path = write(tmp_path, "[guard\n")
    with pytest.raises(ConfigError) as by_config:
        load_config(path)
    with pytest.raises(ConfigError) as by_prices:
        PriceCatalog.from_toml(path)
    assert str(by_config.value) == str(by_prices.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[allocation]\ntotal_usd=10\nshares={}", "allocation.shares: no shares given"),
        ("[allocation]\ntotal_usd='ten'\nshares={a=1}", "allocation.total_usd is not a dollar"),
        ("[allocation]\ntotal_usd=10\nshares={a='x'}", "allocation.shares.a is not a dollar"),
        ("[allocation]\ntotal_usd=10\nshares={a=70,b=40}", "allocation.shares add up to 110%"),
        ("[guard]\ntimezone='Mars/Base'", "guard.timezone: unknown time zone 'Mars/Base'"),
    ],
)
def test_error_names_its_key_once(tmp_path: Path, text: str, message: str) -> None:
    """The key is named once after the file: never ``allocation: allocation…``."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: {message}")


def test_negative_max_tokens_cap_is_refused(tmp_path: Path) -> None:
    """``[policy] max_tokens_cap = -4`` is a ConfigError, never a cap of -4 tokens."""
    path = write(tmp_path, "[policy]\nmax_tokens_cap = -4\n")
    with pytest.raises(ConfigError, match=r"policy: max_tokens_cap must be a whole number"):
        load_config(path)


def test_features_must_be_a_table(tmp_path: Path) -> None:
    """``[policy] features = 5`` names the key, not a TypeError from iterating 5."""
    path = write(tmp_path, "[policy]\nfeatures = 5\n")
    with pytest.raises(ConfigError, match=r"policy\.features: must be a table"):
        load_config(path)


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        ("url = 'http://x'\nretries = 'many'", r"webhooks\[0\]\.retries: must be int"),
        ("url = 'http://x'\nretries = -1", r"webhooks\[0\]\.retries: must be from 0"),
        ("url = ''", r"webhooks\[0\]\.url: must be an http"),
    ],
)
def test_bad_webhook_names_the_key(tmp_path: Path, hook: str, message: str) -> None:
    """A webhook's bad url or retries is a ConfigError naming it, not a ValueError from int()."""
    path = write(tmp_path, f"[[alerts.webhooks]]\n{hook}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_lease_seconds_must_be_finite(tmp_path: Path) -> None:
    """``lease_seconds = inf`` is refused: no store keeps a lease that long."""
    path = write(tmp_path, "[guard]\nlease_seconds = inf\n")
    with pytest.raises(ConfigError, match=r"guard\.lease_seconds: must be positive and at most"):
        load_config(path)


def test_deeply_nested_file_is_a_config_error(tmp_path: Path) -> None:
    """100,000 nested arrays are refused by name, not a RecursionError from the parser."""
    path = tmp_path / "costcap.toml"
    path.write_bytes(b"a = " + b"[" * 100_000 + b"\n")
    with pytest.raises(ConfigError, match="not valid TOML: arrays or tables nested too deeply"):
        load_config(path)
