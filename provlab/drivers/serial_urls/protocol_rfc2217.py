"""`rfc2217://` with line settings negotiated only when they change.

pyserial's RFC 2217 client renegotiates baud rate, data size, parity and stop bits (waiting for the server to
acknowledge each, in 50 ms steps) on every `_reconfigure_port()`, which its base class calls whenever a
*timeout* is set. A timeout is a client-side matter the server never sees; esptool sets one before most
commands, so writing a few kilobytes to a board behind an RFC 2217 server took ~20 s, nearly all of it
renegotiation. This client negotiates when a setting the server applies changed, as the protocol intends.
"""

from __future__ import annotations

from serial import rfc2217


class Serial(rfc2217.Serial):
    """pyserial's RFC 2217 port, renegotiating the line only when a line setting changed."""

    _negotiated: tuple[object, ...] | None = None

    def open(self) -> None:
        self._negotiated = None
        super().open()

    def _line_settings(self) -> tuple[object, ...]:
        return (self.baudrate, self.bytesize, self.parity, self.stopbits, self.rtscts, self.xonxoff)

    def _reconfigure_port(self) -> None:
        wanted = self._line_settings()
        if self.is_open and wanted == self._negotiated and self.write_timeout is None:
            return  # only a timeout changed: nothing for the server to apply
        rfc2217.Serial._reconfigure_port(self)  # type: ignore[attr-defined]
        self._negotiated = wanted
