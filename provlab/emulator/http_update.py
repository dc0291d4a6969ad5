"""The SoftAP's `/update` upload (`ConfigMode.h` with `Update`): multipart firmware in, `OK`/`FAIL` out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP

from provlab.emulator.ota import UPDATE_ERROR_STRINGS, check_image

UPLOAD_CHUNK = 1436  # HTTP_UPLOAD_BUFLEN of arduino-esp32's WebServer: one `.` per chunk written


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


class UploadError(ValueError):
    """The request is not a multipart upload with an `update` file field."""


def parse_upload(content_type: str, body: bytes) -> Upload:
    """The `update` file of a `multipart/form-data` body."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise UploadError(f"expected a multipart/form-data upload, got Content-Type {content_type!r}")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise UploadError("the multipart body has no parts")
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "update":
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            return Upload(part.get_filename() or "", data)
    raise UploadError("the upload has no file field named 'update'")


def install_upload(upload: Upload, write: Callable[[str], None], log: Callable[[str], None]) -> bool:
    """Run the upload handler's steps on `upload`: `Update: <file>`, dots, `Finishing...`, the verdict.

    `write` prints raw serial text, `log` a `[millis]` line. True when the image was accepted: the 0xE9 magic
    byte, then `Update.end()`'s full ESP32 image check (`Could Not Activate The Firmware`, error 9, otherwise).
    The real handler repeats a write error once per later chunk; we print it once (choices.py #11).
    """
    log(f"Update: {upload.filename}")
    chunks = max(1, -(-len(upload.data) // UPLOAD_CHUNK))
    write("." * chunks)
    write("\r\n")
    log("Finishing...")
    error = check_image(upload.data, None)
    if error:  # `DEBUG_PRINT(Update.errorString())`: a `[ms]` line; an image the chip refuses is error 9
        log(UPDATE_ERROR_STRINGS[error])
        return False
    log("Update Success. Rebooting")
    return True
