"""The emulated ESP32 ROM serial downloader at the byte level: SLIP framing, replies and refusals.

esptool drives the happy path end to end in tests/serial/test_flashing.py; these feed the loader the exact
packets esptool sends (`00 op len chk data`) and read its replies (`01 op len val data status`)."""

from __future__ import annotations

import hashlib
import struct

from provlab.emulator.rom_loader import (
    ESP32_MAGIC,
    Op,
    RomError,
    RomLoader,
    SlipDecoder,
    checksum,
    slip_encode,
)
from provlab.protocol.firmware_image import APP_OFFSET, NVS_OFFSET, NVS_SIZE, build_app_image

MAC = bytes.fromhex("246F28AB0001")


class Host:
    """The host end of one download-mode session: sends commands, collects the ROM's replies."""

    def __init__(self) -> None:
        self.installed: list[bytes] = []
        self.config_erases = 0
        self.loader = RomLoader(MAC, self._received, self.installed.append, self._config_erased)
        self._decoder = SlipDecoder()
        self.replies: list[tuple[int, int, bytes]] = []

    def _config_erased(self) -> None:
        self.config_erases += 1

    def _received(self, data: bytes) -> None:
        for packet in self._decoder.feed(data):
            _, op, length, value = struct.unpack_from("<BBHI", packet)
            self.replies.append((op, value, packet[8 : 8 + length]))

    def command(self, op: Op, data: bytes = b"", chk: int = 0) -> tuple[int, bytes]:
        """(value, data without status) of the reply; asserts the status says success."""
        self.replies.clear()
        self.loader.receive(slip_encode(struct.pack("<BBHI", 0, op, len(data), chk) + data))
        op_back, value, body = self.replies[-1]
        assert op_back == op and body[-4:] == b"\0\0\0\0", body[-4:].hex()
        return value, body[:-4]

    def refused(self, op: int, data: bytes = b"", chk: int = 0) -> int:
        """The ROM's error byte for a command it refuses."""
        self.replies.clear()
        self.loader.receive(slip_encode(struct.pack("<BBHI", 0, op, len(data), chk) + data))
        _, _, body = self.replies[-1]
        assert body[-4] == 1
        return body[-3]

    def write(self, offset: int, data: bytes, block: int = 0x400) -> None:
        blocks = [data[i : i + block] for i in range(0, len(data), block)]
        self.command(Op.FLASH_BEGIN, struct.pack("<IIII", len(data), len(blocks), block, offset))
        for seq, chunk in enumerate(blocks):
            self.command(Op.FLASH_DATA, struct.pack("<IIII", len(chunk), seq, 0, 0) + chunk, checksum(chunk))


def test_slip_frames_survive_the_bytes_they_escape() -> None:
    packet = bytes([0x01, 0xC0, 0xDB, 0xC0, 0xDC, 0xDD, 0x00])
    decoder = SlipDecoder()
    framed = slip_encode(packet)
    assert framed.count(0xC0) == 2  # only the frame ends
    assert decoder.feed(b"noise before the frame" + framed[:3]) == []
    assert decoder.feed(framed[3:]) == [packet]


def test_sync_is_answered_eight_times_and_the_chip_reads_as_an_esp32_with_its_mac() -> None:
    host = Host()
    host.loader.receive(slip_encode(struct.pack("<BBHI", 0, Op.SYNC, 36, 0) + b"\x07\x07\x12\x20" + b"\x55" * 32))
    assert [op for op, _, _ in host.replies] == [Op.SYNC] * 8 and all(value != 0 for _, value, _ in host.replies)
    assert host.command(Op.READ_REG, struct.pack("<I", 0x40001000))[0] == ESP32_MAGIC
    word1 = host.command(Op.READ_REG, struct.pack("<I", 0x3FF5A004))[0]
    word2 = host.command(Op.READ_REG, struct.pack("<I", 0x3FF5A008))[0]
    assert struct.pack(">II", word2, word1)[2:] == MAC  # how esptool's read_mac puts them together


def test_a_block_with_a_bad_checksum_or_out_of_order_is_refused_with_the_roms_error() -> None:
    host = Host()
    chunk = b"\xaa" * 16
    host.command(Op.FLASH_BEGIN, struct.pack("<IIII", 32, 2, 16, APP_OFFSET))
    assert host.refused(Op.FLASH_DATA, struct.pack("<IIII", 16, 0, 0, 0) + chunk, checksum(chunk) ^ 1) == (
        RomError.BAD_CHECKSUM
    )
    assert host.refused(Op.FLASH_DATA, struct.pack("<IIII", 16, 1, 0, 0) + chunk, checksum(chunk)) == (
        RomError.BAD_SEQUENCE
    )
    assert host.refused(0x5F) == RomError.INVALID_COMMAND


def test_a_written_app_image_is_installed_and_its_md5_reads_back_while_other_data_is_not() -> None:
    host = Host()
    image = build_app_image("5.0.0", code_size=3000)
    padded = image + b"\xff" * (-len(image) % 0x400)
    host.write(APP_OFFSET, padded)
    assert host.installed == [image]  # trimmed to the image itself
    _, md5 = host.command(Op.SPI_FLASH_MD5, struct.pack("<IIII", APP_OFFSET, len(padded), 0, 0))
    assert md5.decode() == hashlib.md5(padded).hexdigest()
    host.write(APP_OFFSET, b"not an image".ljust(0x400, b"\0"))
    assert len(host.installed) == 1  # not an app image: nothing installed
    _, blank = host.command(Op.SPI_FLASH_MD5, struct.pack("<IIII", 0x300000, 4096, 0, 0))
    assert blank.decode() == hashlib.md5(b"\xff" * 4096).hexdigest()  # erased flash reads 0xFF


def test_an_erase_over_the_nvs_partition_erases_the_stored_config_and_an_app_write_does_not() -> None:
    """esptool's `erase-region 0x9000 0x5000` in ROM mode is a FLASH_BEGIN whose erase covers the partition, with no
    data after it; the board's config goes with it. The flasher stub's ERASE_FLASH/ERASE_REGION are refused, as by
    the ESP32 ROM."""
    host = Host()
    host.write(APP_OFFSET, build_app_image("5.0.0", code_size=3000).ljust(0x1000, b"\xff"))
    assert host.config_erases == 0  # the app partition is not the config's
    host.command(Op.FLASH_BEGIN, struct.pack("<IIII", NVS_SIZE, NVS_SIZE // 0x400, 0x400, NVS_OFFSET))
    assert host.config_erases == 1
    _, erased = host.command(Op.SPI_FLASH_MD5, struct.pack("<IIII", NVS_OFFSET, NVS_SIZE, 0, 0))
    assert erased.decode() == hashlib.md5(b"\xff" * NVS_SIZE).hexdigest()
    host.command(Op.FLASH_BEGIN, struct.pack("<IIII", 0x1000, 1, 0x400, NVS_OFFSET + NVS_SIZE - 0x1000))
    assert host.config_erases == 2  # the partition's last sector is enough: NVS keeps its pages all over it
    assert host.refused(0xD0) == RomError.INVALID_COMMAND  # ERASE_FLASH: stub only
    assert host.refused(0xD1, struct.pack("<II", NVS_OFFSET, NVS_SIZE)) == RomError.INVALID_COMMAND  # ERASE_REGION
    assert host.config_erases == 2
