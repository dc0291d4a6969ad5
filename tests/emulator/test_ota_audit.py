"""Blynk.Air OTA against the real `Edgent_ESP32/OTA.h` (fidelity audit rows 1, 2, 3, 5, 12, 13), and the SoftAP
`/update` POST against `ConfigMode.h` with arduino-esp32 2.0.x WebServer and `Update` (row 11): the exact log
lines of each outcome, in order, from the OTA timer's `Disconnected` to the success or ERROR line. Each test
fails on the emulator as it was before the fix (always `OTA written n / n`, `Update failed.` after `Error #7`,
only the 0xE9 byte checked, `Disconnected` after the state line, verified HTTPS, OTA only from RUNNING; `/update`
only from a field named `update`, `FAIL` without one, one error line per upload, a reply to any body)."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

from devrig import Connection, FileServer, HttpResult, MiniCloud, Rig, http, join_ap, run, start_rig
from test_board_transitions import running_rig

from provlab.cloud.certs import LabCertificates
from provlab.protocol.commands import Command
from provlab.protocol.firmware_image import build_app_image, build_image, md5_hex
from provlab.protocol.frames import Frame
from provlab.protocol.internal import ota_body
from provlab.protocol.states import EdgentState as S

GOOD = build_app_image("0.3.0", {"mcu": "0.3.0", "build": "Dec  2 2026 11:00:00"}, code_size=6000)


def ota_lines(rig: Rig, state_line: str = "RUNNING => OTA_UPGRADE") -> list[str]:
    """The log from the line before the OTA state line (the timer's `Disconnected`) to the end."""
    texts = rig.capture.log_texts()
    return texts[texts.index(state_line) - 1 :]


async def ota_to(
    tmp: Path, server: FileServer | None, url: str | None = None, *, drop_session: bool = False
) -> tuple[Rig, MiniCloud, str]:
    """A RUNNING board that gets `ota\\0<url>` once (url: the file server's, as `http(s)://ota.example:<port>`);
    `drop_session` closes the session right after the push and answers no further logins."""
    if server is not None:
        port = await server.start()
        url = f"{'https' if server.tls else 'http'}://ota.example:{port}/fw.bin"
    assert url is not None
    pushed: list[bool] = []

    async def push(cloud: MiniCloud, conn: Connection) -> None:
        if not pushed:
            pushed.append(True)
            conn.send(Frame(Command.INTERNAL, 77, ota_body(url)))
            if drop_session:
                cloud.login_status = None
                conn.writer.close()

    cloud = MiniCloud(on_login=push)
    rig = await running_rig(tmp, cloud)
    return rig, cloud, url


def outcome(tmp: Path, server: FileServer | None, url: str | None = None) -> tuple[list[str], str]:
    """Run one OTA to its end (ERROR, or the reboot into RUNNING); its log lines and the URL."""

    async def go() -> tuple[list[str], str]:
        rig, cloud, used = await ota_to(tmp, server, url)
        try:
            await rig.wait_state(S.OTA_UPGRADE)
            await rig.wait_for(
                lambda: any(t in rig.capture.log_texts() for t in ("OTA_UPGRADE => ERROR", "INIT => CONNECTING_NET")),
                "the OTA to end",
            )
            return ota_lines(rig), used
        finally:
            await rig.shutdown()
            await cloud.stop()
            if server is not None:
                await server.stop()

    return run(go())


# --- rows 1 and 5: success prints no `OTA written`; `Disconnected` comes before the state line ----------


def test_success_log_is_disconnected_state_url_md5_done(tmp_path: Path) -> None:
    headers = {"Content-Length": str(len(GOOD)), "x-MD5": md5_hex(GOOD).upper()}
    lines, url = outcome(tmp_path, FileServer(200, GOOD, headers))
    assert lines[:5] == [
        "Disconnected",
        "RUNNING => OTA_UPGRADE",
        f"Firmware update URL: {url}",
        f"Expected MD5: {md5_hex(GOOD)}",  # lower-cased, as `md5.toLowerCase()`
        "=== Update successfully completed. Rebooting.",
    ]
    assert not any(line.startswith("OTA written") for line in lines)


def test_success_without_md5_header_prints_no_expected_md5(tmp_path: Path) -> None:
    lines, url = outcome(tmp_path, FileServer(200, GOOD))
    assert lines[:4] == [
        "Disconnected",
        "RUNNING => OTA_UPGRADE",
        f"Firmware update URL: {url}",
        "=== Update successfully completed. Rebooting.",
    ]


# --- row 2: failures are `Error #<n>` then ERROR; a failed GET is `HTTP response should be 200` -----------


def test_md5_mismatch_is_error_7_then_error_state_without_update_failed(tmp_path: Path) -> None:
    headers = {"Content-Length": str(len(GOOD)), "x-MD5": "0" * 32}
    lines, url = outcome(tmp_path, FileServer(200, GOOD, headers))
    assert lines == [
        "Disconnected",
        "RUNNING => OTA_UPGRADE",
        f"Firmware update URL: {url}",
        f"Expected MD5: {'0' * 32}",
        "Error #7",
        "OTA_UPGRADE => ERROR",
    ]


def test_wrong_magic_byte_writes_nothing(tmp_path: Path) -> None:
    """Core 2.x `Update.writeStream()` peeks the first byte and returns 0 (choices.OTA_BAD_MAGIC_WRITES_NOTHING)."""
    body = b"<html>not firmware</html>" + bytes(500)
    lines, url = outcome(tmp_path, FileServer(200, body))
    assert lines[2:] == [f"Firmware update URL: {url}", f"OTA written 0 / {len(body)} bytes", "OTA_UPGRADE => ERROR"]


def test_body_shorter_than_content_length_is_a_short_write(tmp_path: Path) -> None:
    cut = GOOD[:3000]
    lines, url = outcome(tmp_path, FileServer(200, cut, {"Content-Length": str(len(GOOD))}))
    assert lines[2:] == [
        f"Firmware update URL: {url}",
        f"OTA written 3000 / {len(GOOD)} bytes",
        "OTA_UPGRADE => ERROR",
    ]


def test_refused_connection_is_http_response_should_be_200(tmp_path: Path) -> None:
    async def closed_port() -> int:
        server = FileServer(200, b"")
        port = await server.start()
        await server.stop()
        return port

    port = run(closed_port())
    url = f"http://ota.example:{port}/fw.bin"
    lines, _ = outcome(tmp_path, None, url)
    assert lines[2:] == [f"Firmware update URL: {url}", "HTTP response should be 200", "OTA_UPGRADE => ERROR"]


def test_http_404_is_http_response_should_be_200(tmp_path: Path) -> None:
    lines, url = outcome(tmp_path, FileServer(404, b"nope"))
    assert lines[2:] == [f"Firmware update URL: {url}", "HTTP response should be 200", "OTA_UPGRADE => ERROR"]


# --- row 3: `Update.end()` validates the whole ESP32 image (esp_image_verify): `Error #9` ------------------


def test_synthetic_image_with_only_the_magic_byte_is_error_9(tmp_path: Path) -> None:
    fake = build_image({"mcu": "0.3.0"})  # 0xE9 + padding + tag: no segments, checksum or SHA-256 a chip accepts
    lines, url = outcome(tmp_path, FileServer(200, fake, {"Content-Length": str(len(fake)), "x-MD5": md5_hex(fake)}))
    assert lines[2:] == [
        f"Firmware update URL: {url}",
        f"Expected MD5: {md5_hex(fake)}",
        "Error #9",  # UPDATE_ERROR_ACTIVATE
        "OTA_UPGRADE => ERROR",
    ]


def test_image_with_a_damaged_sha256_is_error_9(tmp_path: Path) -> None:
    broken = GOOD[:-1] + bytes([GOOD[-1] ^ 0x01])  # the appended SHA-256's last byte
    lines, url = outcome(tmp_path, FileServer(200, broken))
    assert lines[2:] == [f"Firmware update URL: {url}", "Error #9", "OTA_UPGRADE => ERROR"]


# --- row 12: `HTTPClient::begin(url)` without a CA does not check the certificate -------------------------


def test_https_ota_from_a_server_no_one_trusts_succeeds(tmp_path: Path) -> None:
    certs = LabCertificates(tmp_path / "certs").ensure()  # a CA the board was never given
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert_file, certs.key_file)
    lines, url = outcome(tmp_path, FileServer(200, GOOD, tls=context))
    assert url.startswith("https://")
    assert lines[2:4] == [f"Firmware update URL: {url}", "=== Update successfully completed. Rebooting."]


# --- row 13: the 2 s timer moves to OTA_UPGRADE from whatever state it fires in ------------------------


def test_ota_timer_firing_in_connecting_cloud_still_starts_the_update(tmp_path: Path) -> None:
    """The session drops right after the push: the timer fires in CONNECTING_CLOUD, logs its `Disconnected`,
    switches to OTA_UPGRADE, and `enterConnectCloud()` then sees the state change and disconnects again."""

    async def go() -> None:
        server = FileServer(200, GOOD)
        rig, cloud, url = await ota_to(tmp_path, server, drop_session=True)
        try:
            await rig.wait_log("=== Update successfully completed. Rebooting.")
            texts = rig.capture.log_texts()
            assert texts.index("RUNNING => CONNECTING_CLOUD") < texts.index("CONNECTING_CLOUD => OTA_UPGRADE")
            assert ota_lines(rig, "CONNECTING_CLOUD => OTA_UPGRADE")[:5] == [
                "Disconnected",  # the timer's Blynk.disconnect(): no socket, logged anyway (row 5)
                "CONNECTING_CLOUD => OTA_UPGRADE",
                "Disconnected",  # enterConnectCloud(): `if (!BlynkState::is(MODE_CONNECTING_CLOUD))`
                f"Firmware update URL: {url}",
                "=== Update successfully completed. Rebooting.",
            ]
        finally:
            await rig.shutdown()
            await cloud.stop()
            await server.stop()

    run(go())


# --- row 3 on the SoftAP `/update` upload: the same image check, `Update.errorString()` as a log line ----


def multipart(data: bytes, field: str = "update", filename: str = "fw.bin", boundary: str = "XyZ") -> bytes:
    """A `multipart/form-data` body with one file part (Content-Type `multipart/form-data; boundary=XyZ`)."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode()


FORM = "multipart/form-data; boundary=XyZ"


def post_update(tmp_path: Path, body: bytes, content_type: str = FORM) -> tuple[Rig, HttpResult | None]:
    """POST `/update` to a board in config mode; its reply (None: closed without one). After a reply, wait for
    the reboot it always follows with; without one, give it 3 device seconds (the reboot comes 1 s after a reply)."""

    async def go() -> tuple[Rig, HttpResult | None]:
        rig = await start_rig(tmp_path)
        try:
            await rig.wait_ap()
            _, link = await join_ap(rig)
            reply = await http(link, "POST", "/update", body, {"Content-Type": content_type})
            if reply is not None:
                await rig.wait_log("INIT => WAIT_CONFIG", count=2)
            else:
                await rig.clock.sleep(3.0)
                info = await http(link, "GET", "/board_info.json")  # the same boot still serves its pages
                assert info is not None and info.status == 200
            return rig, reply
        finally:
            await rig.shutdown()

    return run(go())


def upload(tmp_path: Path, image: bytes) -> tuple[Rig, int, bytes]:
    rig, reply = post_update(tmp_path, multipart(image))
    assert reply is not None
    return rig, reply.status, reply.body


def test_update_upload_of_a_synthetic_image_fails_activation(tmp_path: Path) -> None:
    rig, status, body = upload(tmp_path, build_image({"mcu": "0.3.0"}, 3000))
    assert (status, body) == (500, b"FAIL")
    texts = rig.capture.log_texts()
    start = texts.index("Update: fw.bin")
    assert texts[start : start + 3] == ["Update: fw.bin", "Finishing...", "Could Not Activate The Firmware"]
    assert rig.board.profile.fw_version == "0.1.0"


def test_update_upload_of_a_real_image_installs_it(tmp_path: Path) -> None:
    rig, status, body = upload(tmp_path, GOOD)
    assert (status, body) == (200, b"OK")
    texts = rig.capture.log_texts()
    start = texts.index("Update: fw.bin")
    assert texts[start : start + 3] == ["Update: fw.bin", "Finishing...", "Update Success. Rebooting"]
    assert rig.board.profile.fw_version == "0.3.0"


# --- row 11: the SoftAP `/update` POST as WebServer, the sketch's upload callback and `Update` run it ---------


def test_update_takes_a_file_part_under_any_field_name(tmp_path: Path) -> None:
    """WebServer hands every part with a filename to the upload callback, whatever the field is called."""
    rig, reply = post_update(tmp_path, multipart(GOOD, field="firmware", filename="new.bin"))
    assert reply is not None and (reply.status, reply.body) == (200, b"OK")
    texts = rig.capture.log_texts()
    start = texts.index("Update: new.bin")
    assert texts[start : start + 3] == ["Update: new.bin", "Finishing...", "Update Success. Rebooting"]
    dots = -(-len(GOOD) // 1436)  # one WRITE per HTTP_UPLOAD_BUFLEN chunk
    assert re.search(rf"\] Update: new\.bin\r\n\.{{{dots}}}\r\n\[\d+\] Finishing", rig.capture.text)
    assert rig.board.profile.fw_version == "0.3.0"


def test_update_post_without_a_file_part_answers_ok_and_reboots(tmp_path: Path) -> None:
    """No file part never starts `Update`: `hasError()` is false, so `200 OK`, then the reboot; nothing flashed."""
    rig, reply = post_update(tmp_path, b"update=fw.bin", "application/x-www-form-urlencoded")
    assert reply is not None and (reply.status, reply.body) == (200, b"OK")
    assert rig.board.boots == 2 and rig.board.profile.fw_version == "0.1.0"
    assert not any(text.startswith("Update:") for text in rig.capture.log_texts())


def test_update_multipart_with_plain_fields_only_answers_ok_and_reboots(tmp_path: Path) -> None:
    body = b'--XyZ\r\nContent-Disposition: form-data; name="update"\r\n\r\nfw.bin\r\n--XyZ--\r\n'
    rig, reply = post_update(tmp_path, body)
    assert reply is not None and (reply.status, reply.body) == (200, b"OK")
    assert rig.board.boots == 2 and rig.board.profile.fw_version == "0.1.0"
    assert not any(text.startswith("Update:") for text in rig.capture.log_texts())


def test_update_logs_the_error_once_per_refused_chunk(tmp_path: Path) -> None:
    """`DEBUG_PRINT(Update.errorString())` is a `[ms]` line for each chunk `Update.write()` did not take whole.
    10000 bytes are 7 chunks of at most 1436; the first 4096-byte sector is written when the third chunk comes
    and fails the magic check, the four after it are refused, and `Update.end()` reports the error once more."""
    rig, reply = post_update(tmp_path, multipart(bytes(10_000), filename="zero.bin"))
    assert reply is not None and (reply.status, reply.body) == (500, b"FAIL")
    refused = r"\[\d+\] Wrong Magic Byte\r\n"
    expected = rf"\[\d+\] Update: zero\.bin\r\n\.\.(?:{refused}\.){{5}}\r\n\[\d+\] Finishing\.\.\.\r\n{refused}"
    assert re.search(expected, rig.capture.text), rig.capture.text[-700:]
    assert len(re.findall(refused, rig.capture.text)) == 6  # five after dots (mid-line), one after `Finishing...`
    assert rig.board.profile.fw_version == "0.1.0"


def test_update_body_not_starting_with_its_boundary_gets_no_reply_and_no_reboot(tmp_path: Path) -> None:
    """WebServer's `_parseForm()` fails when the first line is not `--<boundary>`: the request is dropped."""
    rig, reply = post_update(tmp_path, b"\r\n" + multipart(GOOD))
    assert reply is None
    assert rig.board.boots == 1 and rig.board.profile.fw_version == "0.1.0"
    assert not any(text.startswith("Update:") for text in rig.capture.log_texts())
