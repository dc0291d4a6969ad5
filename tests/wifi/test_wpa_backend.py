"""The `wpa` backend's workarounds for pywifi, against the fake wpa_supplicant control socket."""

from __future__ import annotations

import asyncio
import glob
import time
from pathlib import Path

import pytest
from fake_wpa import FakeAp, FakeWpaSupplicant
from pywifi import _wifiutil_linux

from provlab.wifi.adapter import FixedAddressing, security_from_flags
from provlab.wifi.backend import AuthenticationFailed, JoinTimeout, Security
from provlab.wifi.dhcp import Lease
from provlab.wifi.wpa import WpaBackend, decode_ssid, parse_scan_results
from provlab.wifi.wpa_ctrl import BoundedWifiUtil, WpaTimeout

APS = [
    FakeAp("ProvlabHome", "02:50:4c:00:00:01", 2437, -55, "[WPA2-PSK-CCMP][ESS]", psk="pw-pw-pw-pw"),
    FakeAp("Blynk Device-1W7R", "24:6f:28:aa:bb:cd", 2412, -40, "[ESS]"),
]


@pytest.fixture
def fake(tmp_path: Path) -> FakeWpaSupplicant:
    wpa = FakeWpaSupplicant(str(tmp_path), "wlan9", list(APS))
    yield wpa  # type: ignore[misc]
    wpa.close()


def _backend(fake: FakeWpaSupplicant, **kw: object) -> WpaBackend:
    lease = Lease("127.77.9.2", 24, "127.77.9.1", (), "127.77.9.1", 0)
    options: dict[str, object] = {"reply_timeout": 0.3, "scan_wait": 0.1, "join_timeout": 0.5}
    options.update(kw)
    return WpaBackend(
        "wlan9",
        ctrl_dir=fake.ctrl_dir,
        addressing=FixedAddressing({ap.ssid: lease for ap in APS}),
        bind_device=False,
        **options,  # type: ignore[arg-type]
    )


def test_a_silent_wpa_supplicant_times_out_instead_of_hanging(fake: FakeWpaSupplicant) -> None:
    fake.silent = {"SCAN_RESULTS"}
    backend = _backend(fake)
    started = time.monotonic()
    with pytest.raises(WpaTimeout, match=r"did not answer .SCAN_RESULTS. within 0\.3 s"):
        asyncio.run(backend.scan())
    assert time.monotonic() - started < 5
    backend.close()


def test_a_late_reply_is_not_taken_for_the_next_one(fake: FakeWpaSupplicant) -> None:
    fake.late = {"STATUS": 2.0}
    util = BoundedWifiUtil(fake.ctrl_dir, reply_timeout=0.2)
    util._connect_to_wpa_s("wlan9")
    with pytest.raises(WpaTimeout):
        util.command("wlan9", "STATUS")
    assert fake.late_sent.wait(30)  # the STATUS reply has arrived, unasked
    assert util.command("wlan9", "PING") == "PONG\n"
    util.close()


def test_unsolicited_events_are_skipped(fake: FakeWpaSupplicant) -> None:
    fake.event_before_reply = True
    backend = _backend(fake)
    aps = asyncio.run(backend.scan())
    assert {ap.ssid for ap in aps} == {"ProvlabHome", "Blynk Device-1W7R"}
    backend.close()


def test_private_client_sockets_and_configurable_control_dir(fake: FakeWpaSupplicant) -> None:
    first, second = _backend(fake), _backend(fake)
    asyncio.run(first.scan())
    asyncio.run(second.scan())  # two clients on one interface, each gets its own replies
    assert not glob.glob("/tmp/pywifi_wlan9")  # pywifi's fixed path is never used
    assert _wifiutil_linux.CTRL_IFACE_DIR == "/var/run/wpa_supplicant"  # and pywifi is not patched
    assert _wifiutil_linux.WifiUtil._connections == {}
    first.close()
    second.close()


def test_join_goes_through_pywifi_profiles(fake: FakeWpaSupplicant) -> None:
    backend = _backend(fake)

    async def scenario() -> None:
        link = await backend.join("ProvlabHome", "pw-pw-pw-pw")
        assert link.ssid == "ProvlabHome" and link.bssid == "02:50:4C:00:00:01" and link.ip == "127.77.9.2"
        await backend.leave()
        with pytest.raises(AuthenticationFailed):
            await backend.join("ProvlabHome", "wrong")

    asyncio.run(scenario())
    sent = fake.commands
    assert 'SET_NETWORK 0 ssid "ProvlabHome"' in sent and "SET_NETWORK 0 key_mgmt WPA-PSK" in sent
    assert "SELECT_NETWORK 0" in sent and "DISCONNECT" in sent and "REMOVE_NETWORK all" in sent
    backend.close()


def test_an_ap_that_never_completes_is_a_join_timeout(fake: FakeWpaSupplicant) -> None:
    fake.aps = [*APS, FakeAp("Flaky", "02:00:00:00:00:99", 2462, -60, "[ESS]")]

    def never_completes(network_id: int) -> str:
        fake.state = "ASSOCIATING"
        return "OK\n"

    fake._select = never_completes  # type: ignore[method-assign]
    backend = _backend(fake)
    with pytest.raises(JoinTimeout, match=r"'Flaky' did not complete within 0\.5 s"):
        asyncio.run(backend.join("Flaky"))
    assert fake.commands[-1] == "REMOVE_NETWORK all"  # nothing left configured behind us
    backend.close()


def test_scan_results_parsing() -> None:
    text = (
        "bssid / frequency / signal level / flags / ssid\n"
        "02:50:4c:00:00:01\t2437\t-55\t[WPA2-PSK-CCMP][ESS]\tProvlab\\x20Home\n"
        "02:50:4c:00:00:02\t5180\t-71\t[WPA2-SAE-CCMP][ESS]\tWPA3 net\n"
        "02:50:4c:00:00:03\t2412\t-80\t[WEP][ESS]\tOld\n"
    )
    aps = parse_scan_results(text)
    assert [(a.ssid, a.channel, a.rssi, a.security) for a in aps] == [
        ("Provlab Home", 6, -55, Security.WPA2),
        ("WPA3 net", 36, -71, Security.WPA3),
        ("Old", 1, -80, Security.WEP),
    ]
    assert decode_ssid('a\\"b\\\\c') == 'a"b\\c'
    assert security_from_flags("[WPA-PSK-TKIP][WPA2-PSK-CCMP][ESS]") is Security.WPA_WPA2
    assert security_from_flags("[ESS]") is Security.OPEN
