"""The `nm` Wi-Fi backend: a real adapter driven through NetworkManager's `nmcli`.

The commands are the ones the Blynk tools use on Linux (`nmcli dev wifi connect`, read the gateway,
`nmcli connection delete`), in terse mode with a fixed locale so the output can be parsed. The
connection gets a name of ours (`provlab-<iface>`) so `leave` removes exactly what `join` made.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess

from provlab.wifi.adapter import AdapterLink, lease_from_cidr
from provlab.wifi.backend import (
    AccessPoint,
    AuthenticationFailed,
    JoinTimeout,
    NetworkNotFound,
    RadioControlError,
    Security,
    WifiBackend,
)
from provlab.wifi.guard import TrafficGuard

_AUTH_ERRORS = ("Secrets were required", "secrets", "802-11-wireless-security.psk", "(7)", "(8)")


def split_terse(line: str) -> list[str]:
    """One `nmcli -t` line: fields split at unescaped `:`, with `\\:` and `\\\\` unescaped."""
    fields, current, i = [], [], 0
    while i < len(line):
        char = line[i]
        if char == "\\" and i + 1 < len(line):
            current.append(line[i + 1])
            i += 2
            continue
        if char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    fields.append("".join(current))
    return fields


def rssi_from_signal(percent: int) -> int:
    """Undo NetworkManager's dBm → % mapping (-40 dBm and above = 100 %, -100 dBm = 0 %)."""
    return round(-40 - (100 - max(0, min(100, percent))) * 60 / 100)


def security_from_nm(text: str) -> Security:
    words = set(text.replace("--", "").split())
    if not words:
        return Security.OPEN
    if "WPA3" in words and ("WPA2" in words or "WPA1" in words):
        return Security.WPA2_WPA3
    if "WPA3" in words:
        return Security.WPA3
    if "802.1X" in words:
        return Security.WPA2_EAP
    if "WPA1" in words and "WPA2" in words:
        return Security.WPA_WPA2
    if "WPA2" in words:
        return Security.WPA2
    if "WPA1" in words:
        return Security.WPA
    if "WEP" in words:
        return Security.WEP
    return Security.OPEN


def parse_wifi_list(text: str) -> list[AccessPoint]:
    """`nmcli -t -f SSID,BSSID,CHAN,SIGNAL,SECURITY device wifi list`."""
    found = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = split_terse(line)
        if len(fields) < 5 or not fields[2].isdigit() or not fields[3].isdigit():
            continue
        ssid, bssid, chan, signal, security = fields[:5]
        found.append(
            AccessPoint(ssid, bssid.upper(), int(chan), rssi_from_signal(int(signal)), security_from_nm(security))
        )
    return found


def parse_device_show(text: str) -> tuple[str | None, str | None, list[str]]:
    """Address (CIDR), gateway and DNS servers from `nmcli -t -f IP4 device show IFACE`."""
    address: str | None = None
    gateway: str | None = None
    dns: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = re.sub(r"\[\d+\]$", "", key)
        if key == "IP4.ADDRESS" and address is None and value:
            address = value
        elif key == "IP4.GATEWAY" and value and value != "--":
            gateway = value
        elif key == "IP4.DNS" and value:
            dns.append(value)
    return address, gateway, dns


class NmBackend(WifiBackend):
    """One real adapter (`iface`) under NetworkManager."""

    def __init__(
        self,
        iface: str,
        *,
        nmcli: str = "nmcli",
        join_timeout: float = 30.0,
        dns_port: int = 53,
        bind_device: bool = True,
    ) -> None:
        self.iface = iface
        self.nmcli = nmcli
        self.join_timeout = join_timeout
        self.dns_port = dns_port
        self.bind_device = bind_device
        self.connection = f"provlab-{iface}"
        self._link: AdapterLink | None = None
        self._lock = asyncio.Lock()
        TrafficGuard.allow_interface(iface)

    async def _run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        try:
            return await asyncio.to_thread(
                subprocess.run,
                [self.nmcli, *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RadioControlError(f"{self.nmcli} {args[0] if args else ''}: {exc}") from exc

    @property
    def link(self) -> AdapterLink | None:
        if self._link is not None and not self._link.is_up:
            self._link = None
        return self._link

    async def scan(self) -> list[AccessPoint]:
        done = await self._run(
            "-t", "-e", "yes", "-f", "SSID,BSSID,CHAN,SIGNAL,SECURITY",
            "device", "wifi", "list", "ifname", self.iface, "--rescan", "yes",
        )  # fmt: skip
        if done.returncode != 0:
            raise RadioControlError(f"nmcli wifi list on {self.iface}: {done.stderr.strip()}")
        return parse_wifi_list(done.stdout)

    async def join(self, ssid: str, passphrase: str | None = None) -> AdapterLink:
        async with self._lock:
            await self._leave()
            args = ["-w", f"{self.join_timeout:g}", "device", "wifi", "connect", ssid]
            if passphrase:
                args += ["password", passphrase]
            args += ["ifname", self.iface, "name", self.connection]
            done = await self._run(*args, timeout=self.join_timeout + 10)
            if done.returncode != 0:
                self._raise_join_error(ssid, done)
            show = await self._run(
                "-t", "-f", "IP4.ADDRESS,IP4.GATEWAY,IP4.DNS,GENERAL.HWADDR", "device", "show", self.iface
            )
            address, gateway, dns = parse_device_show(show.stdout)
            if address is None:
                await self._run("connection", "delete", self.connection)
                raise RadioControlError(f"{ssid!r} on {self.iface}: NetworkManager gave no IPv4 address")
            bssid = await self._active_bssid(ssid)
            self._link = AdapterLink(
                self.iface,
                ssid,
                bssid,
                lease_from_cidr(address, gateway, dns),
                dns_port=self.dns_port,
                bind_device=self.bind_device,
            )
            return self._link

    async def _active_bssid(self, ssid: str) -> str:
        done = await self._run(
            "-t", "-e", "yes", "-f", "ACTIVE,SSID,BSSID", "device", "wifi", "list", "ifname", self.iface
        )
        for line in done.stdout.splitlines():
            fields = split_terse(line)
            if len(fields) >= 3 and fields[0] == "yes" and fields[1] == ssid:
                return fields[2].upper()
        return ""

    def _raise_join_error(self, ssid: str, done: subprocess.CompletedProcess[str]) -> None:
        message = (done.stderr or done.stdout).strip()
        if "No network with SSID" in message:
            raise NetworkNotFound(ssid)
        if any(marker in message for marker in _AUTH_ERRORS):
            raise AuthenticationFailed(ssid)
        if "Timeout" in message or "timed out" in message:
            raise JoinTimeout(ssid, self.join_timeout)
        raise RadioControlError(f"nmcli could not join {ssid!r} on {self.iface}: {message}")

    async def leave(self) -> None:
        async with self._lock:
            await self._leave()

    async def _leave(self) -> None:
        link, self._link = self._link, None
        if link is None:
            return
        link.up = False
        await self._run("connection", "delete", self.connection)

    def close(self) -> None:
        TrafficGuard.forget_interface(self.iface)
