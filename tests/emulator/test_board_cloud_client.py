"""The board's Blynk client (spec §6.4–§6.7) against a tiny real server on loopback, plain TCP and TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import re
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from devrig import TOKEN, FileServer, MiniCloud, Rig, provision, run, start_rig

from provlab.protocol.commands import Command, Status
from provlab.protocol.firmware_image import build_app_image
from provlab.protocol.frames import Frame
from provlab.protocol.internal import dbg_body, hardware_vw, ota_body, redirect_body
from provlab.protocol.states import EdgentState as S

INFO = (
    b"mcu\x000.1.0\x00fw-type\x00TMPL0TEST01\x00build\x00Nov 26 2026 03:29:17\x00blynk\x001.4.0\x00"
    b"h-beat\x0040\x00buff-in\x001024\x00dev\x00ESP32\x00tmpl\x00TMPL0TEST01"
)


async def online(tmp: Path, cloud: MiniCloud, **kw: Any) -> Rig:
    port = await cloud.start()
    rig = await start_rig(tmp, **kw)
    await provision(rig, port)
    await rig.wait_state(S.RUNNING)
    return rig


def millis_of(rig: Rig, text: str) -> list[int]:
    return [int(m.group(1)) for m in re.finditer(rf"\[(\d+)\] {re.escape(text)}\r\n", rig.capture.text)]


def test_login_and_info_message(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud()
        rig = await online(tmp_path, cloud)
        await cloud.wait(lambda: len(cloud.frames) >= 3)
        login, info, meta = cloud.frames[:3]
        assert (login.command, login.msg_id, login.body) == (Command.HW_LOGIN, 1, TOKEN.encode())
        assert (info.command, info.msg_id, info.body) == (Command.INTERNAL, 2, INFO)
        assert (meta.command, meta.body) == (Command.INTERNAL, b"meta\0set\0Hotspot Name\0Blynk Device-1W7R")
        assert re.search(r"\[\d+\] Ready \(ping: \d+ms\)\.\r\n", rig.capture.text)
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_unanswered_pings_every_6_s_then_heartbeat_timeout_at_58_s(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud(answer_pings=False)
        rig = await online(tmp_path, cloud)
        await rig.wait_log("Heartbeat timeout")
        first = cloud.connections[0]
        login_at = first.frames[0][0]
        pings = [t for t, f in first.frames if f.command == Command.PING]
        scale = rig.scale
        assert len(pings) == 3, "pings at +40, +46, +52 s, then the timeout at +58 s"
        assert (pings[0] - login_at) / scale >= 40.0
        assert all((b - a) / scale >= 6.0 for a, b in itertools.pairwise(pings))
        timeout = millis_of(rig, "Heartbeat timeout")[0]
        ready = [int(m) for m in re.findall(r"\[(\d+)\] Ready \(ping", rig.capture.text)]
        assert timeout - ready[0] >= 58_000
        mark = rig.mark()
        await rig.wait_state(S.RUNNING, after=mark)  # it reconnects (RUNNING -> CONNECTING_CLOUD -> RUNNING)
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_answered_pings_keep_the_session(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud(answer_pings=True)
        rig = await online(tmp_path, cloud)
        await cloud.wait(lambda: len(cloud.of(Command.PING)) >= 2, 200)
        first = cloud.connections[0]
        pings = [t for t, f in first.frames if f.command == Command.PING]
        assert (pings[1] - pings[0]) / rig.scale >= 40.0
        assert "Heartbeat timeout" not in rig.capture.log_texts() and len(cloud.connections) == 1
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_login_timeout_after_6_s_and_reconnects(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud(login_status=None)
        port = await cloud.start()
        rig = await start_rig(tmp_path)
        await provision(rig, port)
        await rig.wait_log("Login timeout", count=2)
        attempts = millis_of(rig, f"Connecting to blynk.cloud:{port}")
        timeouts = millis_of(rig, "Login timeout")
        assert timeouts[0] - attempts[0] >= 6000 and attempts[1] - attempts[0] >= 6000
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_refused_connections_retry_every_5_s(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path)
        await provision(rig, 1)  # nothing listens on port 1
        await rig.wait_log("Connecting to blynk.cloud:1", count=3)
        attempts = millis_of(rig, "Connecting to blynk.cloud:1")
        assert all(b - a >= 5000 for a, b in itertools.pairwise(attempts))
        await rig.shutdown()

    run(body())


def test_invalid_token_stops_all_attempts(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud(login_status=Status.INVALID_TOKEN)
        port = await cloud.start()
        rig = await start_rig(tmp_path)
        await provision(rig, port)
        await rig.wait_state(S.WAIT_CONFIG, after=3)
        await rig.board.clock.sleep(30.0)
        assert cloud.logins == 1
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_other_login_failures_are_logged_with_their_code(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud(login_status=Status.NOT_ALLOWED)
        port = await cloud.start()
        rig = await start_rig(tmp_path)
        await provision(rig, port)
        await rig.wait_log("Connect failed. code: 6", count=2)
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_redirect_is_followed(tmp_path: Path) -> None:
    async def body() -> None:
        target = MiniCloud()
        target_port = await target.start()
        redirecting = MiniCloud(login_status=None)

        port = await redirecting.start()
        rig = await start_rig(tmp_path)
        await provision(rig, port)
        await redirecting.wait(lambda: redirecting.logins == 1)
        current = redirecting.current
        assert current is not None
        current.send(Frame(Command.REDIRECT, 1, redirect_body("127.0.0.1", target_port)))
        await rig.wait_state(S.RUNNING)
        await rig.wait_log(f"Redirecting to 127.0.0.1:{target_port}")
        await rig.wait_log(f"Connecting to 127.0.0.1:{target_port}")
        assert target.logins == 1
        await rig.shutdown()
        await target.stop()
        await redirecting.stop()

    run(body())


def test_server_pings_hardware_writes_dbg_and_server_text(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud()
        rig = await online(tmp_path, cloud)
        written: list[tuple[str, list[str]]] = []
        rig.board.client.on_virtual_write = lambda pin, values: written.append((pin, values))
        conn = cloud.current
        assert conn is not None
        conn.send(Frame(Command.PING, 99))
        conn.send(Frame(Command.HARDWARE, 100, hardware_vw(5, 42, "x")))
        conn.send(Frame(Command.HARDWARE, 101, b"zz\x001"))
        conn.send(Frame(Command.INTERNAL, 102, dbg_body("devinfo")))
        conn.send(Frame(Command.DEBUG_PRINT, 103, b"hello"))
        await cloud.wait(lambda: any(f.msg_id == 99 and f.command == Command.RESPONSE for f in cloud.frames))
        answer = next(f for f in cloud.frames if f.msg_id == 99)
        assert answer.status == Status.SUCCESS
        await cloud.wait(lambda: any(f.msg_id == 101 for f in cloud.frames))
        assert next(f for f in cloud.frames if f.msg_id == 101).status == Status.ILLEGAL_COMMAND
        await rig.wait_log("Server: hello")
        await rig.wait_for(lambda: '{"name":"Blynk Device-1W7R"' in rig.capture.text, "devinfo output")
        assert written == [("5", ["42", "x"])] and rig.board.client.pins["5"] == ["42", "x"]
        assert "Invalid HW cmd: zz" in rig.capture.log_texts()
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_ota_with_a_wrong_md5_fails_into_error(tmp_path: Path) -> None:
    async def body() -> None:
        image = build_app_image("0.9.0")
        files = FileServer(200, image, {"Content-Length": str(len(image)), "x-MD5": "0" * 32})
        file_port = await files.start()
        cloud = MiniCloud()
        rig = await online(tmp_path, cloud)
        conn = cloud.current
        assert conn is not None
        conn.send(Frame(Command.INTERNAL, 7, ota_body(f"http://127.0.0.1:{file_port}/fw.bin")))
        await rig.wait_state(S.OTA_UPGRADE)
        await rig.wait_log("Error #7")
        await rig.wait_state(S.ERROR)
        assert "Update failed." not in rig.capture.log_texts()  # OTA.h: Error #7 goes straight to ERROR
        assert rig.board.profile.fw_version == "0.1.0"
        assert files.requests and files.requests[0].startswith(b"GET /fw.bin HTTP/1.1\r\n")
        await rig.shutdown()
        await cloud.stop()
        await files.stop()

    run(body())


# --- TLS ----------------------------------------------------------------------------------------------


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def make_ca(folder: Path, name: str) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def server_context(folder: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("blynk.cloud"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("blynk.cloud"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, ssl.SSLContext]:
    folder = tmp_path_factory.mktemp("pki")
    ca_path, ca_key, ca = make_ca(folder, "lab-ca")
    other_ca_path, _, _ = make_ca(folder, "other-ca")
    return ca_path, other_ca_path, server_context(folder, ca_key, ca)


def test_tls_login_trusting_the_lab_ca(tmp_path: Path, pki: tuple[Path, Path, ssl.SSLContext]) -> None:
    ca_path, _, server = pki

    async def body() -> None:
        cloud = MiniCloud(tls=server)
        rig = await online(tmp_path, cloud, tls_ca=ca_path)
        await rig.wait_log("Certificate OK")
        assert cloud.of(Command.HW_LOGIN)[0].body == TOKEN.encode()
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_tls_with_the_wrong_ca_never_connects(tmp_path: Path, pki: tuple[Path, Path, ssl.SSLContext]) -> None:
    _, other_ca, server = pki

    async def body() -> None:
        cloud = MiniCloud(tls=server)
        port = await cloud.start()
        rig = await start_rig(tmp_path, tls_ca=other_ca)
        await provision(rig, port)
        await rig.wait_log("Secure connection failed", count=2)
        assert cloud.logins == 0
        await rig.wait_log("Last error code: 702")  # C7: it says so, and ends in 702
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_tls_firmware_on_a_plain_port_ends_in_702(tmp_path: Path, pki: tuple[Path, Path, ssl.SSLContext]) -> None:
    ca_path, _, _ = pki

    async def body() -> None:
        cloud = MiniCloud()  # plain TCP
        port = await cloud.start()
        rig = await start_rig(tmp_path, tls_ca=ca_path)
        await provision(rig, port)
        await rig.wait_log("Last error code: 702")  # C8
        assert cloud.logins == 0 and "Secure connection failed" in rig.capture.log_texts()
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_esp8266_tls_logs_its_ntp_time_and_no_certificate_line(
    tmp_path: Path, pki: tuple[Path, Path, ssl.SSLContext]
) -> None:
    """BlynkSimpleEsp8266_SSL.h: `Current time: <asctime UTC>` before each connect, no `Certificate OK`."""
    ca_path, _, server = pki

    async def body() -> None:
        cloud = MiniCloud(tls=server)
        rig = await online(tmp_path, cloud, tls_ca=ca_path, firmware="edgent-esp8266")
        texts = rig.capture.log_texts()
        at = next(i for i, t in enumerate(texts) if t.startswith("Connecting to blynk.cloud:"))
        assert re.fullmatch(r"Current time: \w{3} Jan  1 00:00:\d\d 2026", texts[at - 1])  # NTP_EPOCH + uptime
        assert "Certificate OK" not in texts
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_esp8266_untrusted_certificate_is_an_ssl_error(tmp_path: Path, pki: tuple[Path, Path, ssl.SSLContext]) -> None:
    _, other_ca, server = pki

    async def body() -> None:
        cloud = MiniCloud(tls=server)
        port = await cloud.start()
        rig = await start_rig(tmp_path, tls_ca=other_ca, firmware="edgent-esp8266")
        await provision(rig, port)
        await rig.wait_log("SSL error: 62", count=2)
        assert "Secure connection failed" not in rig.capture.log_texts() and cloud.logins == 0
        await rig.shutdown()
        await cloud.stop()

    run(body())
