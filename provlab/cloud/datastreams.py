"""Datastreams of a template: finding one by pin, name or id, checking and typing its values.

An *open* template (one that declares no datastreams) has a String datastream for every virtual pin:
id `n`, pin `v<n>`, name `V<n>`, for n in 0..255.
"""

from __future__ import annotations

import math

from provlab.cloud.records import Datastream, DataType, Template
from provlab.protocol.numbers import ascii_decimal

OPEN_PINS = 256  # V0..V255: the virtual pins of the C++ library


def pin_key(text: str) -> str | None:
    """`v1` for `V1`/`v1` (a virtual pin the HTTP API names), None when it is not one."""
    number = ascii_decimal(text[1:]) if text[:1] in ("v", "V") else None
    return f"v{number}" if number is not None and number < OPEN_PINS else None


_OPEN = tuple(Datastream(n, f"v{n}", f"V{n}", DataType.STRING) for n in range(OPEN_PINS))
_OPEN_BY_NAME = {d.name: d for d in _OPEN}  # the hot path of device writes: `ds/V1` names V1 exactly


def _open(number: int) -> Datastream:
    return _OPEN[number]


def by_pin(template: Template, pin: str) -> Datastream | None:
    """The datastream on pin `v<n>`."""
    if not template.datastreams:
        key = pin_key(pin)
        return _open(int(key[1:])) if key else None
    return next((d for d in template.datastreams if d.pin == pin), None)


def by_name(template: Template, name: str) -> Datastream | None:
    if not template.datastreams:
        exact = _OPEN_BY_NAME.get(name)
        if exact is not None:
            return exact
        key = pin_key(name) if name[:1] == "V" else None
        return _open(int(key[1:])) if key else None
    return next((d for d in template.datastreams if d.name == name), None)


def by_id(template: Template, datastream_id: int) -> Datastream | None:
    if not template.datastreams:
        return _open(datastream_id) if 0 <= datastream_id < OPEN_PINS else None
    return next((d for d in template.datastreams if d.id == datastream_id), None)


def value_fits(datastream: Datastream, value: str) -> bool:
    """True when `value` (text as it arrives) matches the datastream's type."""
    if datastream.data_type is DataType.STRING:
        return True
    try:
        if datastream.data_type is DataType.INTEGER:
            int(value.strip())
        else:
            return math.isfinite(float(value.strip()))
    except ValueError:
        return False
    return True


def typed(datastream: Datastream, stored: str) -> int | float | str | list[int | float | str]:
    """A stored value (several values joined by NUL) as JSON wants it for `getAll`."""
    parts = stored.split("\0")
    values = [_typed_one(datastream.data_type, p) for p in parts]
    return values[0] if len(values) == 1 else values


def _typed_one(data_type: DataType, text: str) -> int | float | str:
    try:
        if data_type is DataType.INTEGER:
            return int(text.strip())
        if data_type is DataType.DOUBLE:
            return float(text.strip())
    except ValueError:
        pass
    return text
