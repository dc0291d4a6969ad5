"""Capture: a `sim` run writes 802.11 frames for its air events; a `netns` run captures its real traffic."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from phone_world import HOME_PASS, HOME_SSID, World, run_in_world, skip_without_netns


def _linktype(path: Path) -> int:
    header = path.read_bytes()[:24]
    assert header[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4"), "not a pcap file"
    endian = "<" if header[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    return int(struct.unpack(endian + "I", header[20:24])[0])


def test_sim_run_writes_80211_management_frames(tmp_path: Path) -> None:
    from scapy.layers.dot11 import Dot11AssoReq, Dot11Auth, Dot11Beacon, Dot11Deauth, Dot11Elt, RadioTap
    from scapy.utils import rdpcap

    async def body(world: World) -> None:
        enrollment = await world.provision(world.phone(), world.boards[0])
        assert enrollment.ok

    run_in_world("sim", tmp_path, body, capture=True)
    pcap = tmp_path / "wifi.pcap"
    assert _linktype(pcap) == 127  # IEEE 802.11 + radiotap: what Wireshark and tshark expect
    frames = rdpcap(str(pcap))
    assert all(frame.haslayer(RadioTap) for frame in frames)
    beacons = {bytes(f[Dot11Elt].info).decode() for f in frames if f.haslayer(Dot11Beacon)}
    assert HOME_SSID in beacons and any(s.startswith("Blynk Device-") for s in beacons)
    assert any(f.haslayer(Dot11Auth) for f in frames) and any(f.haslayer(Dot11AssoReq) for f in frames)
    assert any(f.haslayer(Dot11Deauth) for f in frames)  # the phone leaving, the SoftAP going away
    assert [f.time for f in frames] == sorted(f.time for f in frames)


def test_netns_run_captures_real_traffic(tmp_path: Path) -> None:
    skip_without_netns("netns")
    from scapy.layers.dhcp import DHCP
    from scapy.layers.dns import DNSQR
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import rdpcap

    async def body(world: World) -> None:
        enrollment = await world.provision(world.phone(), world.boards[0])
        assert enrollment.ok

    run_in_world("netns", tmp_path, body, capture=True)
    pcap = tmp_path / "wifi.pcap"
    assert _linktype(pcap) == 1  # Ethernet
    frames = rdpcap(str(pcap))
    assert all(frame.haslayer(Ether) for frame in frames)
    assert any(f.haslayer(DHCP) for f in frames)
    names = {f[DNSQR].qname for f in frames if f.haslayer(DNSQR)}
    assert b"blynk.cloud." in names
    payloads = b"".join(bytes(f[Raw].load) for f in frames if f.haslayer(TCP) and f.haslayer(Raw))
    assert b"GET /board_info.json" in payloads and b"GET /config?" in payloads
    assert any(f.haslayer(IP) and f[IP].dst.startswith("198.18.") for f in frames)  # board -> cloud uplink
    assert all(not f.haslayer(IP) or not f[IP].dst.startswith("127.") for f in frames)


def test_netns_capture_follows_a_board_that_rebuilds_its_ap(tmp_path: Path) -> None:
    """A factory reset deletes and recreates the SoftAP bridge; the capture follows it and the board lives on."""
    skip_without_netns("netns")
    from scapy.layers.inet import TCP
    from scapy.packet import Raw
    from scapy.utils import rdpcap

    from provlab.protocol.states import EdgentState

    async def body(world: World) -> None:
        board = world.boards[0]
        assert (await world.provision(world.phone(), board)).ok
        await world.wait_for(lambda: board.state is EdgentState.RUNNING, 60, "RUNNING")
        board.set_state(EdgentState.RESET_CONFIG)
        await world.wait_for(lambda: board.state is EdgentState.WAIT_CONFIG, 60, "WAIT_CONFIG")
        again = await world.provision(world.phone(), board)
        assert again.ok, (again.failure, [(s.name, s.error) for s in again.steps])

    run_in_world("netns", tmp_path, body, capture=True)
    frames = rdpcap(str(tmp_path / "wifi.pcap"))
    payloads = [bytes(f[Raw].load) for f in frames if f.haslayer(TCP) and f.haslayer(Raw)]
    assert sum(p.startswith(b"GET /board_info.json") for p in payloads) == 2


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked-pcap"])
def test_netns_capture_masks_the_wifi_password_and_the_token(tmp_path: Path, masked: bool) -> None:
    """The phone's `/config?…&pass=…&blynk=…` and the board's plain-TCP login would put both in clear."""
    skip_without_netns("netns")
    tokens: list[str] = []

    async def body(world: World) -> None:
        enrollment = await world.provision(world.phone(), world.boards[0])
        assert enrollment.ok and enrollment.token
        tokens.append(enrollment.token)

    run_in_world("netns", tmp_path, body, capture=True, masked=masked)
    data = (tmp_path / "wifi.pcap").read_bytes()
    secrets = {"passphrase": HOME_PASS.encode(), "token": tokens[0].encode()}
    found = {name for name, secret in secrets.items() if secret in data}
    assert b"GET /config?" in data  # the exchange that carries both is in the capture
    if masked:
        assert found == set()
        assert b"pass=" + b"*" * len(HOME_PASS) in data and tokens[0][:4].encode() + b"*" * 28 in data
        assert _bad_checksums(tmp_path / "wifi.pcap") == []  # masked frames got their checksums recomputed
    else:
        assert found == {"passphrase", "token"}  # what --unmasked-pcap is for; proves the check above can fail


def _bad_checksums(path: Path) -> list[str]:
    """Masked frames whose IP, TCP or UDP checksum does not verify (scapy recomputes each and compares).

    Only masked frames: the others are as the kernel handed them over, checksums left to the veth's offload.
    """
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.packet import Raw
    from scapy.utils import rdpcap

    bad = []
    masked = [f for f in rdpcap(str(path)) if f.haslayer(Raw) and b"********" in bytes(f[Raw].load)]
    assert masked
    for number, frame in enumerate(masked, 1):
        for layer in (IP, TCP, UDP):
            if frame.haslayer(layer):
                fresh = frame[IP].copy()
                del fresh[layer].chksum
                if IP(bytes(fresh))[layer].chksum != frame[layer].chksum:
                    bad.append(f"masked frame {number}: {layer.__name__}")
    return bad


@pytest.mark.parametrize("unmasked", [False, True], ids=["default", "unmasked-pcap"])
def test_provlab_run_on_netns_masks_the_pcap_unless_asked_not_to(tmp_path: Path, unmasked: bool) -> None:
    """The whole path: `provlab run --wifi netns [--unmasked-pcap]` -> plugin -> LabConfig -> the capture."""
    import subprocess
    import sys

    from provlab.lab.config import LabConfig

    skip_without_netns("netns")
    evidence = tmp_path / "ev"
    command = [sys.executable, "-m", "provlab", "run", "--wifi", "netns", "-k", "test_happy_path"]
    command += ["--artifacts", str(evidence), *(["--unmasked-pcap"] if unmasked else [])]
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = (evidence / "test_happy_path" / "wifi.pcap").read_bytes()
    assert b"GET /config?" in data
    assert (LabConfig().home.passphrase.encode() in data) is unmasked
