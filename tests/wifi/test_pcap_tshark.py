"""The `sim` pcap as Wireshark reads it: tshark over captures of the air and of representative scenarios.

Zero malformed packets, the frame types of a scan and a join (rates and AP capabilities in the
association response), the EAPOL 4-way handshake of a WPA2 join, deauthentication with its reason,
and sequence numbers that advance per transmitter. The whole built-in suite: `benchmarks/bench_pcaps.py`.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from provlab.wifi.sim import SimAir
from provlab.wifi.tshark import dissect, tshark_path

pytestmark = pytest.mark.skipif(tshark_path() is None, reason="tshark is not installed (.ci/run installs it)")

REPRESENTATIVE = "test_happy_path or wrong_wifi_password_reports_701 or test_home_ap_lost_while_running"


def _tshark_fields(path: Path, display_filter: str, *fields: str) -> list[list[str]]:
    args = [arg for name in fields for arg in ("-e", name)]
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", display_filter, "-T", "fields", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_a_scan_a_failed_and_a_good_wpa2_join_and_a_kick_read_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "air.pcap"

    async def scenario() -> None:
        air = SimAir()
        air.add_network("Home", passphrase="pw-pw-pw-pw", channel=11)
        air.add_network("Cafe", channel=36)  # open, 5 GHz
        air.start_capture(path)
        station = air.station("phone")
        await station.scan()
        with pytest.raises(Exception, match="wrong passphrase"):
            await station.join("Home", "nope")
        await station.join("Home", "pw-pw-pw-pw")
        air.faults.kick("Home")
        await station.join("Cafe")
        air.close()

    asyncio.run(scenario())
    report = dissect(path)
    assert report.malformed == []
    for kind in ("beacon", "probe_req", "probe_resp", "auth", "assoc_req", "assoc_resp", "deauth", "eapol"):
        assert report.kinds[kind] > 0, (kind, report.kinds)
    # wrong passphrase: messages 1 and 2 twice, then deauth 15; the good join: 1-4; the open network: none
    assert report.eapol_messages == [1, 2, 1, 2, 1, 2, 3, 4]
    assert report.deauth_reasons == [15, 2]
    assert report.sequence_goes_back() == []
    assert all(len(numbers) >= 2 for numbers in report.sequences.values())

    responses = _tshark_fields(
        path, "wlan.fc.type_subtype == 1", "wlan.fixed.capabilities.ess", "wlan.supported_rates", "wlan.fixed.aid"
    )
    assert len(responses) == 3
    for ess, rates, aid in responses:
        assert ess in ("1", "True") and rates and int(aid, 0) & 0x3FFF == 1
    privacy = _tshark_fields(path, "wlan.fc.type_subtype == 8", "wlan.ssid", "wlan.fixed.capabilities.privacy")
    protected = {bytes.fromhex(ssid).decode(): flag in ("1", "True") for ssid, flag in privacy}
    assert protected == {"Home": True, "Cafe": False}


def test_representative_scenarios_leave_pcaps_wireshark_accepts(tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    proc = subprocess.run(
        [sys.executable, "-m", "provlab", "run", "-k", REPRESENTATIVE, "--artifacts", str(evidence)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pcaps = {p.parent.name: dissect(p) for p in sorted(evidence.glob("*/wifi.pcap"))}
    assert set(pcaps) == {
        "test_happy_path",
        "wrong_wifi_password_reports_701",
        "test_home_ap_lost_while_running_comes_back_with_the_same_token",
    }
    for name, report in pcaps.items():
        assert report.frames > 0 and report.malformed == [], name
        assert report.sequence_goes_back() == [], name
        assert {"beacon", "probe_req", "probe_resp", "auth", "assoc_req", "assoc_resp", "deauth"} <= set(report.kinds)
    for name in ("test_happy_path", "test_home_ap_lost_while_running_comes_back_with_the_same_token"):
        assert pcaps[name].eapol_messages[:4] == [1, 2, 3, 4], name  # the board's WPA2 join of the home network
    wrong = pcaps["wrong_wifi_password_reports_701"]
    assert wrong.eapol_messages[:4] == [1, 2, 1, 2] and 3 not in wrong.eapol_messages  # message 2 never verifies
    assert 15 in wrong.deauth_reasons  # 4-way handshake timeout
    assert 3 in pcaps["test_happy_path"].deauth_reasons  # the phone leaves the board's AP
