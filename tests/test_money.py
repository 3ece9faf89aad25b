"""Money helpers: the integer rendering of a picodollar amount agrees with ``decimal``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from costcap.money import usd_from_pico, usd_text

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
