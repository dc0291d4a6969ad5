"""The `wpa` Wi-Fi backend: a real adapter driven through wpa_supplicant's control socket, via pywifi.

pywifi's `Interface` does the work it knows (trigger a scan, add the network profile, select it,
disconnect, drop profiles) over `BoundedWifiUtil`, our subclass of its transport with a reply
timeout and private socket paths. What pywifi does not expose is read from the same socket:
scan flags (so WPA3 and WEP are not taken for open networks), `wpa_state`, and `[TEMP-DISABLED]`,
which is how wpa_supplicant tells a wrong passphrase. Addressing comes after association
(`DhcpAddressing` by default).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pywifi import const as pywifi_const  # type: ignore[import-untyped]
from pywifi.iface import Interface  # type: ignore[import-untyped]
from pywifi.profile import Profile  # type: ignore[import-untyped]

from provlab.wifi.adapter import AdapterLink, Addressing, DhcpAddressing, channel_from_frequency, security_from_flags
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
from provlab.wifi.wpa_ctrl import DEFAULT_CTRL_DIR, BoundedWifiUtil

POLL_S = 0.05


def decode_ssid(text: str) -> str:
    """wpa_supplicant prints SSIDs with `\\xNN`, `\\\\` and `\\"` escapes (printf_encode)."""
    if "\\" not in text:
        return text
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "x" and i + 3 < len(text):
                out.append(int(text[i + 2 : i + 4], 16))
                i += 4
                continue
            out += {"n": b"\n", "r": b"\r", "t": b"\t", "e": b"\x1b"}.get(nxt, nxt.encode())
            i += 2
            continue
        out += text[i].encode("utf-8")
        i += 1
    return out.decode("utf-8", "replace")


def parse_scan_results(text: str) -> list[AccessPoint]:
    """`SCAN_RESULTS`: a header line, then `bssid / frequency / signal level / flags / ssid`."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) < 4:
            continue
        ssid = decode_ssid(fields[4]) if len(fields) > 4 else ""
        freq = int(fields[1])
        found.append(
            AccessPoint(
                ssid, fields[0].upper(), channel_from_frequency(freq), int(fields[2]), security_from_flags(fields[3])
            )
        )
    return found


def parse_status(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


class WpaBackend(WifiBackend):
    """One real adapter (`iface`) under wpa_supplicant."""

    def __init__(
        self,
        iface: str,
        *,
        ctrl_dir: str = DEFAULT_CTRL_DIR,
        reply_timeout: float = 2.0,
        join_timeout: float = 20.0,
        scan_wait: float = 3.0,
        addressing: Addressing | None = None,
        dns_port: int = 53,
        bind_device: bool = True,
    ) -> None:
        self.iface = iface
        self.util = BoundedWifiUtil(ctrl_dir, reply_timeout)
        self.join_timeout = join_timeout
        self.scan_wait = scan_wait
        self.addressing = addressing or DhcpAddressing()
        self.dns_port = dns_port
        self.bind_device = bind_device
        self._pywifi: Any = None
        self._link: AdapterLink | None = None
        self._lock = asyncio.Lock()
        TrafficGuard.allow_interface(iface)

    def _interface(self) -> Any:
        if self._pywifi is None:
            self.util._connect_to_wpa_s(self.iface)
            interface = Interface({"name": self.iface})
            interface._wifi_ctrl = self.util  # our transport instead of a fresh pywifi WifiUtil
            self._pywifi = interface
        return self._pywifi

    def _command(self, cmd: str) -> str:
        self._interface()
        return self.util.command(self.iface, cmd)

    @property
    def link(self) -> AdapterLink | None:
        if self._link is not None and not self._link.is_up:
            self._link = None
        return self._link

    async def scan(self) -> list[AccessPoint]:
        await asyncio.to_thread(lambda: self._interface().scan())
        deadline = time.monotonic() + self.scan_wait
        while True:
            found = parse_scan_results(await asyncio.to_thread(self._command, "SCAN_RESULTS"))
            if found or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(POLL_S * 4)

    def _profile(self, ssid: str, passphrase: str | None) -> Any:
        profile = Profile()
        profile.ssid = ssid
        if passphrase is None:
            profile.akm = [pywifi_const.AKM_TYPE_NONE]
        else:
            profile.akm = [pywifi_const.AKM_TYPE_WPA2PSK]
            profile.cipher = pywifi_const.CIPHER_TYPE_CCMP
            profile.key = passphrase
        return profile

    async def join(self, ssid: str, passphrase: str | None = None) -> AdapterLink:
        async with self._lock:
            await self._leave()
            seen = {ap.ssid: ap for ap in await self.scan()}
            ap = seen.get(ssid)
            if ap is None:
                raise NetworkNotFound(ssid)
            if ap.security is not Security.OPEN and not passphrase:
                raise AuthenticationFailed(ssid)
            interface = self._interface()
            profile = self._profile(ssid, passphrase if ap.security is not Security.OPEN else None)

            def configure() -> None:
                interface.remove_all_network_profiles()
                interface.connect(interface.add_network_profile(profile))

            await asyncio.to_thread(configure)
            status = await self._wait_completed(ssid)
            lease = await self.addressing.acquire(self.iface, ssid)
            self._link = AdapterLink(
                self.iface,
                ssid,
                status.get("bssid", ap.bssid).upper(),
                lease,
                dns_port=self.dns_port,
                bind_device=self.bind_device,
            )
            return self._link

    async def _wait_completed(self, ssid: str) -> dict[str, str]:
        deadline = time.monotonic() + self.join_timeout
        while True:
            status = parse_status(await asyncio.to_thread(self._command, "STATUS"))
            if status.get("wpa_state") == "COMPLETED" and status.get("ssid") == ssid:
                return status
            networks = await asyncio.to_thread(self._command, "LIST_NETWORKS")
            if "[TEMP-DISABLED]" in networks:
                await asyncio.to_thread(self._interface().remove_all_network_profiles)
                raise AuthenticationFailed(ssid)
            if time.monotonic() >= deadline:
                await asyncio.to_thread(self._interface().remove_all_network_profiles)
                raise JoinTimeout(ssid, self.join_timeout)
            await asyncio.sleep(POLL_S)

    async def leave(self) -> None:
        async with self._lock:
            await self._leave()

    async def _leave(self) -> None:
        link, self._link = self._link, None
        if link is None:
            return
        link.up = False
        try:
            interface = self._interface()
            await asyncio.to_thread(interface.disconnect)
            await asyncio.to_thread(interface.remove_all_network_profiles)
        except RadioControlError:
            pass  # the link is gone from our side either way
        await self.addressing.release(self.iface)

    def close(self) -> None:
        self.util.close()
        TrafficGuard.forget_interface(self.iface)
