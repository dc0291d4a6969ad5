"""Serial port discovery: which ports look like ESP boards (USB bridge VID:PID) and, when probed, what answers.

`find_ports()` reads pyserial's `serial.tools.list_ports` and recognises the USB-serial bridges ESP boards
carry. `probe()` opens one port (taking its lock, releasing DTR/RTS the safe way so an auto-reset circuit
does not reset the chip) and asks the Edgent console for `devinfo` and `wifi show` (MAC, link).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from serial.tools import list_ports

from provlab.drivers.device_info import DeviceInfo
from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.serial_errors import PortBusy, PortUnavailable, SerialBoardError
from provlab.protocol.console import DevInfo, WifiShow

KNOWN_BRIDGES: dict[tuple[int, int], str] = {
    (0x10C4, 0xEA60): "Silicon Labs CP210x",
    (0x1A86, 0x7523): "WCH CH340",
    (0x1A86, 0x55D4): "WCH CH9102 (CH34x family)",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6015): "FTDI FT-X (FT231X)",
    (0x303A, 0x1001): "Espressif USB-Serial/JTAG (native USB)",
}
"""USB-serial bridges found on ESP32/ESP8266 boards, by (VID, PID)."""


def comports() -> list[Any]:
    """pyserial's port list (tests replace this with port-info objects of their own)."""
    return list(list_ports.comports())


@dataclass(frozen=True)
class SerialPortInfo:
    """One serial port as the host enumerates it."""

    device: str
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    location: str | None = None
    """USB location, e.g. `1-1.4:1.0` (bus-port path: stable while the board stays in that socket)."""
    description: str = ""
    manufacturer: str | None = None
    product: str | None = None

    @property
    def vid_pid(self) -> str:
        if self.vid is None or self.pid is None:
            return ""
        return f"{self.vid:04X}:{self.pid:04X}"

    @property
    def bridge(self) -> str | None:
        """The recognised ESP USB bridge, or None."""
        if self.vid is None or self.pid is None:
            return None
        return KNOWN_BRIDGES.get((self.vid, self.pid))

    @classmethod
    def from_pyserial(cls, info: Any) -> SerialPortInfo:
        """From a `serial.tools.list_ports_common.ListPortInfo` (or anything with its attributes)."""
        return cls(
            device=str(info.device),
            vid=getattr(info, "vid", None),
            pid=getattr(info, "pid", None),
            serial_number=getattr(info, "serial_number", None),
            location=getattr(info, "location", None),
            description=str(getattr(info, "description", "") or ""),
            manufacturer=getattr(info, "manufacturer", None),
            product=getattr(info, "product", None),
        )


def find_ports(*, include_all: bool = False, source: Callable[[], Iterable[Any]] | None = None) -> list[SerialPortInfo]:
    """Ports with a known ESP bridge (every port with `include_all`), sorted by device."""
    ports = [SerialPortInfo.from_pyserial(info) for info in (source or comports)()]
    if not include_all:
        ports = [port for port in ports if port.bridge is not None]
    return sorted(ports, key=lambda port: port.device)


NO_IP = "0.0.0.0"


@dataclass(frozen=True)
class ProbeResult:
    """What answered on a port: its `devinfo` (and `wifi show`, and what its log said while probed), or why
    nothing did."""

    device: str
    devinfo: DevInfo | None = None
    error: str | None = None
    busy: bool = False
    mac: str | None = None
    """The station MAC from `wifi show`."""
    state: str | None = None
    """The Edgent state the log announced while probing (`INIT => WAIT_CONFIG`), else what `wifi show` tells:
    `on Wi-Fi <ssid>` or `off Wi-Fi` (config mode or still connecting). None: nothing said it."""
    info: DeviceInfo | None = None
    """Banner and devinfo facts merged (the banner only when the board booted while probed)."""

    @property
    def firmware(self) -> str | None:
        """`fw_type fw_ver` from devinfo, else the banner's version."""
        if self.devinfo is not None:
            return f"{self.devinfo.fw_type} {self.devinfo.fw_ver}"
        return self.info.fw_ver if self.info is not None else None


def probe(device: str, *, timeout: float = 3.0, baudrate: int = 115200) -> ProbeResult:
    """Ask the board on `device` for `devinfo` and `wifi show` (timeout in seconds; real boards run at scale 1)."""
    try:
        board = SerialBoard(device, name=device, baudrate=baudrate, dtr=False, rts=False, reconnect=False)
    except PortBusy as exc:
        return ProbeResult(device, error=str(exc).split("; lock file")[0], busy=True)
    except PortUnavailable as exc:
        return ProbeResult(device, error=f"cannot open: {exc.__cause__ or exc}")
    try:
        devinfo = board.console("devinfo", timeout=timeout)
    except AssertionError:
        board.close()
        return ProbeResult(device, error=f"no devinfo reply within {timeout:g} s (not an Edgent console?)")
    except SerialBoardError as exc:
        board.close()
        return ProbeResult(device, error=str(exc))
    try:
        wifi = _wifi_show(board, timeout)
        seen = board.stream.state
        state = seen.name if seen is not None else _link_state(wifi)
        mac = wifi.mac if wifi else None
        return ProbeResult(device, devinfo=devinfo, mac=mac, state=state, info=board.stream.info)
    finally:
        board.close()


def _wifi_show(board: SerialBoard, timeout: float) -> WifiShow | None:
    """`wifi show`'s reply (spec §5.5), or None when the firmware has no such command or does not answer."""
    try:
        return board.command("wifi show", timeout=timeout).wifi_show()
    except (AssertionError, SerialBoardError):
        return None


def _link_state(wifi: WifiShow | None) -> str | None:
    if wifi is None:
        return None
    if wifi.ip == NO_IP:
        return "off Wi-Fi (config mode or connecting)"
    return f"on Wi-Fi {wifi.ssid} ({wifi.ip})"
