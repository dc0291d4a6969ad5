"""Numbers on the wire are plain ASCII decimal below 2^63, whatever Python's int() would also take."""

from __future__ import annotations

import pytest

from provlab.protocol.numbers import ascii_decimal


@pytest.mark.parametrize("text", ["0", "7", "007", "255", str(2**63 - 1)])
def test_plain_ascii_digits_are_numbers(text: str) -> None:
    assert ascii_decimal(text) == int(text)


@pytest.mark.parametrize(
    "text", ["", "²", "V²", "١٢", "\uff11", "+1", "-1", " 1", "1 ", "1_0", "1.0", "1e3", "0x1", str(2**63), "9" * 40]
)
def test_anything_else_is_not(text: str) -> None:
    assert ascii_decimal(text) is None


def test_a_smaller_ceiling() -> None:
    assert ascii_decimal("256", max_value=255) is None and ascii_decimal("255", max_value=255) == 255
