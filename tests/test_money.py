"""Money helpers: the integer rendering of a picodollar amount agrees with ``decimal``."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from costcap.money import format_usd, usd_from_pico, usd_text

# amounts of every size: a picodollar, a call, a month of spend, past decimal's 28 digits
amounts = st.integers(min_value=-(10**40), max_value=10**40) | st.builds(
    lambda m, e: m * 10**e, st.integers(-(10**6), 10**6), st.integers(0, 40)
)


@given(pico=amounts)
def test_usd_text_is_the_decimal_amount_as_text(pico: int) -> None:
    """Plain or scientific notation, trailing zeros dropped, exactly as ``str`` of the
    normalized ``Decimal`` writes it (the spool's ``cost_usd``)."""
    assert usd_text(pico) == str(usd_from_pico(pico))


def test_usd_text_writes_small_and_large_amounts_as_decimal_does() -> None:
    """The notation switches where ``decimal`` switches it."""
    assert [usd_text(p) for p in (0, 5, 1_500_000, 10**12, 10**13, 25 * 10**11)] == [
        "0", "5E-12", "0.0000015", "1", "1E+1", "2.5",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("pico", "text"),
    [
        (-1, "-1E-12"),
        (-5 * 10**11, "-0.5"),
        (5 * 10**11, "0.5"),  # the point right after "0"
        (25 * 10**10, "0.25"),
        (10**27 + 1, "1000000000000000.000000000001"),  # 28 digits: exact
        (10**28 + 1, "1E+16"),  # 29 digits: decimal's 28-digit context drops the picodollar
    ],
)
def test_usd_text_examples(pico: int, text: str) -> None:
    """Negative amounts, amounts under a dollar, and the 28-digit edge, written by hand."""
    assert usd_text(pico) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1234.5"), "$1,234.50"),
        (1_500_000_000_000, "$1.50"),  # an int is picodollars
        (Decimal(0), "$0.00"),
        (0, "$0.00"),
        (Decimal(5), "$5.00"),
        (Decimal("0.004"), "$0.004"),  # under a cent: more places
        (Decimal("0.015"), "$0.02"),  # a cent and a half is not under a cent
        (Decimal("0.0012345"), "$0.001234"),  # six places at most (half to even)
        (4_000_000, "$0.000004"),
        (Decimal("0.0000001"), "$0.0000001"),  # under a micro-dollar: every digit, not "$0."
        (100_000, "$0.0000001"),
        (Decimal("-0.0000002"), "$-0.0000002"),
    ],
)
def test_format_usd(value: Decimal | int, text: str) -> None:
    """Two places, more for an amount under a cent, and never a bare ``$0.``."""
    assert format_usd(value) == text


def test_format_usd_places() -> None:
    """``places`` sets both the places shown and what counts as tiny."""
    assert format_usd(Decimal("0.004"), places=3) == "$0.004"
    assert format_usd(Decimal("0.0004"), places=3) == "$0.0004"
    assert format_usd(Decimal("12.5"), places=0) == "$12"  # half to even
    assert format_usd(Decimal("0.0000001"), places=7) == "$0.0000001"
