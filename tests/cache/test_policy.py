"""The cache policy: per-feature rules, and the ``[cache]`` table of costcap.toml."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from costcap.cache import CachePolicy, FeatureCache, ResponseCache, load_cache
from costcap.errors import ConfigError


def test_a_feature_without_overrides_gets_the_defaults() -> None:
    policy = CachePolicy(ttl_s=120, features={"faq": FeatureCache(mode="always")})
    rules = policy.rules("chat")
    assert (rules.enabled, rules.ttl_s, rules.mode, rules.namespace) == (
        True, 120, "deterministic", "feature",
    )  # fmt: skip


def test_a_feature_overrides_what_it_names() -> None:
    policy = CachePolicy(ttl_s=120, features={"faq": FeatureCache(mode="always", ttl_s=10)})
    rules = policy.rules("faq")
    assert (rules.ttl_s, rules.mode, rules.namespace) == (10, "always", "feature")


def test_no_feature_gets_the_defaults() -> None:
    assert CachePolicy(enabled=False).rules(None).enabled is False


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"ttl_s": 0}, "ttl"),
        ({"ttl_s": 400 * 86400}, "ttl"),
        ({"mode": "sometimes"}, "mode"),
        ({"namespace": "team"}, "namespace"),
        ({"max_entry_bytes": 0}, "max_entry_bytes"),
        ({"enabled": "yes"}, "enabled"),
        ({"lease_s": -1}, "lease_s"),
        ({"useful_hit_rate": Decimal("1.5")}, "useful_hit_rate"),
        ({"advice_after_calls": 0}, "advice_after_calls"),
    ],
)
def test_a_bad_policy_value_is_a_config_error(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        CachePolicy(**kwargs)  # type: ignore[arg-type]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "costcap.toml"
    path.write_text(text)
    return path


def test_the_cache_table_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[cache]
url = "memory://"
ttl = "2h"
namespace = "user"
wait = "5s"
useful_hit_rate = 0.3
advice_after_calls = 50
[cache.features.faq]
mode = "always"
ttl = 90
[cache.features.chat]
enabled = false
""",
    )
    url, policy = load_cache(path)
    assert url == "memory://"
    assert (policy.ttl_s, policy.namespace, policy.wait_s) == (7200, "user", 5)
    assert (policy.useful_hit_rate, policy.advice_after_calls) == (Decimal("0.3"), 50)
    assert (policy.rules("faq").mode, policy.rules("faq").ttl_s) == ("always", 90)
    assert policy.rules("chat").enabled is False


def test_without_a_url_the_cache_is_the_embedded_file(tmp_path: Path) -> None:
    url, _ = load_cache(write(tmp_path, "[cache]\nttl = 60\n"))
    assert url == "sqlite:///costcap-cache.db"


def test_a_cache_from_config_uses_its_url_and_policy(tmp_path: Path) -> None:
    cache = ResponseCache.from_config(write(tmp_path, '[cache]\nurl = "memory://"\nttl = "1m"\n'))
    assert cache.policy.ttl_s == 60


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[cache]\nttl = 'forever'\n", r"cache\.ttl: a number of seconds"),
        ("[cache]\ncolour = 1\n", r"cache\.colour: unknown key"),
        ("[cache.features.faq]\nmode = 'maybe'\n", r"cache\.features\.faq: cache mode"),
        ("[cache.features.faq]\nsize = 1\n", r"cache\.features\.faq\.size: unknown key"),
        ("[cache]\nurl = 5\n", r"cache\.url"),
        ("[cache]\nuseful_hit_rate = 'high'\n", r"cache\.useful_hit_rate"),
        ("[cache]\nadvice_after_calls = -3\n", r"cache\.advice_after_calls"),
        ("cache = 3\n", r"cache: must be a table"),
    ],
)
def test_a_bad_cache_table_names_the_file_and_key(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=problem) as refused:
        load_cache(path)
    assert str(path) in str(refused.value)


def test_a_cache_url_that_does_not_parse_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown scheme"):
        ResponseCache.from_config(write(tmp_path, '[cache]\nurl = "ftp://x"\n'))
