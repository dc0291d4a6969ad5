"""`provlab doctor --wifi wpa:wlan0`: can this host's adapter be the phone's radio, and if not, what exactly is missing.

Three questions, each a `Finding` with the fix:
- **adapter**: the interface exists, is a Wi-Fi interface (`/sys/class/net/IFACE/wireless` or `phy80211`), and
  no rfkill switch blocks it;
- **permissions**: the process may drive it (wpa: write access to the control socket, and for provlab's own
  DHCP client CAP_NET_ADMIN and CAP_NET_RAW unless `[phone_radio.static]` covers the networks; nm:
  NetworkManager's `network-control` permission for this user);
- **daemon**: the backend's daemon answers for that interface (wpa: `PING` → `PONG` on its control socket; nm:
  NetworkManager runs and manages the interface).

Every check reads what the real system offers (sysfs, `/proc/self/status`, the control socket, `nmcli`); the
paths are parameters so the checks can be pointed at a test's tree.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provlab.lab.doctor import Finding, Status
from provlab.wifi.backend import RadioControlError
from provlab.wifi.wpa_ctrl import DEFAULT_CTRL_DIR, BoundedWifiUtil

SYS_CLASS_NET = Path("/sys/class/net")
SYS_CLASS_RFKILL = Path("/sys/class/rfkill")
PROC_STATUS = Path("/proc/self/status")
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13


def effective_capabilities(status: Path = PROC_STATUS) -> int:
    """The `CapEff` bit mask of this process (0 when it cannot be read)."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def check_adapter(iface: str, sys_net: Path = SYS_CLASS_NET, sys_rfkill: Path = SYS_CLASS_RFKILL) -> Finding:
    device = sys_net / iface
    wireless = sorted(p.name for p in sys_net.glob("*") if (p / "wireless").exists() or (p / "phy80211").exists())
    others = f"Wi-Fi interfaces here: {', '.join(wireless)}" if wireless else "this host has no Wi-Fi interface"
    if not device.exists():
        return Finding(
            "adapter", Status.FAIL, f"no interface {iface!r}", f"{others}; plug the adapter in or fix the name"
        )
    if not ((device / "wireless").exists() or (device / "phy80211").exists()):
        return Finding("adapter", Status.FAIL, f"{iface} is not a Wi-Fi interface", others)
    phy = device / "phy80211"
    phy_name = phy.resolve().name if phy.exists() else ""
    for switch in sorted(sys_rfkill.glob("rfkill*")):
        try:
            if (switch / "type").read_text().strip() != "wlan":
                continue
            owner = (switch / "device").resolve().name if (switch / "device").exists() else ""
            if phy_name and owner and owner != phy_name:
                continue
            soft = (switch / "soft").read_text().strip() == "1"
            hard = (switch / "hard").read_text().strip() == "1"
        except OSError:
            continue
        if hard:
            return Finding("adapter", Status.FAIL, f"{iface} is blocked by a hardware rfkill switch", "flip the switch")
        if soft:
            return Finding("adapter", Status.FAIL, f"{iface} is blocked by rfkill (soft)", "run: rfkill unblock wifi")
    return Finding("adapter", Status.OK, f"{iface} is a Wi-Fi interface{f' ({phy_name})' if phy_name else ''}")


def check_wpa_permissions(iface: str, options: Mapping[str, Any], proc_status: Path = PROC_STATUS) -> Finding:
    ctrl_dir = str(options.get("ctrl_dir", DEFAULT_CTRL_DIR))
    socket_path = os.path.join(ctrl_dir, iface)
    try:
        is_socket = stat.S_ISSOCK(os.stat(socket_path).st_mode)
    except OSError:
        is_socket = False
    if is_socket and not os.access(socket_path, os.R_OK | os.W_OK):
        return Finding(
            "rights",
            Status.FAIL,
            f"no read/write access to wpa_supplicant's control socket {socket_path}",
            "run as root, or give your group access: ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev in "
            "wpa_supplicant.conf and add yourself to netdev",
        )
    if options.get("static"):
        return Finding(
            "rights", Status.OK, f"control socket usable; static addresses for {', '.join(options['static'])}"
        )
    caps = effective_capabilities(proc_status)
    missing = [
        name for bit, name in ((CAP_NET_ADMIN, "CAP_NET_ADMIN"), (CAP_NET_RAW, "CAP_NET_RAW")) if not caps >> bit & 1
    ]
    if missing:
        return Finding(
            "rights",
            Status.FAIL,
            f"provlab's DHCP client on {iface} needs {' and '.join(missing)} (it sets the address it gets)",
            "run as root, or: sudo setcap cap_net_admin,cap_net_raw+ep $(readlink -f $(which python3)); or list "
            "the networks' static addresses in [phone_radio.static]",
        )
    return Finding("rights", Status.OK, "control socket usable; CAP_NET_ADMIN and CAP_NET_RAW for DHCP")


def check_wpa_daemon(iface: str, options: Mapping[str, Any]) -> Finding:
    ctrl_dir = str(options.get("ctrl_dir", DEFAULT_CTRL_DIR))
    socket_path = os.path.join(ctrl_dir, iface)
    if not os.path.exists(socket_path):
        running = (
            f"control sockets in {ctrl_dir}: {', '.join(sorted(os.listdir(ctrl_dir)))}"
            if os.path.isdir(ctrl_dir)
            else f"{ctrl_dir} does not exist"
        )
        installed = shutil.which("wpa_supplicant") is not None
        start = (
            f"start it: wpa_supplicant -B -i {iface} -C {ctrl_dir} (or systemctl start wpa_supplicant@{iface})"
            if installed
            else "install wpa_supplicant (apt install wpasupplicant), then start it on the interface"
        )
        return Finding("daemon", Status.FAIL, f"no wpa_supplicant for {iface} ({running})", start)
    util = BoundedWifiUtil(ctrl_dir, float(options.get("reply_timeout", 2.0)))
    try:
        util._connect_to_wpa_s(iface)  # sends PING, wants PONG
        state = dict(line.split("=", 1) for line in util.command(iface, "STATUS").splitlines() if "=" in line).get(
            "wpa_state", "?"
        )
    except (RadioControlError, OSError) as exc:
        return Finding(
            "daemon", Status.FAIL, f"wpa_supplicant for {iface} does not answer: {exc}", "restart wpa_supplicant"
        )
    finally:
        util.close()
    return Finding("daemon", Status.OK, f"wpa_supplicant answers on {socket_path} (wpa_state={state})")


def _nmcli(nmcli: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    return subprocess.run([nmcli, *args], capture_output=True, text=True, env=env, timeout=15, check=False)


def check_nm_daemon(iface: str, options: Mapping[str, Any]) -> Finding:
    nmcli = shutil.which(str(options.get("nmcli", "nmcli")))
    if nmcli is None:
        return Finding("daemon", Status.FAIL, "nmcli not found", "install NetworkManager (apt install network-manager)")
    try:
        running = _nmcli(nmcli, "-t", "-f", "RUNNING", "general")
        devices = _nmcli(nmcli, "-t", "-f", "DEVICE,TYPE,STATE", "device")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Finding("daemon", Status.FAIL, f"nmcli did not answer: {exc}", "check NetworkManager")
    if running.returncode != 0 or running.stdout.strip() != "running":
        detail = running.stderr.strip() or running.stdout.strip()
        return Finding(
            "daemon", Status.FAIL, f"NetworkManager is not running ({detail})", "systemctl start NetworkManager"
        )
    for line in devices.stdout.splitlines():
        name, _, rest = line.partition(":")
        kind, _, state = rest.partition(":")
        if name != iface:
            continue
        if kind != "wifi":
            return Finding("daemon", Status.FAIL, f"NetworkManager sees {iface} as {kind}, not wifi")
        if state == "unmanaged":
            return Finding(
                "daemon",
                Status.FAIL,
                f"NetworkManager does not manage {iface}",
                f"nmcli device set {iface} managed yes",
            )
        return Finding("daemon", Status.OK, f"NetworkManager manages {iface} ({state})")
    return Finding("daemon", Status.FAIL, f"NetworkManager does not know {iface}", "check the name: nmcli device")


def check_nm_permissions(options: Mapping[str, Any]) -> Finding:
    nmcli = shutil.which(str(options.get("nmcli", "nmcli")))
    if nmcli is None:
        return Finding("rights", Status.FAIL, "nmcli not found", "install NetworkManager")
    try:
        done = _nmcli(nmcli, "-t", "general", "permissions")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Finding("rights", Status.FAIL, f"nmcli did not answer: {exc}")
    granted = dict(line.rsplit(":", 1) for line in done.stdout.splitlines() if ":" in line)
    wanted = "org.freedesktop.NetworkManager.network-control"
    if granted.get(wanted) != "yes":
        return Finding(
            "rights",
            Status.FAIL,
            f"NetworkManager denies {wanted} to this user ({granted.get(wanted, 'not listed')})",
            "run as root, or grant it with a polkit rule for your group",
        )
    return Finding("rights", Status.OK, f"NetworkManager grants {wanted}")


def adapter_findings(
    spec: str,
    options: Mapping[str, Any] | None = None,
    *,
    sys_net: Path = SYS_CLASS_NET,
    sys_rfkill: Path = SYS_CLASS_RFKILL,
    proc_status: Path = PROC_STATUS,
) -> list[Finding]:
    """Adapter, permissions and daemon for `spec` (`wpa:wlan0` or `nm:wlan0`) with its `[phone_radio]` options."""
    kind, _, iface = spec.partition(":")
    opts = options or {}
    adapter = check_adapter(iface, sys_net, sys_rfkill)
    if kind == "wpa":
        return [adapter, check_wpa_permissions(iface, opts, proc_status), check_wpa_daemon(iface, opts)]
    if kind == "nm":
        return [adapter, check_nm_permissions(opts), check_nm_daemon(iface, opts)]
    return [Finding("adapter", Status.FAIL, f"{spec!r}: provlab doctor knows wpa:IFACE and nm:IFACE")]
