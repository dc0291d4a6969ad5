"""Blynk.Air as the stub plays it: a firmware package offered to one online device, served, and followed.

1. `CloudStub.push_ota` puts a package on the shelf and tells the device where to fetch it: INTERNAL
   `ota\\0<url>` over the binary protocol (spec §6.5), `downlink/ota/json` with
   `{"url","size","type","ver","build"}` over MQTT (spec §7).
2. The device GETs `/static/ota/<id>.bin?token=<its auth token>` from the stub's HTTP server. The answer
   carries the headers of spec §7: `x-md5` (hex; what the ESP32 `OTA.h` checks as `x-MD5`), `x-sha256`
   (base64), `x-fw-type`, `x-fw-ver`, `x-fw-build`, and a Content-Length.
3. The device reboots into the new image and announces its version in its info message; the stub compares
   it with the package's version.

Journal: `ota_pushed`, `ota_downloaded` / `ota_download_refused`, then `ota_succeeded` or `ota_failed` (the
first info message after a download that announces the package's version, or another one).

A `corrupt` package is damaged in transit: the served bytes differ from the image in one byte past the ESP
magic byte while the headers still describe the intended image, so an MD5-checking device refuses it
(`Error #7`, spec §5.3) and a device that skips the check installs a broken image.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
from dataclasses import dataclass, field
from enum import Enum

from provlab.cloud.records import Device
from provlab.cloud.store import Store
from provlab.protocol.firmware_image import FirmwareImageError, build_app_image, check_magic, md5_hex, read_info

OTA_PATH_PREFIX = "/static/ota/"
DEFAULT_IMAGE_SIZE = 16 * 1024  # bytes of an image `firmware_image` makes
NOT_FOUND = "File not found."
NO_TOKEN = "No token provided."
INVALID_TOKEN = "Invalid token."


class OtaStatus(str, Enum):
    """Where one push is: offered, fetched by its device, then confirmed by the device's next info message."""

    PUSHED = "pushed"
    DOWNLOADED = "downloaded"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class OtaRefused(Exception):
    """A download the stub refuses; answered with `status` and `{"error":{"message": message}}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class OtaOffer:
    """What the device is told: the URL, and on MQTT also size, firmware type, version and build."""

    url: str
    size: int
    fw_type: str
    version: str
    build: str

    def mqtt_json(self) -> bytes:
        """The `downlink/ota/json` payload (spec §7, keys in the documented order)."""
        document = {"url": self.url, "size": self.size, "type": self.fw_type, "ver": self.version, "build": self.build}
        return json.dumps(document, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class OtaPush:
    """One OTA offered to one device (what `CloudStub.push_ota` returns)."""

    id: str
    device_id: int
    url: str
    version: str
    build: str
    fw_type: str
    size: int
    md5: str  # of the intended image (what `x-md5` says), also for a corrupt push
    sha256: str  # base64, as `x-sha256`
    corrupt: bool
    transport: str
    previous_version: str | None  # what the device had announced when the push was made (None: not yet)


@dataclass
class OtaPackage:
    """A push and the bytes behind it, as the shelf keeps them."""

    push: OtaPush
    served: bytes  # the download body: the image, or the damaged image of a corrupt push
    status: OtaStatus = OtaStatus.PUSHED
    downloads: int = 0
    announced: list[str] = field(default_factory=list)  # versions the device announced after a download

    def headers(self) -> dict[str, str]:
        """The download's headers (spec §7); Content-Length is added by the HTTP server."""
        p = self.push
        return {
            "Content-Type": "application/octet-stream",
            "x-md5": p.md5,
            "x-sha256": p.sha256,
            "x-fw-type": p.fw_type,
            "x-fw-ver": p.version,
            "x-fw-build": p.build,
        }


def firmware_image(
    version: str, *, fw_type: str, build: str, template_id: str | None = None, size: int = DEFAULT_IMAGE_SIZE
) -> bytes:
    """A real-format ESP32 app image (header, segments, checksum, SHA-256: what `Update.end()` on a real ESP32
    accepts) of about `size` bytes, whose `blnkinf` tag says `mcu` = `version` (what the board boots as)."""
    info = {"mcu": version, "fw-type": fw_type, "build": build, "tmpl": template_id or fw_type}
    overhead = len(build_app_image(version, info, code_size=4)) - 4
    return build_app_image(version, info, code_size=max(4, size - overhead))


def image_version(image: bytes) -> str | None:
    """The firmware version an image's `blnkinf` tag carries (`mcu`, `ncp` or `fw`), or None."""
    info = read_info(image) or {}
    return info.get("mcu") or info.get("ncp") or info.get("fw")


def damaged(image: bytes) -> bytes:
    """`image` with one byte flipped halfway through (never the ESP magic byte at offset 0)."""
    if len(image) < 2:
        return image + b"\x00"
    middle = len(image) // 2
    return image[:middle] + bytes([image[middle] ^ 0xFF]) + image[middle + 1 :]


class OtaShelf:
    """The packages the stub has offered, served by id, followed until the device reports back.

    Lives on the stub's event loop (not thread-safe), next to the gateway that owns it.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._packages: dict[str, OtaPackage] = {}
        self._order = itertools.count(1)

    def prepare(
        self,
        device: Device,
        image: bytes,
        *,
        base_url: str,
        version: str,
        build: str,
        fw_type: str,
        corrupt: bool,
        transport: str,
        previous_version: str | None,
    ) -> OtaPackage:
        """A package for `device` (not yet on the shelf: `shelve` it once the device was told)."""
        try:
            check_magic(image)
        except FirmwareImageError as exc:
            raise ValueError(f"OTA image for device {device.id}: {exc}") from None
        if not device.token:
            raise ValueError(f"device {device.id} has no auth token to put in the OTA URL")
        package_id = f"{next(self._order)}-{secrets.token_hex(6)}"
        url = f"{base_url.rstrip('/')}{OTA_PATH_PREFIX}{package_id}.bin?token={device.token}"
        push = OtaPush(
            id=package_id,
            device_id=device.id,
            url=url,
            version=version,
            build=build,
            fw_type=fw_type,
            size=len(image),
            md5=md5_hex(image),
            sha256=base64.b64encode(hashlib.sha256(image).digest()).decode("ascii"),
            corrupt=corrupt,
            transport=transport,
            previous_version=previous_version,
        )
        return OtaPackage(push, damaged(image) if corrupt else image)

    def shelve(self, package: OtaPackage) -> None:
        """Serve `package` from now on and journal `ota_pushed`."""
        p = package.push
        self._packages[p.id] = package
        self.store.events.add(
            "ota_pushed",
            p.device_id,
            {
                "push": p.id,
                "version": p.version,
                "build": p.build,
                "fw_type": p.fw_type,
                "size": p.size,
                "md5": p.md5,
                "corrupt": p.corrupt,
                "transport": p.transport,
                "previous_version": p.previous_version,
            },
        )

    def offer(self, package: OtaPackage) -> OtaOffer:
        p = package.push
        return OtaOffer(p.url, p.size, p.fw_type, p.version, p.build)

    def get(self, push_id: str) -> OtaPackage | None:
        return self._packages.get(push_id)

    def pushes(self, device_id: int | None = None) -> list[OtaPush]:
        return [p.push for p in self._packages.values() if device_id is None or p.push.device_id == device_id]

    def download(self, name: str, token: str, peer: str) -> OtaPackage:
        """The package a GET of `/static/ota/<name>?token=<token>` from `peer` fetches; `OtaRefused` if none."""
        package = self._packages.get(name.removesuffix(".bin")) if name.endswith(".bin") else None
        if package is None:
            raise self._refuse(None, name, peer, 404, NOT_FOUND)
        p = package.push
        if not token:
            raise self._refuse(p.device_id, name, peer, 400, NO_TOKEN)
        device = self.store.devices.for_token(token)
        if device is None or device.id != p.device_id:
            raise self._refuse(p.device_id, name, peer, 400, INVALID_TOKEN)
        package.downloads += 1
        if package.status is OtaStatus.PUSHED:
            package.status = OtaStatus.DOWNLOADED
        self.store.events.add(
            "ota_downloaded",
            p.device_id,
            {
                "push": p.id,
                "peer": peer,
                "version": p.version,
                "bytes": len(package.served),
                "md5": p.md5,
                "corrupt": p.corrupt,
                "download": package.downloads,
            },
        )
        return package

    def _refuse(self, device_id: int | None, name: str, peer: str, status: int, message: str) -> OtaRefused:
        self.store.events.add(
            "ota_download_refused", device_id, {"file": name, "peer": peer, "status": status, "reason": message}
        )
        return OtaRefused(status, message)

    def info_announced(self, device_id: int, version: str | None) -> None:
        """The device sent its info message: a downloaded package is confirmed or found failed."""
        if version is None:
            return
        for package in self._packages.values():
            p = package.push
            if p.device_id != device_id or package.status is not OtaStatus.DOWNLOADED:
                continue
            package.announced.append(version)
            succeeded = version == p.version
            package.status = OtaStatus.SUCCEEDED if succeeded else OtaStatus.FAILED
            self.store.events.add(
                "ota_succeeded" if succeeded else "ota_failed",
                device_id,
                {"push": p.id, "version": p.version, "announced": version, "previous_version": p.previous_version},
            )
