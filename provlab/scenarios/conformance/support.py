"""What the conformance scenarios share: reading device time off the board's own `[millis]` stamps, `/config`
queries, and the spec's exact strings. Nothing here reaches into an emulated board: a real one runs these too."""

from __future__ import annotations

import itertools
import socket
import zlib
from typing import Any
from urllib.parse import urlencode

from provlab.fixtures import Device, Lab, LabBoard, LabPhone

CONFIG_TRYING = '{"status":"ok","msg":"Trying to connect..."}'
CONFIG_SAVED = '{"status":"ok","msg":"Configuration saved"}'
CONFIG_INVALID = '{"status":"error","msg":"Configuration invalid"}'
RESET_OK = '{"status":"ok","msg":"Configuration reset"}'
AP_URL_LINE = "AP URL:  blynk.setup"
TIMER_SLACK_MS = 2000  # a real board's radio and TLS take their time inside a timer; the spec's timers are 10 s+
MISSING_NETWORK = "ProvlabNowhere"  # an SSID no lab puts on the air


def stamp(board: LabBoard, text: str, since: int, timeout: float = 60.0) -> int:
    """The board's `[millis]` of the first line from `since` containing `text` (device time, the board's clock)."""
    line = board.expect_exact(text, timeout=timeout, since=since)
    assert line.millis is not None, f"{text!r} was printed without a [millis] stamp: {line.raw!r}"
    return line.millis


def printed(board: LabBoard, since: int) -> list[str]:
    """The texts of the lines printed from `since` (without `[millis] `)."""
    return [received.line.text for received in board.lines(since)]


def stamps_of(board: LabBoard, since: int, prefix: str) -> list[int]:
    """The `[millis]` of every line from `since` whose text starts with `prefix`."""
    return [r.line.millis for r in board.lines(since) if r.line.text.startswith(prefix) and r.line.millis is not None]


def provisioned_online(lab: Lab, board: LabBoard, phone: LabPhone) -> tuple[Device, dict[str, Any]]:
    """Provision the board with a fresh token and wait until it is RUNNING and the cloud has it online; the
    device and the cloud's `device_online` event (transport, and for MQTT the CONNECT's keep-alive)."""
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    online = lab.wait_cloud_event("device_online", timeout=30)
    device = lab.device_for(enrollment)
    assert device is not None, "the device the token activated is not in the cloud"
    return device, online


def ping_gaps(lab: Lab, pings: int, within_s: float) -> list[float]:
    """Lab-clock seconds between the next `pings` keep-alives the cloud journals (`device_ping`: a binary PING
    or an MQTT PINGREQ), each awaited up to `within_s` device seconds (the journal is read every 0.1 s)."""
    seen: list[float] = []
    for count in range(pings):
        lab.wait_cloud_event("device_ping", timeout=within_s, since=count)
        seen.append(lab.clock.now())
    return [b - a for a, b in itertools.pairwise(seen)]


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released): a cloud that never answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config_query(lab: Lab, token: str, **fields: str) -> str:
    """A `/config` query as the app sends it, onto the lab's home network (fields override or add)."""
    args = {"ssid": lab.config.home.ssid, "pass": lab.config.home.passphrase, "blynk": token}
    args.update(fields)
    return urlencode(args)


def in_config_mode(board: LabBoard, since: int | None = None) -> int:
    """Wait for the SoftAP to be up (`AP URL:  blynk.setup`, printed after `since` if given); a mark from there."""
    board.expect_exact(AP_URL_LINE, timeout=60, since=since)
    return board.mark()


def send_config(lab: Lab, board: LabBoard, phone: LabPhone, **fields: str) -> tuple[str, int | None, str]:
    """A fresh token, then `/config` with it; (token, status, body)."""
    token = phone.request_token()
    status, body = phone.board_get(board, "/config", config_query(lab, token, **fields))
    return token, status, body


# --- spec §2.2: the SoftAP's unique suffix (the spec's reference implementation) -------------------------
LEGACY_ALPHABET = "0W8N4Y1HP5DF9K6JM3C2UA7R"


def unique_suffix(id_bytes: bytes, alphabet: str = LEGACY_ALPHABET, length: int = 4) -> str:
    n = 0
    for _ in range(4):
        n = zlib.crc32(id_bytes, n)
    out: list[str] = []
    prev = ""
    for _ in range(length):
        c = alphabet[n % len(alphabet)]
        if c == prev:
            c = alphabet[(n + 1) % len(alphabet)]
        out.append(c)
        prev = c
        n //= len(alphabet)
    return "".join(out)


def expected_ssid_endings(template_name: str, mac_text: str) -> set[str]:
    """`<name truncated>-<suffix>` for an ESP32 (8-byte efuse MAC) and an ESP8266 (6-byte MAC) chip."""
    mac = bytes.fromhex(mac_text.replace(":", ""))
    return {f"{template_name[:20]}-{unique_suffix(mac + bytes(2))}", f"{template_name[:20]}-{unique_suffix(mac)}"}
