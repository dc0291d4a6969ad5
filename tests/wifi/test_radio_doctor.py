"""`provlab doctor` for a real adapter as the phone's radio (issue 14, point 7): adapter, permissions, daemon.

The daemons are the fakes of their control interfaces (wpa_supplicant's socket protocol, nmcli's output); the
adapter checks read a sysfs-shaped tree (this machine has no Wi-Fi interface) and, for the negative case, the
real /sys/class/net.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_wpa import FakeAp, FakeWpaSupplicant

from provlab import cli
from provlab.cli import main
from provlab.lab.doctor import Finding, Status
from provlab.lab.radio_doctor import adapter_findings, check_adapter

APS = [FakeAp("Blynk Device-1W7R", "24:6f:28:aa:bb:cd", 2412, -40, "[ESS]")]
ROOT_CAPS = "CapEff:\t000001ffffffffff\n"
NO_CAPS = "CapEff:\t0000000000000000\n"


def sysfs(tmp_path: Path, *, rfkill_soft: str = "0", rfkill_hard: str = "0") -> tuple[Path, Path]:
    """A /sys/class/net with wlan0 (on phy0) and eth0, and a /sys/class/rfkill with phy0's wlan switch."""
    net, rfkill, phy = tmp_path / "net", tmp_path / "rfkill", tmp_path / "ieee80211" / "phy0"
    phy.mkdir(parents=True)
    (net / "wlan0").mkdir(parents=True)
    (net / "wlan0" / "phy80211").symlink_to(phy)
    (net / "eth0").mkdir()
    switch = rfkill / "rfkill0"
    switch.mkdir(parents=True)
    (switch / "type").write_text("wlan\n")
    (switch / "device").symlink_to(phy)
    (switch / "soft").write_text(rfkill_soft + "\n")
    (switch / "hard").write_text(rfkill_hard + "\n")
    return net, rfkill


def status_file(tmp_path: Path, caps: str) -> Path:
    path = tmp_path / "status"
    path.write_text("Name:\tpython3\n" + caps)
    return path


@pytest.fixture
def wpa(tmp_path: Path) -> Iterator[FakeWpaSupplicant]:
    ctrl = tmp_path / "wpa_supplicant"
    ctrl.mkdir()
    fake = FakeWpaSupplicant(str(ctrl), "wlan0", list(APS))
    yield fake
    fake.close()


def by_area(found: list[Finding]) -> dict[str, Finding]:
    return {item.area: item for item in found}


def test_a_usable_wpa_adapter_passes_all_three_checks(tmp_path: Path, wpa: FakeWpaSupplicant) -> None:
    net, rfkill = sysfs(tmp_path)
    found = by_area(
        adapter_findings(
            "wpa:wlan0",
            {"ctrl_dir": wpa.ctrl_dir},
            sys_net=net,
            sys_rfkill=rfkill,
            proc_status=status_file(tmp_path, ROOT_CAPS),
        )
    )
    assert [f.status for f in found.values()] == [Status.OK, Status.OK, Status.OK], found
    assert found["adapter"].detail == "wlan0 is a Wi-Fi interface (phy0)"
    assert found["daemon"].detail == f"wpa_supplicant answers on {wpa.path} (wpa_state=DISCONNECTED)"
    assert "PING" in wpa.commands


def test_each_missing_piece_is_named_with_its_fix(tmp_path: Path, wpa: FakeWpaSupplicant) -> None:
    net, rfkill = sysfs(tmp_path)
    missing = adapter_findings(
        "wpa:wlan1",
        {"ctrl_dir": wpa.ctrl_dir},
        sys_net=net,
        sys_rfkill=rfkill,
        proc_status=status_file(tmp_path, NO_CAPS),
    )
    adapter, rights, daemon = missing
    assert (adapter.status, adapter.detail) == (Status.FAIL, "no interface 'wlan1'")
    assert adapter.hint.startswith("Wi-Fi interfaces here: wlan0;")
    assert rights.status is Status.FAIL
    assert (
        rights.detail
        == "provlab's DHCP client on wlan1 needs CAP_NET_ADMIN and CAP_NET_RAW (it sets the address it gets)"
    )
    assert daemon.status is Status.FAIL and daemon.detail.startswith("no wpa_supplicant for wlan1 (control sockets in")
    assert daemon.detail == f"no wpa_supplicant for wlan1 (control sockets in {wpa.ctrl_dir}: wlan0)"
    assert daemon.hint in (
        f"start it: wpa_supplicant -B -i wlan1 -C {wpa.ctrl_dir} (or systemctl start wpa_supplicant@wlan1)",
        "install wpa_supplicant (apt install wpasupplicant), then start it on the interface",
    )

    eth = check_adapter("eth0", net, rfkill)
    assert (eth.status, eth.detail, eth.hint) == (
        Status.FAIL,
        "eth0 is not a Wi-Fi interface",
        "Wi-Fi interfaces here: wlan0",
    )


def test_the_real_loopback_interface_is_not_a_wifi_adapter() -> None:
    found = check_adapter("lo")
    assert found.status is Status.FAIL and found.detail == "lo is not a Wi-Fi interface"


@pytest.mark.parametrize(
    ("soft", "hard", "detail", "hint"),
    [
        ("1", "0", "wlan0 is blocked by rfkill (soft)", "run: rfkill unblock wifi"),
        ("0", "1", "wlan0 is blocked by a hardware rfkill switch", "flip the switch"),
    ],
)
def test_an_rfkill_block_is_reported(tmp_path: Path, soft: str, hard: str, detail: str, hint: str) -> None:
    net, rfkill = sysfs(tmp_path, rfkill_soft=soft, rfkill_hard=hard)
    found = check_adapter("wlan0", net, rfkill)
    assert (found.status, found.detail, found.hint) == (Status.FAIL, detail, hint)


def test_static_addresses_need_no_dhcp_capabilities(tmp_path: Path, wpa: FakeWpaSupplicant) -> None:
    net, rfkill = sysfs(tmp_path)
    options = {"ctrl_dir": wpa.ctrl_dir, "static": {"Blynk": {"address": "192.168.4.2/24"}}}
    rights = by_area(
        adapter_findings(
            "wpa:wlan0", options, sys_net=net, sys_rfkill=rfkill, proc_status=status_file(tmp_path, NO_CAPS)
        )
    )["rights"]
    assert (rights.status, rights.detail) == (Status.OK, "control socket usable; static addresses for Blynk")


def test_a_wpa_supplicant_that_does_not_answer_is_a_failure(tmp_path: Path, wpa: FakeWpaSupplicant) -> None:
    wpa.silent.add("PING")
    net, rfkill = sysfs(tmp_path)
    daemon = by_area(
        adapter_findings(
            "wpa:wlan0",
            {"ctrl_dir": wpa.ctrl_dir, "reply_timeout": 0.2},
            sys_net=net,
            sys_rfkill=rfkill,
            proc_status=status_file(tmp_path, ROOT_CAPS),
        )
    )["daemon"]
    assert daemon.status is Status.FAIL
    assert (
        daemon.detail
        == "wpa_supplicant for wlan0 does not answer: wpa_supplicant on wlan0 did not answer 'PING' within 0.2 s"
    )


def _nm_state(path: Path, **extra: object) -> None:
    state: dict[str, object] = {"aps": [], "active": None, "connections": {}, "log": []}
    state.update(extra)
    path.write_text(json.dumps(state))


@pytest.mark.parametrize(
    ("state", "rights", "daemon"),
    [
        (
            {"devices": [["wlan0", "wifi", "disconnected"], ["lo", "loopback", "unmanaged"]]},
            (Status.OK, "NetworkManager grants org.freedesktop.NetworkManager.network-control"),
            (Status.OK, "NetworkManager manages wlan0 (disconnected)"),
        ),
        (
            {"devices": [["wlan0", "wifi", "unmanaged"]]},
            (Status.OK, "NetworkManager grants org.freedesktop.NetworkManager.network-control"),
            (Status.FAIL, "NetworkManager does not manage wlan0"),
        ),
        (
            {"permissions": {"org.freedesktop.NetworkManager.network-control": "auth"}, "devices": []},
            (Status.FAIL, "NetworkManager denies org.freedesktop.NetworkManager.network-control to this user (auth)"),
            (Status.FAIL, "NetworkManager does not know wlan0"),
        ),
        (
            {"running": False},
            (
                Status.FAIL,
                "NetworkManager denies org.freedesktop.NetworkManager.network-control to this user (not listed)",
            ),
            (Status.FAIL, "NetworkManager is not running (Error: NetworkManager is not running.)"),
        ),
    ],
)
def test_network_manager_rights_and_daemon_from_nmcli(
    tmp_path: Path,
    fake_nmcli_on_path: Path,
    state: dict[str, object],
    rights: tuple[Status, str],
    daemon: tuple[Status, str],
) -> None:
    _nm_state(Path(os.environ["PROVLAB_FAKE_NMCLI_STATE"]), **state)
    net, rfkill = sysfs(tmp_path)
    found = by_area(adapter_findings("nm:wlan0", {}, sys_net=net, sys_rfkill=rfkill))
    assert (found["rights"].status, found["rights"].detail) == rights
    assert (found["daemon"].status, found["daemon"].detail) == daemon
    if daemon[1].endswith("does not manage wlan0"):
        assert found["daemon"].hint == "nmcli device set wlan0 managed yes"


def test_provlab_doctor_checks_the_adapter_named_in_provlab_toml(
    tmp_path: Path, wpa: FakeWpaSupplicant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The config's `wifi = "wpa:IFACE"` and `[phone_radio]` reach `provlab doctor`: the daemon answers through the
    configured control folder, and the adapter check fails on this radio-less host, so doctor exits 1."""
    (tmp_path / "provlab.toml").write_text(
        textwrap.dedent(
            f"""
            wifi = "wpa:wlan0"
            [phone_radio]
            ctrl_dir = "{wpa.ctrl_dir}"
            [boards]
            attached = ["/dev/ttyUSB7"]
            [cloud]
            url = "http://127.0.0.1:9"
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli.console, "width", 400)  # one finding per line, not folded to 80 columns
    result = CliRunner().invoke(main, ["doctor"])
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert result.exit_code == 1
    assert any(line.startswith("fail adapter no interface 'wlan0' — ") for line in lines), lines
    assert f"ok daemon wpa_supplicant answers on {wpa.path} (wpa_state=DISCONNECTED)" in lines, lines
