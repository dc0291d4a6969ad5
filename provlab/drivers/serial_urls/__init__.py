"""pyserial URL handlers provlab puts in front of pyserial's own while it runs a tool on a port.

pyserial resolves `scheme://…` to `<package>.protocol_<scheme>.Serial` for each package in
`serial.protocol_handler_packages`, in order. `preferred()` puts this package first for the duration of a
`with` block, so a library that opens the port itself (esptool) gets provlab's variant of a handler.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import serial

_LOCK = threading.Lock()


@contextlib.contextmanager
def preferred() -> Iterator[None]:
    """URLs opened inside the block resolve to this package's handlers first (pyserial's otherwise)."""
    with _LOCK:
        serial.protocol_handler_packages.insert(0, __name__)
    try:
        yield
    finally:
        with _LOCK, contextlib.suppress(ValueError):
            serial.protocol_handler_packages.remove(__name__)
