"""Numbers as the wire writes them: plain ASCII decimal, nothing Python's `int()` would also accept.

`int()` takes `+1`, ` 1`, `1_0`, Arabic-Indic digits and 4,000-digit numbers; `str.isdigit()` says yes to `²`
(which `int()` then refuses). A pin number, an id or a count on the wire is none of those.
"""

from __future__ import annotations

MAX_DIGITS = 19  # 2^63 - 1 has 19 digits; longer text is never a pin, an id or a count here


def ascii_decimal(text: str, *, max_digits: int = MAX_DIGITS) -> int | None:
    """`text` as a non-negative int when it is 1..`max_digits` ASCII digits and nothing else; else None."""
    if not text or len(text) > max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)
