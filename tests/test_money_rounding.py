"""Money conversions, worked out by hand: exact picodollars or a ValueError, ceilings that round
up (towards +∞ for negative amounts too), amounts too large to count, and amounts so small that
they round to one unit at once, whatever their exponent."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from costcap.money import (
    PICO_PER_MICRO,
    PICO_PER_USD,
    micros_ceil_from_usd,
    parse_usd,
    pico_ceil_from_usd,
    pico_from_usd,
    to_micros_ceil,
    usd_from_pico,
)


def test_the_units() -> None:
    """A dollar is 10¹² picodollars, a micro-dollar 10⁶."""
    assert usd_from_pico(PICO_PER_USD) == Decimal(1)
    assert usd_from_pico(PICO_PER_MICRO) == Decimal("0.000001")


@pytest.mark.parametrize(
    ("usd", "pico"),
    [
        ("0.000000000001", 1),
        (Decimal("1.5"), 1_500_000_000_000),
        (2, 2_000_000_000_000),
        ("-0.000000000003", -3),
        (Decimal("0E-30"), 0),
        ("2.50000000000000000000", 2_500_000_000_000),  # trailing zeros past a picodollar
    ],
)
def test_pico_from_usd_is_exact(usd: Decimal | int | str, pico: int) -> None:
    """A whole number of picodollars, from a Decimal, an int or text."""
    assert pico_from_usd(usd) == pico


@pytest.mark.parametrize("usd", ["1e-13", Decimal("0.0000000000015"), "-0.0000000000001"])
def test_pico_from_usd_refuses_a_fraction_of_a_picodollar(usd: Decimal | str) -> None:
    """Half a picodollar is not rounded either way."""
    with pytest.raises(ValueError, match="finer than a picodollar"):
        pico_from_usd(usd)


@pytest.mark.parametrize(
    ("usd", "pico"),
    [
        (Decimal("0.0000000000015"), 2),  # 1.5 pico → 2
        (Decimal("1"), 10**12),
        (Decimal("-0.0000000000015"), -1),  # ceil(-1.5) = -1
        (Decimal("0.00000000000000001"), 1),  # 10⁻⁵ of a picodollar → 1
    ],
)
def test_pico_ceil_rounds_up(usd: Decimal, pico: int) -> None:
    assert pico_ceil_from_usd(usd) == pico


@pytest.mark.parametrize(
    ("usd", "micros"),
    [
        (Decimal("2.5"), 2_500_000),
        (Decimal("0.0000015"), 2),  # 1.5 micro-dollars → 2
        (Decimal("0.0000010000000000000000000000000001"), 2),  # past decimal's 28 digits
        (Decimal("-0.0000001"), 0),  # ceil(-0.1) = 0
        (Decimal("-0.00000001"), 0),  # ceil(-0.01) = 0
        (Decimal("-0.0000015"), -1),
        (Decimal("0E-20"), 0),  # zero with a long exponent is still zero
        (Decimal("0.000000"), 0),
        (Decimal("1E+33"), 10**39),  # 39 digits: still counted
    ],
)
def test_micros_ceil_rounds_up(usd: Decimal, micros: int) -> None:
    assert micros_ceil_from_usd(usd) == micros


@pytest.mark.parametrize(
    ("pico", "micros"), [(1, 1), (1_000_000, 1), (1_000_001, 2), (0, 0), (-1_500_000, -1)]
)
def test_to_micros_ceil_rounds_up(pico: int, micros: int) -> None:
    assert to_micros_ceil(pico) == micros


@pytest.mark.parametrize("usd", [Decimal("1E+34"), Decimal("-1E+34"), Decimal("12345E+30")])
def test_forty_digits_are_too_large_to_count(usd: Decimal) -> None:
    """$10³⁴ is 10⁴⁰ micro-dollars, 41 digits: refused, not a huge integer."""
    with pytest.raises(ValueError, match="too large to count"):
        micros_ceil_from_usd(usd)


def test_too_large_counts_the_places() -> None:
    """$10²⁸ is 10³⁴ micro-dollars (counted) but 10⁴⁰ picodollars (too large)."""
    assert micros_ceil_from_usd(Decimal("1E+28")) == 10**34
    with pytest.raises(ValueError, match="too large to count"):
        pico_ceil_from_usd(Decimal("1E+28"))


@pytest.mark.parametrize("usd", [Decimal("Infinity"), Decimal("-Infinity"), Decimal("NaN")])
def test_no_infinite_amount_is_counted(usd: Decimal) -> None:
    with pytest.raises(ValueError, match="not a finite amount"):
        micros_ceil_from_usd(usd)


def test_a_tiny_amount_with_a_huge_exponent_rounds_at_once() -> None:
    """$10⁻⁹⁹⁹⁹⁹⁹⁹ is under a micro-dollar: one, without building 10⁹⁹⁹⁹⁹⁹⁹ first (seconds of
    work and 40 MB), so an odd amount cannot stall an admission."""
    result: list[int] = []
    worker = threading.Thread(
        target=lambda: result.append(micros_ceil_from_usd(Decimal("1E-99999999"))), daemon=True
    )
    worker.start()
    worker.join(timeout=2)
    assert result == [1]


def test_zero_dollars_is_an_amount() -> None:
    """$0 is not negative (a $0 budget is allowed)."""
    assert parse_usd("0") == Decimal(0)
    assert parse_usd(0) == Decimal(0)
