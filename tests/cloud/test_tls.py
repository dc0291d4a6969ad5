"""TLS for the binary protocol and MQTT with the lab CA: trust, rotation, expiry (C7), wrong port (C8)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from click.testing import CliRunner
from cloud_helpers import PahoDevice, RawDevice, device_online, device_went_online, run, running_cloud
from cryptography import x509

from provlab.cli import main
from provlab.cloud.certs import LabCA, LabCertificates
from provlab.protocol.commands import Command, Status


def trusting(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


async def tls_login(port: int, context: ssl.SSLContext, token: str, host: str = "blynk.cloud") -> int:
    device = await RawDevice.connect(port, ssl_context=context, server_hostname=host)
    try:
        return await device.login(token)
    finally:
        await device.close()


def test_binary_protocol_over_tls_with_the_lab_ca(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            assert cloud.endpoints.tls_port is not None
            context = trusting(cloud.stub.certs.ca_file)
            token = cloud.token()
            for host in ("blynk.cloud", "fra1.blynk.cloud", "localhost", "127.0.0.1"):
                assert await tls_login(cloud.endpoints.tls_port, context, token, host) == Status.SUCCESS
            assert {e["transport"] for e in cloud.stub.events("device_online")} == {"tls"}

    run(body())


def test_a_client_trusting_another_ca_or_name_fails_the_handshake(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            assert cloud.endpoints.tls_port is not None
            stranger = LabCertificates(tmp_path / "other").ensure()
            with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
                await tls_login(cloud.endpoints.tls_port, trusting(stranger.ca_file), cloud.token())
            with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
                await tls_login(
                    cloud.endpoints.tls_port, trusting(cloud.stub.certs.ca_file), cloud.token(), "evil.test"
                )
            assert await tls_login(cloud.endpoints.tls_port, trusting(cloud.stub.certs.ca_file), cloud.token()) == 200

    run(body())


def test_rotation_and_expiry_at_run_time(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            port = cloud.endpoints.tls_port
            assert port is not None
            certs = cloud.stub.certs
            old_ca = trusting(certs.ca_file)
            serial = certs.server_certificate().serial_number
            cloud.stub.rotate_certificate()  # same CA: still trusted
            assert certs.server_certificate().serial_number != serial
            assert await tls_login(port, old_ca, cloud.token()) == Status.SUCCESS
            cloud.stub.expire_certificate()
            with pytest.raises(ssl.SSLCertVerificationError, match="certificate has expired"):
                await tls_login(port, old_ca, cloud.token())
            cloud.stub.rotate_certificate(new_ca=True)  # the old trust breaks, the new one works
            with pytest.raises(ssl.SSLCertVerificationError):
                await tls_login(port, old_ca, cloud.token())
            assert await tls_login(port, trusting(certs.ca_file), cloud.token()) == Status.SUCCESS
            kinds = [e["kind"] for e in cloud.stub.events() if e["kind"].startswith("certificate_")]
            assert kinds == ["certificate_rotated", "certificate_expired", "certificate_rotated"]

    run(body())


def test_tls_client_on_the_plain_port_and_plain_client_on_the_tls_port_never_log_in(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            assert cloud.endpoints.tls_port is not None
            context = trusting(cloud.stub.certs.ca_file)
            with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):  # C8
                await asyncio.wait_for(tls_login(cloud.endpoints.binary_port, context, cloud.token()), 10)
            plain = await RawDevice.connect(cloud.endpoints.tls_port)
            await plain.send(Command.HW_LOGIN, cloud.token().encode())
            assert await plain.closed_by_peer()
            assert not cloud.stub.online()
            hello = cloud.stub.events("bad_frame")[0]["error"]  # the plain port saw a ClientHello, not a frame
            assert "TLS client on the plain port?" in hello

    run(body())


def test_mqtt_over_tls(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            token = cloud.token()
            assert cloud.endpoints.mqtts_port is not None
            paho = PahoDevice(cloud.endpoints.mqtts_port, token, ca_file=str(cloud.stub.certs.ca_file))
            assert await asyncio.to_thread(paho.connect) == "Success"
            await device_online(cloud, token)
            assert cloud.stub.online()[0].transport.value == "mqtts"
            paho.close()

    run(body())


def test_the_ca_survives_a_restart_of_the_stub(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            ca = cloud.stub.certs.ca_file.read_bytes()
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            assert cloud.stub.certs.ca_file.read_bytes() == ca
            assert cloud.endpoints.tls_port is not None
            assert await tls_login(cloud.endpoints.tls_port, trusting(cloud.stub.certs.ca_file), cloud.token()) == 200

    run(body())


def test_cloud_certs_command(tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    runner = CliRunner()
    made = runner.invoke(main, ["cloud", "certs", "--dir", str(folder), "--host", "stub.lab", "--host", "10.0.0.5"])
    assert made.exit_code == 0, made.output
    assert "lab CA (trust this)" in made.output and (folder / "ca.pem").exists()
    cert = LabCertificates(folder).server_certificate()
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["stub.lab"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    ca_before = (folder / "ca.pem").read_bytes()
    assert runner.invoke(main, ["cloud", "certs", "--dir", str(folder), "--rotate-server"]).exit_code == 0
    assert (folder / "ca.pem").read_bytes() == ca_before
    expired = runner.invoke(main, ["cloud", "certs", "--dir", str(folder), "--expired"])
    assert expired.exit_code == 0
    server = LabCertificates(folder).server_certificate()
    assert server.not_valid_after_utc < LabCA.load(folder).cert.not_valid_after_utc
    assert runner.invoke(main, ["cloud", "certs", "--dir", str(folder), "--rotate-ca"]).exit_code == 0
    assert (folder / "ca.pem").read_bytes() != ca_before
    both = runner.invoke(main, ["cloud", "certs", "--dir", str(folder), "--rotate-ca", "--expired"])
    assert both.exit_code == 2 and "at most one" in both.output
    assert oct((folder / "server.key").stat().st_mode & 0o777) == "0o600"


def test_a_mute_tls_device_is_offline_at_its_heartbeat_deadline(tmp_path: Path) -> None:
    """C11 over TLS: the peer neither sends nor reads (its radio is gone). The stub must not wait for the
    TLS close_notify it will never get: offline at h-beat x 1.5, binary protocol and MQTT alike."""

    async def body() -> None:
        scale = 0.05  # h-beat 10 device s x 1.5 = 0.75 wall s; asyncio's TLS shutdown wait is 30 wall s
        async with running_cloud(tmp_path / "cloud.db", time_scale=scale) as cloud:
            assert cloud.endpoints.tls_port is not None
            token = cloud.token()
            device = await RawDevice.connect(
                cloud.endpoints.tls_port, ssl_context=trusting(cloud.stub.certs.ca_file), server_hostname="blynk.cloud"
            )
            await device.login_esp32(token, heartbeat=10)
            device_id = await device_online(cloud, token)
            device.writer.transport.pause_reading()  # mute: the close_notify is never read nor answered
            assert await cloud.stub.wait_offline(device_id, 10 / scale)  # ceiling: 10 wall s, far below 30
            assert cloud.stub.events("device_offline")[-1]["reason"] == "no traffic for heartbeat x 1.5"
            device.writer.transport.abort()
            assert cloud.endpoints.mqtts_port is not None
            token = cloud.token()
            paho = PahoDevice(cloud.endpoints.mqtts_port, token, keepalive=10, ca_file=str(cloud.stub.certs.ca_file))
            assert await asyncio.to_thread(paho.connect) == "Success"
            device_id = await device_went_online(cloud, token)  # may be over already: 0.75 wall s of keep-alive
            paho.go_silent()  # paho's network thread stops: nothing sent, nothing read
            assert await cloud.stub.wait_offline(device_id, 10 / scale)
            assert cloud.stub.events("device_offline")[-1]["reason"] == "no traffic for heartbeat x 1.5"

    run(body())
