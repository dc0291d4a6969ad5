"""Numbers as the wire writes them: plain ASCII decimal, nothing Python's `int()` would also accept.

`int()` takes `+1`, ` 1`, `1_0`, Arabic-Indic digits and 4,000-digit numbers; `str.isdigit()` says yes to `²`
(which `int()` then refuses). A pin number, an id or a count on the wire is none of those.
"""

from __future__ import annotations

MAX_VALUE = 2**63 - 1  # SQLite's largest integer; nothing larger is a pin, an id or a count here


def ascii_decimal(text: str, *, max_value: int = MAX_VALUE) -> int | None:
    """`text` as an int in 0..`max_value` when it is ASCII digits and nothing else; else None."""
    if not text or len(text) > 19 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= max_value else None
