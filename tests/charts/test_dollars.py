"""Dollars on charts: compact on axes, to the cent (or two significant digits) on bars."""

from __future__ import annotations

from decimal import Decimal

import pytest

from costcap.charts._dollars import axis_dollars, label_dollars


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "$0"),
        (0.005, "$0.005"),
        (0.03, "$0.03"),
        (0.00001, "$0.00001"),  # never 1e-05
        (1.5, "$1.5"),
        (250, "$250"),
        (1200, "$1.2k"),
        (17500, "$17.5k"),
        (3_400_000, "$3.4M"),
        (2e9, "$2B"),
        (-1200, "-$1.2k"),
    ],
)
def test_axis_ticks_are_compact(value: float, text: str) -> None:
    assert axis_dollars(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("0", "$0"),
        ("0.01", "$0.01"),
        ("0.197", "$0.20"),
        ("1234.567", "$1,234.57"),
        ("0.0042", "$0.0042"),
        ("0.004249", "$0.0042"),  # two significant digits below a cent
    ],
)
def test_bar_labels_show_cents(value: str, text: str) -> None:
    assert label_dollars(Decimal(value)) == text
