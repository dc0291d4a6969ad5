"""Writing the firmware under test to a board before a run, with esptool, over the board's own port.

`FirmwareFile.load(path)` reads the image first (a file that is not a valid ESP32 app image is refused before
anything is written). `flash_board(board, firmware)` then

1. puts the chip into the ROM serial downloader: esptool's own DTR/RTS reset when the board has the auto-reset
   circuit (`DtrRtsSideband`, also behind `rfc2217://`), else the lab holds the BOOT button (IO0) through a reset;
2. hands the port to esptool (a library call, `--no-stub`, nothing reset after) which writes the image at the app
   partition (0x10000) and verifies its MD5;
3. takes the port back, resets the board into the app and waits for the banner's `Firmware:` row, which must
   report the image's version (`FlashVersionMismatch` otherwise).

The returned `FlashRecord` (image name, size, SHA-256, version, how the board was reset, what the banner said)
is what the run keeps as evidence. Images are not secret: nothing is masked.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import serial

from provlab.drivers import serial_urls
from provlab.drivers.capabilities import Capability
from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.serial_errors import ExpectTimeout, SerialBoardError, UnexpectedOutput
from provlab.drivers.sideband.base import CombinedSideband, Sideband
from provlab.drivers.sideband.esp_lines import DOWNLOAD_MODE_PATTERNS, DtrRtsSideband
from provlab.protocol.firmware_image import APP_OFFSET, AppImage, FirmwareImageError, parse_app_image

BANNER_FIRMWARE = r"^\s*Firmware:\s+(\S+)"
"""The device banner's firmware row (spec §5.2): ` Firmware:  0.1.0 (build …)`."""
BOOT_TIMEOUT_S = 30.0
"""Device seconds from the reset after writing to the banner's firmware row."""
BOOT_HOLD_S = 0.2
"""Wall seconds the BOOT button stays down after the reset (the chip samples IO0 as it leaves reset)."""
_ESPTOOL = threading.Lock()  # esptool keeps its logger and settings in module globals: one run at a time


class FlashError(SerialBoardError):
    """Flashing a board failed; the message says what was expected, what happened and where the log is."""


class BadFirmwareFile(FlashError):
    """The file to flash is not a valid ESP32 app image (nothing was written)."""


class CannotEnterDownloadMode(FlashError):
    """The board's wiring offers no way into the ROM serial downloader (nothing was written)."""


class EsptoolFailed(FlashError):
    """esptool could not write the image."""


class FlashVersionMismatch(FlashError):
    """The board booted after writing, but its banner reports another firmware version than the image's."""


@dataclass(frozen=True)
class FirmwareFile:
    """An app image on disk, read and checked: what `--flash FILE` / inventory `firmware = "…"` name."""

    path: Path
    image: AppImage

    @classmethod
    def load(cls, path: str | Path) -> FirmwareFile:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BadFirmwareFile(f"cannot read the firmware to flash, {path}: {exc}") from exc
        try:
            image = parse_app_image(data, str(path))
        except FirmwareImageError as exc:
            raise BadFirmwareFile(
                f"{exc}. Expected an ESP32 app image (the .bin an Arduino/ESP-IDF build writes for offset "
                f"0x{APP_OFFSET:x}); nothing was written to any board"
            ) from exc
        return cls(path, image)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def version(self) -> str:
        return self.image.version

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    def evidence(self) -> dict[str, Any]:
        """What a run records about the image: name, size, SHA-256, version (and where it came from)."""
        return {
            "name": self.name,
            "path": str(self.path),
            "size": self.image.size,
            "sha256": self.image.sha256,
            "version": self.version,
            "project": self.image.project,
        }


@dataclass(frozen=True)
class FlashRecord:
    """One board flashed: the image's identity, how, and what the board said afterwards."""

    board: str
    port: str
    name: str
    size: int
    sha256: str
    version: str
    offset: int
    download_mode: str
    """`esptool-reset` (the DTR/RTS auto-reset circuit), `button-reset` (BOOT held through a reset) or `emulated`."""
    banner_version: str
    seconds: float
    esptool_log: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parts(sideband: Sideband) -> list[Sideband]:
    return list(sideband.parts) if isinstance(sideband, CombinedSideband) else [sideband]


def esptool_can_reset(sideband: Sideband) -> bool:
    """The board has the DTR/RTS auto-reset circuit, so esptool's own reset sequence enters download mode."""
    return any(isinstance(part, DtrRtsSideband) and part.wiring.auto_reset for part in _parts(sideband))


def download_mode_entry(board: SerialBoard) -> str:
    """How this board gets into the ROM downloader: `esptool-reset` or `button-reset`; else
    `CannotEnterDownloadMode` naming the wiring."""
    if esptool_can_reset(board.sideband):
        return "esptool-reset"
    if {Capability.RESET, Capability.BUTTON} <= board.capabilities:
        return "button-reset"
    raise CannotEnterDownloadMode(
        f"{board.name}: cannot put the chip into its ROM serial downloader to flash it: expected a DTR/RTS "
        f"auto-reset circuit, or both a reset and the BOOT (IO0) button; its wiring is {board.describe_wiring()!r}. "
        "Nothing was written."
    )


def run_esptool(
    url: str, firmware: FirmwareFile, *, connect: str, log_path: Path | None, baudrate: int = 115200
) -> str:
    """esptool `write-flash` of the image at the app partition over `url` (no stub, no reset afterwards);
    returns its output (also written to `log_path`). `EsptoolFailed` with the output's tail on failure."""
    return run_esptool_command(
        url,
        ["write-flash", f"0x{APP_OFFSET:x}", str(firmware.path)],
        what=f"write {firmware.name} to",
        connect=connect,
        log_path=log_path,
        baudrate=baudrate,
    )


def run_esptool_command(
    url: str, command: list[str], *, what: str, connect: str, log_path: Path | None, baudrate: int = 115200
) -> str:
    """One esptool command (`write-flash …`, `erase-region …`) on the ESP32 ROM over `url`, without the flasher
    stub and without a reset afterwards; its output (also written to `log_path`). On failure `EsptoolFailed`:
    "esptool could not `what` `url`", the output's tail and where the whole output is."""
    import esptool

    argv = [
        "--port", url, "--baud", str(baudrate), "--chip", "esp32", "--before", connect, "--after", "no-reset",
        "--no-stub", *command,
    ]  # fmt: skip
    out = io.StringIO()
    failure: BaseException | None = None
    with _ESPTOOL, serial_urls.preferred(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            esptool.main(argv)
        except (esptool.FatalError, serial.SerialException, OSError, SystemExit) as exc:
            failure = exc
    text = out.getvalue()
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(f"esptool {' '.join(argv)}\n{text}\n{failure or ''}\n", encoding="utf-8")
    if failure is not None:
        tail = "\n".join(f"    {line}" for line in text.strip().splitlines()[-6:])
        where = f" (esptool's output: {log_path})" if log_path else ""
        raise EsptoolFailed(
            f"esptool could not {what} {url}: {failure or type(failure).__name__}{where}\n{tail}"
        ) from failure
    return text


def enter_download_mode(board: SerialBoard, mode: str) -> None:
    """`button-reset`: the lab holds BOOT (IO0) through a reset, so the chip starts its ROM serial downloader.
    `esptool-reset` needs nothing here: esptool's own DTR/RTS sequence does it when it connects."""
    if mode != "button-reset":
        return
    board.press_button()
    try:
        board.reset()
        time.sleep(BOOT_HOLD_S)
    finally:
        board.release_button()


def flash_board(
    board: SerialBoard,
    firmware: FirmwareFile,
    *,
    log_dir: Path | None = None,
    boot_timeout: float = BOOT_TIMEOUT_S,
    baudrate: int | None = None,
) -> FlashRecord:
    """Write `firmware` to `board` with esptool and check its banner then reports the image's version.
    `baudrate`: esptool's writing speed (it connects at the ROM's 115200, then switches); default the board's."""
    started = time.monotonic()
    mode = download_mode_entry(board)
    log_path = log_dir / f"{board.name}-esptool.log" if log_dir is not None else None
    enter_download_mode(board, mode)
    with board.handed_over("esptool") as url:
        run_esptool(
            url,
            firmware,
            connect="default-reset" if mode == "esptool-reset" else "no-reset",
            log_path=log_path,
            baudrate=baudrate or board.baudrate,
        )
    mark = board.mark()
    board.reset()
    banner = check_banner(board, firmware, since=mark, timeout=boot_timeout)
    return FlashRecord(
        board=board.name,
        port=board.url,
        name=firmware.name,
        size=firmware.image.size,
        sha256=firmware.image.sha256,
        version=firmware.version,
        offset=APP_OFFSET,
        download_mode=mode,
        banner_version=banner,
        seconds=round(time.monotonic() - started, 3),
        esptool_log=str(log_path) if log_path else None,
    )


def check_banner(board: SerialBoard, firmware: FirmwareFile, *, since: int, timeout: float = BOOT_TIMEOUT_S) -> str:
    """Wait for the banner's `Firmware:` row after a boot and check it reports `firmware`'s version."""
    log = f" (serial log: {board.log_path})" if board.log_path else ""
    try:
        found = board.expect(BANNER_FIRMWARE, timeout=timeout, since=since, not_matching=DOWNLOAD_MODE_PATTERNS)
    except UnexpectedOutput as exc:
        raise FlashVersionMismatch(
            f"{board.name}: after writing {firmware.name} the chip came back in its ROM download mode instead of "
            f"booting the app (is the BOOT button still held, or IO0 strapped low?){log}\n{exc}"
        ) from exc
    except ExpectTimeout as exc:
        raise FlashVersionMismatch(
            f"{board.name}: expected the banner to report firmware {firmware.version} after writing "
            f"{firmware.name}, but no banner came{log}\n{exc}"
        ) from exc
    said = found[1]
    if said != firmware.version:
        raise FlashVersionMismatch(
            f"{board.name}: expected firmware {firmware.version} ({firmware.name}) after flashing, but the banner "
            f"said {said}{log}"
        )
    return said
