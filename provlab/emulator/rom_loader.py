"""The ESP32 ROM serial bootloader ("download mode"), the way esptool talks to it.

A chip that leaves reset with IO0 low runs this instead of the app: it prints its boot text (`waiting for
download`) and answers SLIP-framed commands: SYNC, READ_REG/WRITE_REG (chip detection, eFuses, the UART
divider, the SPI registers esptool pokes), SPI_ATTACH, SPI_SET_PARAMS, FLASH_BEGIN/DATA/END, the compressed
FLASH_DEFL_BEGIN/DATA/END, SPI_FLASH_MD5 and CHANGE_BAUDRATE. The flasher stub (MEM_BEGIN/DATA/END and
`OHAI`) is not emulated: provlab runs esptool with `--no-stub`, which the ESP32 ROM supports fully.

Writes land in a sparse copy of the SPI flash kept for the session; once a write at the app partition
(0x10000) is complete and holds a valid app image, the image is installed as the board's app
(`Flash.write_app`), which the firmware boots from the next reset on. An erase that reaches the NVS partition
(0x9000, 0x5000 bytes) erases the board's stored configuration (`Flash.erase`): esptool's `erase-region`, which
the ESP32 ROM does through FLASH_BEGIN's erase, or any write over that partition. `erase-flash` (ERASE_FLASH,
0xD0) and the stub's ERASE_REGION (0xD1) are flasher-stub commands the ROM refuses, as esptool knows.

Packets (esptool's `command()`): request `00 op len:u16 chk:u32 data`, response `01 op len:u16 val:u32 data`
where the ESP32 ROM's data ends with four status bytes (status, error, 0, 0).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Callable
from enum import IntEnum

from provlab.protocol import choices
from provlab.protocol.firmware_image import APP_OFFSET, NVS_OFFSET, NVS_SIZE, image_length

ROM_DOWNLOAD_BOOT = (
    b"ets Jun  8 2016 00:22:57\r\n\r\n"
    b"rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\n"
    b"waiting for download\r\n"
)
"""What an ESP32 prints on UART0 when it comes out of reset into the serial downloader."""

POWERON_RESET = "0x1 (POWERON_RESET)"  # power-up, and the EN pin (the board's RESET button, esptool's RTS)
SW_CPU_RESET = "0xc (SW_CPU_RESET)"  # `ESP.restart()`


def esp32_app_boot_text(reset_cause: str) -> bytes:
    """What the ESP32 ROM and the second-stage bootloader print before the app starts (IO0 high): the ROM's
    date line, the reset cause, the SPI flash setup and the bootloader's segment loads. The load lengths and
    the entry point are those of an arduino-esp32 2.0.x bootloader (`choices.ROM_BOOT_TEXT`)."""
    return (
        b"ets Jun  8 2016 00:22:57\r\n\r\n"
        + f"rst:{reset_cause},boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n".encode()
        + b"configsip: 0, SPIWP:0xee\r\n"
        b"clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n"
        b"mode:DIO, clock div:1\r\n"
        + "".join(f"load:0x{address:08x},len:{length}\r\n" for address, length in choices.ROM_BOOT_LOADS).encode()
        + f"entry 0x{choices.ROM_BOOT_ENTRY:08x}\r\n".encode()
    )


CHIP_DETECT_MAGIC_REG = 0x40001000
ESP32_MAGIC = 0x00F01D83
EFUSE_BASE = 0x3FF5A000
UART_CLKDIV_REG = 0x3FF40014
APB_HZ = 40_000_000  # a 40 MHz crystal, as esptool estimates it from the UART divider
SPI_CMD_REG = 0x3FF42000  # SPI1: a USR command runs when its bit is set; esptool polls until it clears
SPI_USR2_REG = SPI_CMD_REG + 0x24  # the command's opcode in the low bits
SPI_W0_REG = SPI_CMD_REG + 0x80  # what the flash answered
SPI_FLASH_ANSWERS = {
    0x9F: 0x1640EF,  # RDID: JEDEC id of a 4 MB Winbond W25Q32 (manufacturer 0xEF, device 0x4016)
    0x5A: 0x50444653,  # RDSFDP at 0: the "SFDP" signature
}
FLASH_BYTES = 4 * 1024 * 1024
CHECKSUM_SEED = 0xEF
SECTOR = 4096

SLIP_END = 0xC0
SLIP_ESC = 0xDB
SLIP_ESC_END = 0xDC
SLIP_ESC_ESC = 0xDD


class Op(IntEnum):
    FLASH_BEGIN = 0x02
    FLASH_DATA = 0x03
    FLASH_END = 0x04
    MEM_BEGIN = 0x05
    MEM_END = 0x06
    MEM_DATA = 0x07
    SYNC = 0x08
    WRITE_REG = 0x09
    READ_REG = 0x0A
    SPI_SET_PARAMS = 0x0B
    SPI_ATTACH = 0x0D
    CHANGE_BAUDRATE = 0x0F
    FLASH_DEFL_BEGIN = 0x10
    FLASH_DEFL_DATA = 0x11
    FLASH_DEFL_END = 0x12
    SPI_FLASH_MD5 = 0x13


class RomError(IntEnum):
    """The ROM's error byte after a failed status."""

    INVALID_COMMAND = 0x05
    BAD_CHECKSUM = 0x07
    BAD_DATA_LEN = 0xC0
    BAD_SEQUENCE = 0xC1  # "flash write out of order": esptool names it after the ROM's code
    INFLATE_ERROR = 0xC3
    NOT_IN_FLASH_MODE = 0xC5


class _Failure(Exception):
    def __init__(self, error: RomError) -> None:
        super().__init__(error.name)
        self.error = error


def slip_encode(packet: bytes) -> bytes:
    body = packet.replace(bytes([SLIP_ESC]), bytes([SLIP_ESC, SLIP_ESC_ESC]))
    body = body.replace(bytes([SLIP_END]), bytes([SLIP_ESC, SLIP_ESC_END]))
    return bytes([SLIP_END]) + body + bytes([SLIP_END])


class SlipDecoder:
    """Bytes in, whole packets out; bytes outside a frame (noise, a terminal's typing) are dropped."""

    def __init__(self) -> None:
        self._frame: bytearray | None = None
        self._escaped = False

    def feed(self, data: bytes) -> list[bytes]:
        packets: list[bytes] = []
        for byte in data:
            if byte == SLIP_END:
                if self._frame:
                    packets.append(bytes(self._frame))
                self._frame = bytearray()
                self._escaped = False
            elif self._frame is None:
                continue
            elif self._escaped:
                self._frame.append(SLIP_END if byte == SLIP_ESC_END else SLIP_ESC if byte == SLIP_ESC_ESC else byte)
                self._escaped = False
            elif byte == SLIP_ESC:
                self._escaped = True
            else:
                self._frame.append(byte)
        return packets


def checksum(data: bytes) -> int:
    value = CHECKSUM_SEED
    for byte in data:
        value ^= byte
    return value


class _Write:
    """One FLASH_BEGIN or FLASH_DEFL_BEGIN .. END: where, how much, what came so far."""

    def __init__(self, offset: int, erase_size: int, blocks: int, compressed: bool) -> None:
        self.offset = offset
        self.erase_size = erase_size
        self.blocks = blocks
        self.next_seq = 0
        self.compressed = compressed
        self.inflater = zlib.decompressobj() if compressed else None
        self.written = 0

    @property
    def done(self) -> bool:
        return self.next_seq >= self.blocks


class RomLoader:
    """One download-mode session of an ESP32: `receive` the host's bytes, answers go to `send`.

    `install_app(image)` is called with the app image once a complete one was written at 0x10000;
    `erase_config()` when an erase reaches the NVS partition (the board's stored configuration).
    """

    def __init__(
        self,
        mac: bytes,
        send: Callable[[bytes], None],
        install_app: Callable[[bytes], None],
        erase_config: Callable[[], None] | None = None,
    ) -> None:
        self.mac = mac
        self.send = send
        self.install_app = install_app
        self.erase_config = erase_config
        self._pages: dict[int, bytearray] = {}
        """The chip's flash as far as this session wrote it, per 4 KB sector (the rest reads 0xFF)."""
        self._decoder = SlipDecoder()
        self._write: _Write | None = None
        self._regs: dict[int, int] = {}
        self.baudrate = 115200
        self.commands: list[str] = []
        """Names of the commands served, in order (what a test can read back)."""
        self.installed: list[int] = []
        """Sizes of the app images installed in this session."""

    # --- the chip's registers --------------------------------------------------------------------
    def read_reg(self, address: int) -> int:
        if address in self._regs:
            return self._regs[address]
        if address == CHIP_DETECT_MAGIC_REG:
            return ESP32_MAGIC
        if address == UART_CLKDIV_REG:
            return APB_HZ // 115200
        if address == EFUSE_BASE + 4:  # BLK0 word 1: MAC bytes 2..5
            return int.from_bytes(self.mac[2:6], "big")
        if address == EFUSE_BASE + 8:  # BLK0 word 2: MAC bytes 0..1 (the CRC byte above them left 0)
            return int.from_bytes(self.mac[0:2], "big")
        return 0

    # --- flash -------------------------------------------------------------------------------------
    def read_flash(self, offset: int, size: int) -> bytes:
        out = bytearray()
        end = offset + size
        pos = offset
        while pos < end:
            page, at = divmod(pos, SECTOR)
            take = min(SECTOR - at, end - pos)
            stored = self._pages.get(page)
            out += stored[at : at + take] if stored is not None else b"\xff" * take
            pos += take
        return bytes(out)

    def _erase(self, offset: int, size: int) -> None:
        first, last = offset // SECTOR, (offset + size + SECTOR - 1) // SECTOR
        for page in range(first, last):
            self._pages[page] = bytearray(b"\xff" * SECTOR)
        reaches_nvs = offset < NVS_OFFSET + NVS_SIZE and offset + size > NVS_OFFSET
        if size > 0 and reaches_nvs and self.erase_config is not None:
            self.erase_config()

    def _program(self, offset: int, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            page, at = divmod(offset + pos, SECTOR)
            take = min(SECTOR - at, len(data) - pos)
            stored = self._pages.setdefault(page, bytearray(b"\xff" * SECTOR))
            stored[at : at + take] = data[pos : pos + take]
            pos += take

    # --- the wire ----------------------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        for packet in self._decoder.feed(data):
            self._serve(packet)

    def _serve(self, packet: bytes) -> None:
        if len(packet) < 8 or packet[0] != 0x00:
            return
        op, length, chk = struct.unpack_from("<BHI", packet, 1)
        body = packet[8 : 8 + length]
        try:
            name = Op(op).name
        except ValueError:
            self._reply(op, 0, b"", RomError.INVALID_COMMAND)
            return
        self.commands.append(name)
        try:
            value, data = self._handle(Op(op), body, chk)
        except _Failure as failure:
            self._reply(op, 0, b"", failure.error)
            return
        except (struct.error, zlib.error):
            self._reply(op, 0, b"", RomError.BAD_DATA_LEN)
            return
        if op == Op.SYNC:
            for _ in range(8):  # the ROM answers a SYNC eight times
                self._reply(op, value, data)
            return
        self._reply(op, value, data)

    def _reply(self, op: int, value: int, data: bytes, error: RomError | None = None) -> None:
        status = bytes([1, int(error), 0, 0]) if error is not None else b"\0\0\0\0"
        payload = data + status
        self.send(slip_encode(struct.pack("<BBHI", 0x01, op, len(payload), value) + payload))

    def _handle(self, op: Op, body: bytes, chk: int) -> tuple[int, bytes]:
        if op is Op.SYNC:
            return 0x20120707, b""  # ROMs answer with a non-zero value; the stub answers 0
        if op is Op.READ_REG:
            (address,) = struct.unpack_from("<I", body)
            return self.read_reg(address), b""
        if op is Op.WRITE_REG:
            address, value, mask, _delay = struct.unpack_from("<IIII", body)
            if address == SPI_CMD_REG:  # the SPI command completes at once: its busy bit reads back 0
                opcode = self.read_reg(SPI_USR2_REG) & 0xFF
                self._regs[SPI_W0_REG] = SPI_FLASH_ANSWERS.get(opcode, 0)
                return 0, b""
            old = self.read_reg(address)
            self._regs[address] = (old & ~mask) | (value & mask)
            return 0, b""
        if op in (Op.SPI_ATTACH, Op.SPI_SET_PARAMS, Op.MEM_BEGIN, Op.MEM_DATA, Op.MEM_END):
            return 0, b""
        if op is Op.CHANGE_BAUDRATE:
            (self.baudrate,) = struct.unpack_from("<I", body)
            return 0, b""
        if op in (Op.FLASH_BEGIN, Op.FLASH_DEFL_BEGIN):
            erase_size, blocks, _block_size, offset = struct.unpack_from("<IIII", body)
            self._finish()
            self._erase(offset, erase_size)
            self._write = _Write(offset, erase_size, blocks, compressed=op is Op.FLASH_DEFL_BEGIN)
            return 0, b""
        if op in (Op.FLASH_DATA, Op.FLASH_DEFL_DATA):
            return self._data(body, chk, compressed=op is Op.FLASH_DEFL_DATA)
        if op in (Op.FLASH_END, Op.FLASH_DEFL_END):
            self._finish()
            return 0, b""
        if op is Op.SPI_FLASH_MD5:
            address, size, _, _ = struct.unpack_from("<IIII", body)
            digest = hashlib.md5(self.read_flash(address, size)).hexdigest()
            return 0, digest.encode("ascii")  # the ROM sends 32 hex characters (the stub 16 raw bytes)
        raise _Failure(RomError.INVALID_COMMAND)

    def _data(self, body: bytes, chk: int, *, compressed: bool) -> tuple[int, bytes]:
        write = self._write
        if write is None or write.compressed != compressed:
            raise _Failure(RomError.NOT_IN_FLASH_MODE)
        size, seq, _, _ = struct.unpack_from("<IIII", body)
        block = body[16 : 16 + size]
        if len(block) != size:
            raise _Failure(RomError.BAD_DATA_LEN)
        if checksum(block) != chk & 0xFF:
            raise _Failure(RomError.BAD_CHECKSUM)
        if seq != write.next_seq:
            raise _Failure(RomError.BAD_SEQUENCE)
        if write.inflater is not None:
            try:
                block = write.inflater.decompress(block)
            except zlib.error as exc:
                raise _Failure(RomError.INFLATE_ERROR) from exc
        self._program(write.offset + write.written, block)
        write.written += len(block)
        write.next_seq += 1
        if write.done:
            self._finish()
        return 0, b""

    def _finish(self) -> None:
        """A write is over: an app image complete at the app partition becomes the board's app."""
        write, self._write = self._write, None
        if write is None or write.offset != APP_OFFSET or write.written == 0:
            return
        data = self.read_flash(APP_OFFSET, write.written)
        length = image_length(data)
        if length is None:
            return  # not an app image: a real chip would not boot it; the emulated board keeps its previous app
        self.install_app(data[:length])
        self.installed.append(length)
