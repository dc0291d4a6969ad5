"""Blynk.NCP: the UART RPC between a host MCU and its network co-processor, and what the host sketch prints.

Sources (read, not copied):
* `Blynk-Technologies/Blynk-NCP-Driver@640e027`: `docs/NCP Protocol Specification.md` (message and frame
  layout, CRC, golden frames), `src/BlynkRpc.h` (op codes, status codes, RPC UIDs, `RpcBlynkState`,
  `RpcEvent`), `src/MessageWriter.c` (argument encoding), `BlynkNCP.jidl` (signatures and timeouts).
* `blynkkk/blynk-library@7fab3bc`: `src/BlynkEdgentNCP.h` (the host side of the Arduino integration: baud
  negotiation, log lines, state strings, banner) and `examples/Blynk.Edgent/Edgent_NCP/Edgent_NCP.ino` (the
  Arduino example sketch's own lines), `src/BlynkApiArduino.h` (the `ncp` key of the info message).

Pure and I/O-free, like the rest of `provlab.protocol`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from provlab.protocol.internal import render_info
from provlab.protocol.states import EdgentState

# --- UART framing (spec doc "UART transport layer") ------------------------------------------------------

BEG = 0xAA
END = 0xBB
ESC = 0xCC
XON = 0x11
XOFF = 0x13
RESERVED = frozenset({BEG, END, ESC, XON, XOFF})
"""Bytes sent as `ESC, byte ^ 0xFF` inside a frame."""
MAX_PAYLOAD = 1536
"""The raw payload both ends must accept and must not exceed."""


def crc8(data: bytes) -> int:
    """CRC-8-CCITT (polynomial 0x07, initial 0, no reflection) of the raw payload."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _escape(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte in RESERVED:
            out += bytes((ESC, byte ^ 0xFF))
        else:
            out.append(byte)
    return bytes(out)


def frame(payload: bytes) -> bytes:
    """`BEG <escaped payload> <escaped CRC> END`."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"NCP payload of {len(payload)} bytes; at most {MAX_PAYLOAD} may be sent")
    return bytes((BEG,)) + _escape(payload + bytes((crc8(payload),))) + bytes((END,))


class FrameDecoder:
    """Incremental receiver: bytes in, good payloads out. Data outside BEG..END is line garbage (boot messages)
    and is dropped; a frame with a bad CRC or escape is dropped; a BEG inside a frame starts a new one."""

    def __init__(self) -> None:
        self._buffer: bytearray | None = None
        self._escaped = False
        self.dropped = 0
        """Frames thrown away (CRC mismatch, bad escape, too long)."""

    def feed(self, data: bytes) -> list[bytes]:
        payloads: list[bytes] = []
        for byte in data:
            if byte == BEG:
                if self._buffer is not None:
                    self.dropped += 1
                self._buffer, self._escaped = bytearray(), False
            elif self._buffer is None:
                continue
            elif byte == END:
                body, self._buffer = self._buffer, None
                if self._escaped or len(body) < 2 or crc8(bytes(body[:-1])) != body[-1]:
                    self.dropped += 1
                else:
                    payloads.append(bytes(body[:-1]))
            elif self._escaped:
                restored = byte ^ 0xFF
                if restored not in RESERVED:
                    self.dropped += 1
                    self._buffer = None
                    continue
                self._buffer.append(restored)
                self._escaped = False
            elif byte == ESC:
                self._escaped = True
            elif byte in (XON, XOFF):
                continue  # flow control, never data
            else:
                self._buffer.append(byte)
            if self._buffer is not None and len(self._buffer) > MAX_PAYLOAD + 1:
                self.dropped += 1
                self._buffer = None
        return payloads


# --- messages (spec doc "Message format", `src/BlynkRpc.h`) ----------------------------------------------


class Op(IntEnum):
    """`RpcOpType`: the first little-endian uint16 of every message."""

    INVOKE = 0x67BC
    RESULT = 0xA512
    ONEWAY = 0x1CF3


class Status(IntEnum):
    """`RpcStatus` of a RESULT."""

    OK = 0x00
    ERROR_GENERIC = 0x10
    ERROR_TIMEOUT = 0x11
    ERROR_MEMORY = 0x12
    ERROR_UID = 0x13
    ERROR_ARGS_W = 0x14
    ERROR_ARGS_R = 0x15
    ERROR_RETS_W = 0x16
    ERROR_RETS_R = 0x17


class Uid(IntEnum):
    """The `RpcUID`s the Arduino host integration calls or serves (`src/BlynkRpc.h`)."""

    NCP_PING = 0x0101
    NCP_REBOOT = 0x0102
    MCU_PING = 0x0181
    MCU_REBOOT = 0x0182
    HW_SET_UART_BAUD_RATE = 0x0201
    HW_INIT_USER_BUTTON = 0x0211
    HW_INIT_LED = 0x0221
    HW_INIT_RGB = 0x0222
    HW_SET_LED_BRIGHTNESS = 0x0224
    HW_GET_WIFI_MAC = 0x0231
    BLYNK_INITIALIZE = 0x0301
    BLYNK_SET_VENDOR_PREFIX = 0x0302
    BLYNK_SET_VENDOR_SERVER = 0x0303
    BLYNK_SET_FIRMWARE_INFO = 0x0304
    BLYNK_GET_NCP_VERSION = 0x0305
    BLYNK_GET_STATE = 0x0306
    BLYNK_GET_HOTSPOT_NAME = 0x0307
    BLYNK_VIRTUAL_WRITE = 0x0311
    BLYNK_CONFIG_START = 0x0321
    BLYNK_CONFIG_STOP = 0x0322
    BLYNK_CONFIG_RESET = 0x0323
    BLYNK_IS_CONFIGURED = 0x0324
    BLYNK_SET_CONFIG_TIMEOUT = 0x0325
    BLYNK_SET_CONFIG_SKIP_LIMIT = 0x0326
    CLIENT_BLYNK_STATE_CHANGE = 0x0411
    CLIENT_BLYNK_VPIN_CHANGE = 0x0412
    CLIENT_PROCESS_EVENT = 0x0421


PING_TIMEOUT_MS = 100  # `ncp.ping` "@timeout": 100 (BlynkNCP.jidl)
RPC_TIMEOUT_DEFAULT_MS = 1000  # RPC_TIMEOUT_DEFAULT (src/BlynkRpcConfig.h)
INITIALIZE_TIMEOUT_MS = 5000  # `blynk.initialize` "@timeout": 5000


class BlynkState(IntEnum):
    """`RpcBlynkState`: the NCP's connection state, as `getState` returns and `blynkStateChange` reports."""

    UNKNOWN = 0
    IDLE = 1
    CONFIG = 2
    CONNECTING_NET = 3
    CONNECTING_CLOUD = 4
    CONNECTED = 5
    NOT_INITIALIZED = 10
    OTA_UPGRADE = 11
    ERROR = 12

    @property
    def text(self) -> str:
        """`BlynkNcpClient::getStateString()` (`src/BlynkEdgentNCP.h`)."""
        return _STATE_TEXT.get(self, "Unknown")


_STATE_TEXT = {
    BlynkState.IDLE: "Idle",
    BlynkState.CONFIG: "Configuration",
    BlynkState.CONNECTING_NET: "Connecting Network",
    BlynkState.CONNECTING_CLOUD: "Connecting Cloud",
    BlynkState.CONNECTED: "Connected",
    BlynkState.NOT_INITIALIZED: "Not Initialized",
    BlynkState.OTA_UPGRADE: "NCP Upgrade",
    BlynkState.ERROR: "Error",
}


STATE_BY_TEXT: dict[str, BlynkState] = {state.text: state for state in BlynkState if state.text != "Unknown"}
"""The NCP state a host line `State: <text>` names."""

EDGENT_STATE: dict[BlynkState, EdgentState] = {
    BlynkState.NOT_INITIALIZED: EdgentState.INIT,
    BlynkState.CONFIG: EdgentState.WAIT_CONFIG,
    BlynkState.CONNECTING_NET: EdgentState.CONNECTING_NET,
    BlynkState.CONNECTING_CLOUD: EdgentState.CONNECTING_CLOUD,
    BlynkState.CONNECTED: EdgentState.RUNNING,
    BlynkState.OTA_UPGRADE: EdgentState.OTA_UPGRADE,
    BlynkState.ERROR: EdgentState.ERROR,
}
"""The legacy Edgent state a scenario names for each NCP state (the lab's one vocabulary of states). IDLE (the
NCP skipped configuration too often and waits) has no legacy counterpart."""


class Event(IntEnum):
    """`RpcEvent`s the NCP sends with `client.processEvent`."""

    NCP_REBOOTING = 1
    BLYNK_PROVISIONED = 20


def u8(value: int) -> bytes:
    return struct.pack("<B", value)


def u16(value: int) -> bytes:
    return struct.pack("<H", value)


def u32(value: int) -> bytes:
    return struct.pack("<I", value)


def boolean(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


def c_string(text: str) -> bytes:
    """`MessageWriter_writeString`: the bytes and their NUL."""
    return text.encode("utf-8") + b"\0"


def binary(data: bytes) -> bytes:
    """`MessageWriter_writeBinary`: uint16 length, then the bytes."""
    return u16(len(data)) + data


def invoke(uid: int, seq: int, args: bytes = b"") -> bytes:
    return u16(Op.INVOKE) + u16(uid) + u16(seq) + args


def oneway(uid: int, args: bytes = b"") -> bytes:
    return u16(Op.ONEWAY) + u16(uid) + args


def result(seq: int, status: int = Status.OK, rets: bytes = b"") -> bytes:
    return u16(Op.RESULT) + u16(seq) + u8(status) + rets


class MessageError(ValueError):
    """A payload too short for its op, or with an op nobody defined."""


@dataclass(frozen=True)
class Message:
    """One decoded payload: INVOKE (uid, seq), ONEWAY (uid) or RESULT (seq, status); `body` = args or rets."""

    op: Op
    body: bytes
    uid: int | None = None
    seq: int | None = None
    status: int | None = None


def parse_message(payload: bytes) -> Message:
    if len(payload) < 2:
        raise MessageError(f"NCP message of {len(payload)} bytes; an op code needs 2")
    (code,) = struct.unpack_from("<H", payload)
    try:
        op = Op(code)
    except ValueError:
        raise MessageError(f"unknown NCP op 0x{code:04X} (peers ignore it)") from None
    need = {Op.INVOKE: 6, Op.ONEWAY: 4, Op.RESULT: 5}[op]
    if len(payload) < need:
        raise MessageError(f"NCP {op.name} of {len(payload)} bytes; its header needs {need}")
    if op is Op.INVOKE:
        uid, seq = struct.unpack_from("<HH", payload, 2)
        return Message(op, payload[6:], uid=uid, seq=seq)
    if op is Op.ONEWAY:
        (uid,) = struct.unpack_from("<H", payload, 2)
        return Message(op, payload[4:], uid=uid)
    seq, status = struct.unpack_from("<HB", payload, 2)
    return Message(op, payload[5:], seq=seq, status=status)


class Reader:
    """`MessageBuffer_read*`: arguments or returns in order; MessageError when they run out."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def _take(self, size: int) -> bytes:
        if self._at + size > len(self._data):
            raise MessageError(f"NCP message ends at {len(self._data)} bytes; {size} more were expected")
        chunk = self._data[self._at : self._at + size]
        self._at += size
        return chunk

    def u8(self) -> int:
        return self._take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack("<H", self._take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack("<I", self._take(4))[0])

    def boolean(self) -> bool:
        return self.u8() != 0

    def string(self) -> str:
        end = self._data.find(b"\0", self._at)
        if end < 0:
            raise MessageError("NCP string without its NUL")
        text = self._data[self._at : end].decode("utf-8", "replace")
        self._at = end + 1
        return text

    def binary(self) -> bytes:
        return self._take(self.u16())

    @property
    def remaining(self) -> int:
        return len(self._data) - self._at


# --- the host sketch's serial output (`src/BlynkEdgentNCP.h`, `Edgent_NCP.ino`) ---------------------------

INITIAL_BAUDS = (38400, 115200)
"""`ncpConnect()` tries these, then the target baud (BlynkEdgentNCP.h:223)."""
SAMD_NINA_BAUD = 2_000_000
"""`BLYNK_NCP_BAUD` on the Nano 33 IoT / MKR WiFi 1010 (no BLYNK_NCP_SERIAL: the `#else` default)."""
INIT_NCP_TIMEOUT_MS = 10_000  # `initNCP(uint32_t timeout = 10000)`
INIT_RETRY_DELAY_MS = 100  # `delay(100)` between `ncpConnect()` rounds
BAUD_SWITCH_DELAY_MS = 20  # `delay(20)` after `SerialNCP.begin(targetBaud)`
IDLE_CHECK_MS = 30_000  # `rpc_get_last_rx() > 30000` in `run()`: then `getState` each pass
PING_FAILS_BEFORE_REINIT = 10  # `++_pingFails >= 10` in `run()`
LOOP_DELAY_MS = 1  # Edgent_NCP.ino loop(): `delay(1)`
PUBLISH_INTERVAL_MS = 10_000  # Edgent_NCP.ino: `timer.setInterval(10000, …virtualWrite(V0, millis() / 1000))`
SERIAL_MONITOR_DELAY_MS = 3000  # Edgent_NCP.ino: "Give Serial Monitor some time to connect"
SKETCH_CONFIG_TIMEOUT_S = 30 * 60  # Edgent_NCP.ino: `Blynk.setConfigTimeout(30 * 60)`
LOG_BUFFER = 128
"""`blynk_dbg_print` formats into `char buff[128]`: a `BLYNK_LOG(fmt, ...)` line keeps at most 127 bytes."""

CANNOT_COMMUNICATE = (
    "Cannot communicate to Blynk.NCP",
    "  Please ensure you have flashed your board with the Blynk.NCP firmware, before running this example.",
    "  See: https://github.com/Blynk-Technologies/Blynk-NCP-Example-Arduino",
)
"""What Edgent_NCP.ino logs when `initNCP()` fails (lines 66-68), after which `setup()` returns."""
CONNECTED = "Connected to Blynk 🙌"  # BLYNK_CONNECTED() in Edgent_NCP.ino
DISCONNECTED = "Blynk disconnected"  # BLYNK_DISCONNECTED()
REINITIALIZING = "Reinitializing NCP..."
INVALID_TEMPLATE = "Invalid configuration of TEMPLATE_ID / TEMPLATE_NAME"


def clip_log(text: str) -> str:
    """What `BLYNK_LOG` (vsnprintf into 128 bytes) keeps of a formatted line."""
    raw = text.encode("utf-8")
    return raw[: LOG_BUFFER - 1].decode("utf-8", "ignore") if len(raw) >= LOG_BUFFER else text


def main_firmware_line(version: str) -> str:
    return clip_log(f"Main firmware: {version}")


def build_line(build: str) -> str:
    return clip_log(f"Build: {build}")


def ncp_responding_line(baud: int, micros: int) -> str:
    """`NCP responding (baud %ld, %u us)`: one per successful ping during the baud negotiation."""
    return f"NCP responding (baud {baud}, {micros} us)"


def ncp_not_responding_line(baud: int) -> str:
    return f"NCP not responding (baud: {baud})"


def ncp_firmware_line(version: str) -> str:
    return clip_log(f"Blynk.NCP firmware: {version}")


def state_line(state: BlynkState) -> str:
    """Edgent_NCP.ino's `onStateChange` callback: `State: <getStateString()>`."""
    return f"State: {state.text}"


# --- the NCP's own cloud side -----------------------------------------------------------------------------

NCP_INFO_KEYS: tuple[str, ...] = ("ncp", "fw-type", "build", "blynk", "h-beat", "buff-in", "dev", "tmpl")
"""`BlynkApi::sendInfo()` compiled with `BLYNK_NCP_VERSION` (src/BlynkApiArduino.h:24-25): `ncp` in place of
`mcu`, the rest as on an ESP32 (no cpu, no con)."""


def ncp_info(
    ncp_version: str,
    fw_type: str,
    build: str,
    blynk_version: str,
    heartbeat: int,
    buff_in: int,
    dev: str,
    *,
    tmpl: str,
) -> bytes:
    values = (ncp_version, fw_type, build, blynk_version, str(heartbeat), str(buff_in), dev, tmpl)
    return render_info(list(zip(NCP_INFO_KEYS, values, strict=True)))


def join_frames(payloads: Iterable[bytes]) -> bytes:
    """The bytes on the wire for several messages in a row."""
    return b"".join(frame(p) for p in payloads)
