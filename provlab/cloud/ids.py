"""Ids in paths and bodies: plain ASCII decimal only (issue 13, point 4).

`int()` also takes `+1`, ` 1 `, `1_0`, Arabic-Indic digits and floats (`1.9` -> 1, `1e999` -> overflow),
and SQLite cannot hold 2^63 or more; each of those could name another object or crash a handler. An id
is a JSON integer (not a bool) or a string of 1..19 ASCII digits, in 0..2^63-1; anything else is 400.
"""

from __future__ import annotations

from typing import Any

from provlab.cloud.tenancy import TenancyError
from provlab.protocol.numbers import MAX_VALUE, ascii_decimal

MAX_ID = MAX_VALUE


class BadId(TenancyError):
    """400: a value that is not a plain ASCII decimal id."""

    def __init__(self, name: str, value: Any) -> None:
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        super().__init__(400, f"{name} must be a plain decimal integer id (0..{MAX_ID}), got {shown}")


def parse_id(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise BadId(name, value)
    number = value if isinstance(value, int) else ascii_decimal(value) if isinstance(value, str) else None
    if number is None or not 0 <= number <= MAX_ID:
        raise BadId(name, value)
    return number
