"""The `nm` backend's parsing and bookkeeping, against the fake nmcli on PATH."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from provlab.lab.config import load_config
from provlab.wifi.adapter_air import AdapterAir, RecordedStation
from provlab.wifi.backend import RadioControlError, Security
from provlab.wifi.nm import (
    NmBackend,
    parse_device_show,
    parse_wifi_list,
    rssi_from_signal,
    security_from_nm,
    split_terse,
)
from provlab.wifi.world import open_air


def test_terse_lines_split_at_unescaped_colons() -> None:
    assert split_terse(r"My\:Net:02\:50\:4C\:00\:00\:01:6:75:WPA2") == [
        "My:Net",
        "02:50:4C:00:00:01",
        "6",
        "75",
        "WPA2",
    ]
    assert split_terse(r"back\\slash:x") == ["back\\slash", "x"]


def test_wifi_list_and_device_show() -> None:
    aps = parse_wifi_list(
        "Home:02\\:50\\:4C\\:00\\:00\\:01:6:100:WPA1 WPA2\nBlynk Device-1W7R:24\\:6F\\:28\\:AA\\:BB\\:CD:1:50:\n"
    )
    assert [(a.ssid, a.bssid, a.channel, a.rssi, a.security) for a in aps] == [
        ("Home", "02:50:4C:00:00:01", 6, -40, Security.WPA_WPA2),
        ("Blynk Device-1W7R", "24:6F:28:AA:BB:CD", 1, -70, Security.OPEN),
    ]
    shown = "IP4.ADDRESS[1]:192.168.4.2/24\nIP4.GATEWAY:192.168.4.1\nIP4.DNS[1]:192.168.4.1\nIP4.DNS[2]:1.1.1.1\n"
    assert parse_device_show(shown) == ("192.168.4.2/24", "192.168.4.1", ["192.168.4.1", "1.1.1.1"])
    assert rssi_from_signal(0) == -100 and rssi_from_signal(100) == -40
    assert security_from_nm("--") is Security.OPEN and security_from_nm("WPA3") is Security.WPA3


def _state(path: Path, **extra: object) -> None:
    ap = {
        "ssid": "ProvlabHome",
        "bssid": "02:50:4C:00:00:01",
        "chan": 6,
        "signal": 80,
        "security": "WPA2",
        "psk": "pw-pw-pw-pw",
        "address": "127.77.8.2/24",
        "gateway": "127.77.8.1",
        "dns": ["127.77.8.1"],
    }
    path.write_text(json.dumps({"aps": [ap], "active": None, "connections": {}, "log": [], **extra}))


def test_join_names_its_connection_and_leave_deletes_exactly_that(fake_nmcli_on_path: Path, tmp_path: Path) -> None:
    state = tmp_path / "nmcli.json"
    _state(state)
    backend = NmBackend("lo")

    async def scenario() -> None:
        link = await backend.join("ProvlabHome", "pw-pw-pw-pw")
        assert (link.ip, link.gateway, link.lease.dns) == ("127.77.8.2", "127.77.8.1", ("127.77.8.1",))
        assert link.bssid == "02:50:4C:00:00:01"
        await backend.leave()

    asyncio.run(scenario())
    backend.close()
    calls = json.loads(state.read_text())["log"]
    connect = next(c for c in calls if "connect" in c)
    assert connect[-4:] == ["ifname", "lo", "name", "provlab-lo"]
    assert ["nmcli", "connection", "delete", "provlab-lo"] in calls
    assert json.loads(state.read_text())["connections"] == {}


def test_an_nmcli_failure_is_a_radio_control_error(fake_nmcli_on_path: Path, tmp_path: Path) -> None:
    (tmp_path / "nmcli.json").write_text("not json")
    backend = NmBackend("lo")
    with pytest.raises(RadioControlError, match="nmcli wifi list on lo"):
        asyncio.run(backend.scan())
    backend.close()


def test_wifi_nm_in_a_provlab_toml_gives_the_lab_an_air_whose_phone_radio_is_nm(
    fake_nmcli_on_path: Path, tmp_path: Path
) -> None:
    """Issue 14 §7 through the lab's own path: `wifi = "nm:lo"` and `[phone_radio] nmcli = …` in provlab.toml are
    what `Lab` hands to `open_air`; the air's one station (the phone's radio) is the nm backend on that nmcli, and
    its scan is what NetworkManager lists."""
    _state(tmp_path / "nmcli.json")
    nmcli = fake_nmcli_on_path / "nmcli"
    (tmp_path / "provlab.toml").write_text(
        f'wifi = "nm:lo"\n[phone_radio]\nnmcli = "{nmcli}"\njoin_timeout = 5\n'
        '[boards]\nattached = ["/dev/ttyUSB0"]\n[cloud]\nurl = "http://127.0.0.1:9"\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path / "provlab.toml")
    assert (config.wifi, dict(config.phone_radio)) == ("nm:lo", {"nmcli": str(nmcli), "join_timeout": 5})
    air = open_air(config.wifi, adapter_options=config.phone_radio)  # as Lab._build opens it
    try:
        assert isinstance(air, AdapterAir) and not air.hosted
        station = air.station("phone-1")
        assert isinstance(station, RecordedStation) and isinstance(station.backend, NmBackend)
        assert (station.backend.iface, station.backend.nmcli, station.backend.join_timeout) == ("lo", str(nmcli), 5)
        found = asyncio.run(station.scan())
        assert [(ap.ssid, ap.bssid, ap.channel, ap.security) for ap in found] == [
            ("ProvlabHome", "02:50:4C:00:00:01", 6, Security.WPA2)
        ]
        assert [(event.kind, event.station) for event in air.events] == [("probe_req", "phone-1")]
    finally:
        air.close()
    calls = json.loads((tmp_path / "nmcli.json").read_text())["log"]
    assert [call[-7:] for call in calls] == [["device", "wifi", "list", "ifname", "lo", "--rescan", "yes"]]
