"""The SoftAP and its web server (spec §2): SSID, open network, DNS, every endpoint byte-exact."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from devrig import HOME_PASS, HOME_SSID, TOKEN, MiniCloud, Rig, http, join_ap, provision, run, start_rig

from provlab.protocol.config_blob import ConfigBlob
from provlab.protocol.states import EdgentState as S
from provlab.wifi.backend import DnsFailure, Security

BOARD_INFO = (
    b'{"board":"Device","tmpl_id":"TMPL0TEST01","fw_type":"TMPL0TEST01","fw_ver":"0.1.0",'
    b'"ssid":"Blynk Device-1W7R","bssid":"24:6F:28:AA:BB:CD","mac":"24:6F:28:AA:BB:CC",'
    b'"last_error":0,"wifi_scan":true,"static_ip":true}'
)


async def ap_rig(tmp: Path) -> Rig:
    rig = await start_rig(tmp)
    await rig.wait_ap()
    return rig


def test_ssid_open_network_and_dns(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await ap_rig(tmp_path)
        assert rig.board.ssid == "Blynk Device-1W7R"  # the spec's worked example for MAC 24:6F:28:AA:BB:CC
        ap = rig.air.find(rig.board.ssid)
        assert ap is not None and ap.security is Security.OPEN and ap.bssid == "24:6F:28:AA:BB:CD"
        _, link = await join_ap(rig)  # no passphrase needed
        assert link.gateway == "192.168.4.1" and link.ip.startswith("192.168.4.")
        assert link.resolve("blynk.setup") == "192.168.4.1"
        with pytest.raises(DnsFailure):
            link.resolve("blynk.cloud")
        await rig.shutdown()

    run(body())


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_every_endpoint_answers_any_method(method: str, tmp_path: Path) -> None:
    async def body() -> None:
        rig = await ap_rig(tmp_path)
        _, link = await join_ap(rig)
        info = await http(link, method, "/board_info.json")
        assert info is not None
        assert (
            info.raw
            == (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n" % len(BOARD_INFO)
            )
            + BOARD_INFO
        )
        root = await http(link, method, "/")
        assert root is not None and root.status == 200 and root.headers["content-type"] == "text/html"
        assert b"<title>WiFi setup</title>" in root.body and b'name="port_ssl"' in root.body
        scan = await http(link, method, "/wifi_scan.json")
        assert scan is not None and scan.status == 200
        bssid = rig.home.bssid
        assert scan.body == b'[\n  {"ssid":"Home","bssid":"%s","rssi":-50,"sec":"WPA2","ch":6}\n]' % bssid.encode()
        bad = await http(link, method, "/config?ssid=Home&blynk=short")
        assert bad is not None and (bad.status, bad.body) == (500, b'{"status":"error","msg":"Configuration invalid"}')
        missing = await http(link, method, "/nope?x=1")
        assert missing is not None
        assert (missing.status, missing.headers["content-type"], missing.body) == (
            404,
            "text/html",
            b"Not found: /nope",
        )
        reset = await http(link, method, "/reset")
        assert reset is not None and reset.body == b'{"status":"ok","msg":"Configuration reset"}'
        texts = rig.capture.log_texts()
        assert [t for t in texts if "etwork" in t and "WiFi" not in t] == ["Scanning networks...", "Found networks: 1"]
        assert "Configuration invalid" in texts
        await rig.shutdown()

    run(body())


def test_config_form_body_and_post_form_arguments(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await ap_rig(tmp_path)
        _, link = await join_ap(rig)
        form = f"ssid={HOME_SSID}&pass={HOME_PASS}&blynk={TOKEN}&port_ssl=8443&save=1".encode()
        reply = await http(link, "POST", "/config", form, {"Content-Type": "application/x-www-form-urlencoded"})
        assert reply is not None and (reply.status, reply.body) == (200, b'{"status":"ok","msg":"Configuration saved"}')
        stored = ConfigBlob.unpack((tmp_path / "board.nvs").read_bytes())
        assert stored.is_valid and stored.cloud_port == 8443 and stored.cloud_host == "blynk.cloud"
        texts = rig.capture.log_texts()
        start = texts.index("Applying configuration...")
        assert texts[start : start + 4] == [
            "Applying configuration...",
            f"WiFi SSID: {HOME_SSID} Pass: {HOME_PASS}",
            f"Blynk cloud: {TOKEN} @ :8443",
            "Configuration stored to flash",
        ]
        await rig.shutdown()

    run(body())


def test_invalid_config_changes_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await ap_rig(tmp_path)
        _, link = await join_ap(rig)
        await http(link, "GET", "/board_info.json")
        for query in (f"ssid=Home&blynk={TOKEN[:31]}&save=1", f"ssid=&blynk={TOKEN}&save=1"):
            reply = await http(link, "GET", f"/config?{query}")
            assert reply is not None and reply.status == 500
        assert rig.board.state is S.CONFIGURING
        assert not (tmp_path / "board.nvs").exists()  # nothing written to flash (P7)
        await rig.shutdown()

    run(body())


def test_ssid_manual_wins(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await ap_rig(tmp_path)
        reply = await provision(rig, 1, ssidManual="Typed")
        assert reply.status == 200
        assert rig.board.config.wifi_ssid == "Typed"
        await rig.wait_log("Connecting to WiFi: Typed")
        await rig.shutdown()

    run(body())


def test_ap_goes_away_about_1_1_s_after_a_valid_config(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await ap_rig(tmp_path)
        gone: list[int] = []
        rig.air.listeners.append(
            lambda e: gone.append(rig.clock.millis()) if e.kind == "beacon_stop" and e.ssid == rig.board.ssid else None
        )
        await provision(rig, 1)
        await rig.wait_state(S.CONNECTING_NET)
        switched = next(r.millis for r in rig.board.history if r.target is S.SWITCH_TO_STA)
        connecting = next(r.millis for r in rig.board.history if r.target is S.CONNECTING_NET)
        assert gone and gone[0] - switched >= 1000  # delay(1000), then WiFi.mode(WIFI_OFF) drops the AP
        assert connecting - switched >= 1100  # … delay(100), WIFI_STA: ~1.1 s after the /config reply
        await rig.shutdown()

    run(body())


def test_two_phones_configure_at_once_one_wins(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await ap_rig(tmp_path)
        _, first = await join_ap(rig, "phone-1")
        _, second = await join_ap(rig, "phone-2")
        tokens = ["1" * 32, "2" * 32]
        replies = await asyncio.gather(
            *(
                http(link, "GET", f"/config?ssid={HOME_SSID}&pass={HOME_PASS}&blynk={t}&port_ssl={port}")
                for link, t in zip((first, second), tokens, strict=True)
            )
        )
        answered = [t for t, r in zip(tokens, replies, strict=True) if r is not None]
        assert len(answered) == 1 and replies.count(None) == 1
        await rig.wait_state(S.RUNNING)
        assert rig.board.config.cloud_token == answered[0]
        assert {f.body.decode() for f in cloud.frames if f.command == 29} == {answered[0]}
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_update_page_and_a_bad_upload(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await ap_rig(tmp_path)
        _, link = await join_ap(rig)
        page = await http(link, "GET", "/update")
        assert page is not None and page.status == 200 and b'name="update"' in page.body
        assert (await http(link, "PUT", "/update")) is not None  # only GET and POST are registered
        boundary = "b0undary"
        upload = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="update"; filename="x.bin"\r\n\r\n'
            f"not an image\r\n--{boundary}--\r\n"
        ).encode()
        reply = await http(
            link, "POST", "/update", upload, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        assert reply is not None and (reply.status, reply.body) == (500, b"FAIL")
        await rig.wait_log("INIT => WAIT_CONFIG", count=2)  # it reboots either way
        # the only sector fails its magic check inside `Update.end()`, which goes on to `_verifyEnd()` (audit #11)
        texts = rig.capture.log_texts()
        at = texts.index("Finishing...")
        assert texts[at - 1 : at + 2] == ["Update: x.bin", "Finishing...", "Flash Read Failed"]
        assert rig.board.profile.fw_version == "0.1.0"
        await rig.shutdown()

    run(body())
