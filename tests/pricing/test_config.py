"""costcap.toml ``[models]``: overrides, additions, and errors that name file, key and problem."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costcap.errors import ConfigError
from costcap.pricing import PriceCatalog, Usage


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "costcap.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_addition_prices_a_new_model(tmp_path: Path) -> None:
    """A [models."name"] table with prices makes an unknown model priceable."""
    path = _write(
        tmp_path,
        """
        [models."my-model"]
        provider = "acme"
        input = "1.10"
        output = 4.4
        cache_read = "$0.275"
        context_window = 128000
        max_output_tokens = 16384
        aliases = ["my-model-latest"]
        """,
    )
    catalog = PriceCatalog.from_toml(path)
    price = catalog.resolve("my-model-latest")
    assert (price.model, price.provider) == ("my-model", "acme")
    assert (price.context_window, price.max_output_tokens) == (128_000, 16_384)
    cost = catalog.cost("my-model", Usage(1_000_000, 1_000_000, cache_read_tokens=1_000_000))
    assert cost.total_usd == Decimal("4.675")  # 0 × 1.10 + 1M × 0.275 + 1M × 4.40


def test_toml_floats_are_read_exactly(tmp_path: Path) -> None:
    """input = 0.1 in TOML is exactly $0.10/MTok (read as Decimal, never a binary float)."""
    path = _write(tmp_path, '[models."m"]\ninput = 0.1\noutput = 0.3\n')
    price = PriceCatalog.from_toml(path).resolve("m")
    assert (price.input_pico_per_token, price.output_pico_per_token) == (100_000, 300_000)
    assert price.scale == 0


def test_override_replaces_a_known_models_prices(tmp_path: Path) -> None:
    """An entry with prices for a known model replaces its prices, also for its dated snapshots."""
    path = _write(tmp_path, '[models."claude-sonnet-4-5"]\ninput = "2"\noutput = "10"\n')
    catalog = PriceCatalog.from_toml(path)
    cost = catalog.cost("claude-sonnet-4-5-20250929", Usage(1_000_000, 1_000_000))
    assert cost.total_usd == Decimal(12)
    assert cost.provider == "anthropic"
    assert catalog.resolve("claude-sonnet-4-5").context_window == 200_000


def test_omitted_cache_prices_default_to_the_input_price() -> None:
    """Without cache_read/cache_write a cached token costs the input price (never under-count)."""
    catalog = PriceCatalog(overrides={"m": {"input": "2", "output": "8"}})
    cost = catalog.cost(
        "m", Usage(3_000_000, 0, cache_read_tokens=1_000_000, cache_write_tokens=1_000_000)
    )
    assert cost.total_usd == Decimal(6)


def test_long_context_tier_from_config(tmp_path: Path) -> None:
    """[models."x".long_context] prices the whole call above the threshold of total input."""
    path = _write(
        tmp_path,
        """
        [models."x"]
        input = "3"
        output = "15"
        [models."x".long_context]
        threshold = 200000
        input = "6"
        output = "22.5"
        """,
    )
    catalog = PriceCatalog.from_toml(path)
    assert catalog.cost("x", Usage(200_000, 1_000)).total_usd == Decimal("0.615")
    assert catalog.cost("x", Usage(250_000, 1_000)).total_usd == Decimal("1.5225")


def test_metadata_only_entry_keeps_genai_prices(tmp_path: Path) -> None:
    """An entry with only max_output_tokens keeps genai-prices' prices and adds the metadata."""
    path = _write(tmp_path, '[models."claude-sonnet-4-5"]\nmax_output_tokens = 64000\n')
    catalog = PriceCatalog.from_toml(path)
    price = catalog.resolve("claude-sonnet-4-5-20250929")
    assert price.max_output_tokens == 64_000
    assert price.input_pico_per_token == 3_000_000
    assert [t.threshold for t in price.tiers] == [200_000]


def test_with_config_layers_a_file_over_overrides(tmp_path: Path) -> None:
    """with_config() keeps existing overrides and lets the file win on the same name."""
    base = PriceCatalog(
        overrides={"a": {"input": "1", "output": "1"}, "b": {"input": "1", "output": "1"}}
    )
    path = _write(tmp_path, '[models."b"]\ninput = "5"\noutput = "5"\n')
    layered = base.with_config(path)
    assert layered.cost("a", Usage(1_000_000, 0)).total_usd == Decimal(1)
    assert layered.cost("b", Usage(1_000_000, 0)).total_usd == Decimal(5)


def test_other_tables_are_ignored(tmp_path: Path) -> None:
    """Tables other than [models] belong to other parts of costcap and are not validated here."""
    path = _write(tmp_path, '[budgets.global]\nmonthly = "100"\n')
    assert PriceCatalog.from_toml(path).known_models()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[models."my-model"]\ninput = "abc"\noutput = "1"\n',
            "models.\"my-model\".input: not a price: 'abc'",
        ),
        ('[models."m"]\ninput = "-1"\noutput = "1"\n', 'models."m".input: must not be negative'),
        ('[models."m"]\ninput = "1"\n', 'models."m".output: missing'),
        ('[models."m"]\ninput = true\noutput = "1"\n', 'models."m".input: not a price: True'),
        ('[models."m"]\ninput = inf\noutput = "1"\n', 'models."m".input: not a finite price'),
        ('[models."m"]\ninptu = "1"\noutput = "1"\n', 'models."m".inptu: unknown key'),
        (
            '[models."m"]\ninput = "1"\noutput = "1"\ncontext_window = -5\n',
            'models."m".context_window',
        ),
        ('[models."m"]\ninput = "1"\noutput = "1"\naliases = "mm"\n', 'models."m".aliases'),
        (
            '[models."m"]\ninput = "1"\noutput = "1"\n'
            '[models."m".long_context]\ninput = "2"\noutput = "2"\n',
            'models."m".long_context.threshold: missing',
        ),
        (
            '[models."no-such-model-xyz"]\nmax_output_tokens = 5\n',
            'models."no-such-model-xyz": not a model',
        ),
        (
            '[models."gpt-4o"]\nprovider = "nope"\nmax_output_tokens = 5\n',
            'models."gpt-4o".provider',
        ),
        (
            '[models."a"]\ninput = "1"\noutput = "1"\n'
            '[models."b"]\ninput = "1"\noutput = "1"\naliases = ["A"]\n',
            "already used",
        ),
        ("models = 5\n", "models: must be a table"),
        ("[models\n", "not valid TOML"),
    ],
)
def test_bad_config_names_file_key_and_problem(tmp_path: Path, toml: str, message: str) -> None:
    """Every bad value raises ConfigError whose message starts with the file name."""
    path = _write(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        PriceCatalog.from_toml(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A config file that cannot be read raises ConfigError naming it."""
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        PriceCatalog.from_toml(missing)


@pytest.mark.parametrize("value", [0.1, None, [1]])
def test_python_overrides_refuse_floats_and_non_prices(value: Any) -> None:
    """In Python overrides a float price is refused (pass str or Decimal), as is any non-price."""
    with pytest.raises(ConfigError, match=r'<overrides>: models\."m"\.input'):
        PriceCatalog(overrides={"m": {"input": value, "output": "1"}})


def test_python_overrides_accept_decimal_and_int() -> None:
    """Decimal and int prices are exact."""
    catalog = PriceCatalog(overrides={"m": {"input": Decimal("0.000001"), "output": 2}})
    assert catalog.resolve("m").input_pico_per_token == 1
    assert catalog.resolve("m").output_pico_per_token == 2_000_000


def test_non_utf8_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    """A price file that is not UTF-8 is refused by name and line, not a UnicodeDecodeError."""
    path = tmp_path / "costcap.toml"
    path.write_bytes(b'[models."m"]\ninput = "1"\noutput = "1"\nprovider = "\xff"\n')
    with pytest.raises(ConfigError, match=r"not valid TOML: line 4 is not UTF-8") as caught:
        PriceCatalog.from_toml(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_directory_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """A directory given as the price file is refused by name."""
    with pytest.raises(ConfigError, match=r"cannot read the file: Is a directory"):
        PriceCatalog.from_toml(tmp_path)


def test_price_above_a_dollar_a_token_is_refused(tmp_path: Path) -> None:
    """``input = "1e30"`` (a typo) is refused: its worst case would overflow a store's counter."""
    path = _write(tmp_path, '[models."m"]\ninput = "1e30"\noutput = "1"\n')
    with pytest.raises(
        ConfigError, match=r'models\."m"\.input: .* is above \$1,000,000 per million'
    ):
        PriceCatalog.from_toml(path)
