"""`provlab doctor`: what this host can do (serial ports, Wi-Fi tools, namespaces) and what crashed runs left.

Each check is a `Finding` (ok / warn / fail, one line, a hint). `cleanup()` removes the namespaces,
processes, temp dirs and run records of `netns` runs whose process is gone; live runs are never touched.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass
from enum import Enum

from provlab.wifi.netns.namespace import unavailable_reason
from provlab.wifi.netns.runs import Leftover, find_leftovers, remove_leftover
from provlab.wifi.wpa_ctrl import DEFAULT_CTRL_DIR

SERIAL_PATTERNS = ("/dev/ttyUSB*", "/dev/ttyACM*", "/dev/serial/by-id/*")


class Status(Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    area: str
    status: Status
    detail: str
    hint: str = ""


def check_serial() -> Finding:
    ports = sorted({os.path.realpath(p) for pattern in SERIAL_PATTERNS for p in glob.glob(pattern)})
    if not ports:
        return Finding("serial", Status.WARN, "no USB serial ports (fine for emulated boards)")
    denied = [p for p in ports if not os.access(p, os.R_OK | os.W_OK)]
    if denied:
        return Finding(
            "serial",
            Status.FAIL,
            f"no read/write access to {', '.join(denied)}",
            "add yourself to the group owning the port (usually dialout) and log in again",
        )
    return Finding("serial", Status.OK, f"{len(ports)} port(s) usable: {', '.join(ports)}")


def check_wpa_supplicant() -> Finding:
    if not os.path.isdir(DEFAULT_CTRL_DIR):
        found = shutil.which("wpa_supplicant")
        detail = "wpa_supplicant installed but not running" if found else "wpa_supplicant not installed"
        return Finding("wpa", Status.WARN, f"{detail} (needed only for --wifi wpa:IFACE)")
    ifaces = sorted(os.listdir(DEFAULT_CTRL_DIR))
    readable = os.access(DEFAULT_CTRL_DIR, os.R_OK | os.X_OK)
    status = Status.OK if ifaces and readable else Status.WARN
    return Finding("wpa", status, f"control sockets in {DEFAULT_CTRL_DIR}: {', '.join(ifaces) or 'none'}")


def check_network_manager() -> Finding:
    nmcli = shutil.which("nmcli")
    if nmcli is None:
        return Finding("nm", Status.WARN, "nmcli not installed (needed only for --wifi nm:IFACE)")
    try:
        done = subprocess.run(
            [nmcli, "-t", "-f", "DEVICE,TYPE,STATE", "device"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Finding("nm", Status.WARN, f"nmcli did not answer: {exc}")
    if done.returncode != 0:
        return Finding("nm", Status.WARN, f"NetworkManager not running: {done.stderr.strip()}")
    wifi = [line.split(":")[0] for line in done.stdout.splitlines() if ":wifi:" in line]
    return Finding("nm", Status.OK if wifi else Status.WARN, f"Wi-Fi devices: {', '.join(wifi) or 'none'}")


def check_namespaces() -> Finding:
    reason = unavailable_reason()
    if reason is not None:
        return Finding("netns", Status.WARN, reason, "use --wifi sim, or run as root for --wifi netns")
    return Finding("netns", Status.OK, "network namespaces, veth and bridges can be created")


def check_leftovers(leftovers: list[Leftover]) -> Finding:
    if not leftovers:
        return Finding("leftovers", Status.OK, "no namespaces or run records left by crashed runs")
    runs = "; ".join(left.describe() for left in leftovers)
    return Finding("leftovers", Status.WARN, runs, "remove them with: provlab doctor --cleanup")


def findings() -> list[Finding]:
    checks = [check_serial(), check_wpa_supplicant(), check_network_manager(), check_namespaces()]
    leftovers = find_leftovers() if checks[-1].status is Status.OK else []
    return [*checks, check_leftovers(leftovers)]


def cleanup() -> list[str]:
    """Remove every dead run's traces; one line per thing removed."""
    if unavailable_reason() is not None:
        return []
    removed: list[str] = []
    for leftover in find_leftovers():
        removed += remove_leftover(leftover)
    return removed
