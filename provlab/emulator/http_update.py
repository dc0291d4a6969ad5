"""The SoftAP's `/update` upload (`ConfigMode.h` with WebServer and `Update`): multipart firmware in, `OK`/`FAIL` out.

WebServer (arduino-esp32 2.0.x `Parsing.cpp`) reads a body as a form when its Content-Type starts with
`multipart/`; the boundary is whatever follows the header's first `=`, quotes removed. If the body's first line
is not `--<boundary>`, `_parseForm()` fails and the request is dropped: no reply, no reboot. Every part with a
`filename` goes to the upload callback, whatever its field name, in chunks of `HTTP_UPLOAD_BUFLEN` (1436)
bytes: START, WRITE per full buffer and once more with the rest (also when that is empty), END.

The sketch's callback logs `Update: <filename>` on START, then per WRITE `DEBUG_PRINT(Update.errorString())`
(a `[ms]` line) when `Update.write()` did not take the chunk whole, and a `.`; on END a newline,
`Finishing...`, and `Update Success. Rebooting` or the error string. A POST with no file part (not multipart,
or only plain fields) never starts `Update`: `hasError()` is false, so the reply is `200 OK` and the board
reboots all the same (audit #11, `choices.HTTP_UPDATE_EDGE_CASES_EMULATED`).

`UpdateSession` is arduino-esp32 2.0.x `UpdateClass` for `U_FLASH` as far as this path shows it: sectors of
4096 bytes, the magic byte checked when the first sector is written, `Not Enough Space` past the app
partition, and `Update.end(true)`: a failed final sector write leaves no stashed first bytes to restore, so
`_verifyEnd()` fails with `Flash Read Failed`; otherwise the full image check of `esp_ota_set_boot_partition()`
(`Could Not Activate The Firmware`, error 9).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP

from provlab.emulator.ota import (
    APP_PARTITION_BYTES,
    UPDATE_ERROR_ACTIVATE,
    UPDATE_ERROR_MAGIC_BYTE,
    UPDATE_ERROR_STRINGS,
)
from provlab.protocol.firmware_image import ESP_IMAGE_MAGIC, verify_app_image

UPLOAD_CHUNK = 1436  # HTTP_UPLOAD_BUFLEN of arduino-esp32's WebServer: one WRITE (one `.`) per chunk
FLASH_SECTOR = 4096  # SPI_FLASH_SEC_SIZE: `Update` buffers this much before it writes to flash
UPDATE_ERROR_READ = 3  # Update.h UPDATE_ERROR_READ: `_verifyEnd()` could not re-enable the image's first bytes
UPDATE_ERROR_SPACE = 4  # UPDATE_ERROR_SPACE: more bytes than the partition has left
ERROR_STRINGS = {
    **UPDATE_ERROR_STRINGS,
    UPDATE_ERROR_READ: "Flash Read Failed",
    UPDATE_ERROR_SPACE: "Not Enough Space",
}


@dataclass(frozen=True)
class Upload:
    field: str
    filename: str
    data: bytes


class UploadError(ValueError):
    """The multipart body cannot be read (WebServer drops such a request without a reply)."""


def parse_uploads(content_type: str, body: bytes) -> list[Upload]:
    """The file parts of a POST body, in order: every part with a `filename`, whatever its field name.

    Not `multipart/`: no file parts. A multipart body whose first line is not `--<boundary>`: `UploadError`."""
    if not content_type.startswith("multipart/"):  # WebServer's case-sensitive `startsWith`
        return []
    boundary = content_type[content_type.find("=") + 1 :].replace('"', "") if "=" in content_type else ""
    first_line = body.split(b"\r", 1)[0]
    if not boundary or first_line != b"--" + boundary.encode("latin-1"):
        raise UploadError(f"the multipart body does not start with --{boundary}")
    header = f'Content-Type: multipart/form-data; boundary="{boundary}"\r\n\r\n'.encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(header + body)
    if not message.is_multipart():
        return []
    uploads = []
    for part in message.iter_parts():
        if part.get_param("filename", header="content-disposition") is None:
            continue  # a plain field: an argument, not an upload
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        uploads.append(
            Upload(
                name if isinstance(name, str) else "",
                part.get_filename() or "",
                payload if isinstance(payload, bytes) else b"",
            )
        )
    return uploads


class UpdateSession:
    """arduino-esp32 2.0.x `Update` for one flash update of unknown size (`Update.begin(UPDATE_SIZE_UNKNOWN)`)."""

    def __init__(self, partition_bytes: int = APP_PARTITION_BYTES) -> None:
        self.partition_bytes = partition_bytes
        self.error = 0
        self._size = 0  # 0: not running (`_size` in UpdateClass)
        self._buffer = bytearray()
        self._written = bytearray()

    @property
    def running(self) -> bool:
        return self._size > 0

    def begin(self) -> bool:
        if self.running:
            return False  # "already running"; the error stays as it was
        self._reset()
        self.error = 0
        self._size = self.partition_bytes
        return True

    def _reset(self) -> None:
        self._size = 0
        self._buffer.clear()
        self._written.clear()

    def _abort(self, error: int) -> None:
        self._reset()
        self.error = error

    def _remaining(self) -> int:
        return self._size - len(self._written)

    def _write_buffer(self) -> bool:
        if not self._written and self._buffer[0] != ESP_IMAGE_MAGIC:
            self._abort(UPDATE_ERROR_MAGIC_BYTE)
            return False
        self._written += self._buffer
        self._buffer.clear()
        return True

    def write(self, data: bytes) -> int:
        """`Update.write()`: how many bytes it took (less than `len(data)` on an error)."""
        if self.error or not self.running:
            return 0
        if len(data) > self._remaining():
            self._abort(UPDATE_ERROR_SPACE)
            return 0
        left = len(data)
        while len(self._buffer) + left > FLASH_SECTOR:
            start = len(data) - left
            take = FLASH_SECTOR - len(self._buffer)
            self._buffer += data[start : start + take]
            if not self._write_buffer():
                return start
            left -= take
        self._buffer += data[len(data) - left :]
        if len(self._buffer) == self._remaining() and not self._write_buffer():
            return len(data) - left
        return len(data)

    def end(self) -> bytes | None:
        """`Update.end(true)`: the activated image, or None with `error` set."""
        if self.error or not self.running:
            return None
        if self._buffer:
            self._write_buffer()  # its result is ignored, as in UpdateClass::end()
        image = bytes(self._written)
        if not image:  # nothing written: no stashed first bytes for `_enablePartition()` to put back
            self._abort(UPDATE_ERROR_READ)
            return None
        if verify_app_image(image) is not None:
            self._abort(UPDATE_ERROR_ACTIVATE)
            return None
        self._reset()
        return image

    @property
    def error_string(self) -> str:
        if not self.error:
            return "No Error"
        return ERROR_STRINGS.get(self.error, "UNKNOWN")


def run_upload(
    update: UpdateSession, upload: Upload, write: Callable[[str], None], log: Callable[[str], None]
) -> bytes | None:
    """The sketch's upload callback over one file part: the activated image, or None.

    `write` prints raw serial text, `log` a `[millis]` line (`DEBUG_PRINT`)."""
    log(f"Update: {upload.filename}")
    if not update.begin():
        log(update.error_string)
    data = upload.data
    chunks = [data[i : i + UPLOAD_CHUNK] for i in range(0, len(data), UPLOAD_CHUNK)] or [b""]
    for chunk in chunks:
        if update.write(chunk) != len(chunk):
            log(update.error_string)
        write(".")
    write("\r\n")
    log("Finishing...")
    image = update.end()
    if image is None:
        log(update.error_string)
        return None
    log("Update Success. Rebooting")
    return image
