"""pyserial ports as the serial driver uses them: open any URL, read what is there, set DTR/RTS safely."""

from __future__ import annotations

import contextlib
import fcntl
import struct
import termios

import serial
from serial.urlhandler.protocol_socket import Serial as SocketSerial

from provlab.drivers.serial_errors import PortUnavailable

READ_TIMEOUT_S = 0.05
WRITE_TIMEOUT_S = 5.0
"""A write that cannot leave in this long (wall seconds: a stuck port, a peer that stopped reading) fails."""
MAX_CHUNK = 65536


def read_available(port: serial.Serial) -> bytes:
    """Whatever the port has now, else wait up to its timeout for the first byte."""
    waiting = port.in_waiting
    if waiting > 1:
        return bytes(port.read(min(waiting, MAX_CHUNK)))
    data = bytes(port.read(1))
    if not data:
        return data
    if isinstance(port, SocketSerial):  # its in_waiting says only "something": read what is there, no wait
        port.timeout = 0
        try:
            return data + bytes(port.read(MAX_CHUNK))
        finally:
            port.timeout = READ_TIMEOUT_S
    waiting = port.in_waiting
    return data + bytes(port.read(min(waiting, MAX_CHUNK))) if waiting else data


def apply_modem_lines(port: serial.Serial, dtr: bool | None, rts: bool | None) -> None:
    """Set DTR/RTS on a just-opened port without a reset blip on ESP auto-reset circuits.

    Opening asserts both (the chip runs). Releasing DTR first would pass through RTS-only, which holds EN low:
    so a local tty changes both in one ioctl, and elsewhere (RFC 2217) RTS goes before DTR. A port without
    modem lines (a pty, a raw socket) is left as it is.
    """
    fd = getattr(port, "fd", None)
    if dtr is not None and rts is not None and isinstance(fd, int):
        set_bits = (termios.TIOCM_DTR if dtr else 0) | (termios.TIOCM_RTS if rts else 0)
        clear_bits = (termios.TIOCM_DTR | termios.TIOCM_RTS) & ~set_bits
        try:
            for request, bits in ((termios.TIOCMBIS, set_bits), (termios.TIOCMBIC, clear_bits)):
                if bits:
                    fcntl.ioctl(fd, request, struct.pack("I", bits))
        except OSError:
            return  # no modem lines here (a pty)
        port._dtr_state, port._rts_state = dtr, rts  # type: ignore[attr-defined]  # keep pyserial's view in step
        return
    with contextlib.suppress(OSError, ValueError, serial.SerialException):
        if rts is not None:
            port.rts = rts
        if dtr is not None:
            port.dtr = dtr


def open_port(url: str, *, baudrate: int, name: str, dtr: bool | None = None, rts: bool | None = None) -> serial.Serial:
    """Open `url` (any pyserial URL) for reading with a short timeout; DTR/RTS as asked (None: as opened)."""
    try:
        port = serial.serial_for_url(url, do_not_open=True, baudrate=baudrate, timeout=READ_TIMEOUT_S)
        if not url.lower().startswith("rfc2217://"):  # pyserial's RFC 2217 client refuses write timeouts
            port.write_timeout = WRITE_TIMEOUT_S
        port.open()
    except (serial.SerialException, OSError, ValueError) as exc:
        raise PortUnavailable(
            f"{name}: cannot open {url}: {exc}. Is the board plugged in (or the remote port server running), "
            "and may this user open it (group dialout)?"
        ) from exc
    apply_modem_lines(port, dtr, rts)
    return port
