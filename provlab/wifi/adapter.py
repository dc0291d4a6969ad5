"""A real Wi-Fi adapter's link, shared by the `wpa` and `nm` backends, and how it gets an address.

Everything the phone sends through an adapter link leaves through that adapter: sockets are bound
to the link's address and, with SO_BINDTODEVICE, to the interface itself, so a request to
192.168.4.1 can never take the host's default route. DNS is asked of the server the network gave.
The traffic guard is told about the interface (`TrafficGuard.allow_interface`) when a backend is
made: on a real lab host those sockets are the one exception to loopback-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
import subprocess
from abc import ABC, abstractmethod
from pathlib import Path
from ssl import SSLContext

from provlab.wifi import dhcp, dns
from provlab.wifi.backend import DnsFailure, Link, LinkDown, Security

DNS_TIMEOUT_S = 2.0


def channel_from_frequency(mhz: int) -> int:
    if mhz == 2484:
        return 14
    if 2412 <= mhz <= 2472:
        return (mhz - 2407) // 5
    if 5000 <= mhz <= 5900:
        return (mhz - 5000) // 5
    return 0


def bind_link_socket(kind: int, local_ip: str, device: str | None) -> socket.socket:
    """A socket on the link: bound to its address and (where allowed) to its interface."""
    sock = socket.socket(socket.AF_INET, kind)
    try:
        if device:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
            except PermissionError:
                pass  # kernels before 5.7 want CAP_NET_RAW; the address binding still holds
            except OSError as exc:
                if exc.errno != errno.ENODEV:
                    raise
                raise LinkDown(f"interface {device} is gone") from exc
        sock.bind((local_ip, 0))
    except BaseException:
        sock.close()
        raise
    return sock


class AdapterLink(Link):
    """The association a real adapter holds, with the IP configuration the network gave it."""

    def __init__(
        self,
        iface: str,
        ssid: str,
        bssid: str,
        lease: dhcp.Lease,
        *,
        dns_port: int = 53,
        bind_device: bool = True,
    ) -> None:
        self.iface = iface
        self.ssid = ssid
        self.bssid = bssid
        self.lease = lease
        self.ip = lease.ip
        self.gateway = lease.gateway or str(lease.network.network_address + 1)
        self.dns_port = dns_port
        self.device = iface if bind_device else None
        self.up = True

    @property
    def is_up(self) -> bool:
        return self.up

    @property
    def local_address(self) -> str:
        return self.ip

    def _check(self) -> None:
        if not self.up:
            raise LinkDown(f"link to {self.ssid!r} on {self.iface} is down")

    def resolve(self, name: str) -> str:
        self._check()
        if not self.lease.dns:
            raise DnsFailure(name, self.ssid)
        with bind_link_socket(socket.SOCK_DGRAM, self.ip, self.device) as sock:
            return dns.query_with(sock, (self.lease.dns[0], self.dns_port), name, self.ssid, DNS_TIMEOUT_S)

    async def lookup(self, name: str) -> str:
        return await asyncio.to_thread(self.resolve, name)

    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        self._check()
        return (host, port)

    async def open_connection(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        *,
        ssl: SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        target = self.endpoint(host, port)

        async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            sock = bind_link_socket(socket.SOCK_STREAM, self.ip, self.device)
            sock.setblocking(False)
            try:
                await asyncio.get_running_loop().sock_connect(sock, target)
                if ssl is None:
                    return await asyncio.open_connection(sock=sock)
                return await asyncio.open_connection(sock=sock, ssl=ssl, server_hostname=server_hostname or host)
            except BaseException:
                sock.close()
                raise

        return await asyncio.wait_for(connect(), timeout)


class Addressing(ABC):
    """How an adapter gets its IP configuration once associated."""

    @abstractmethod
    async def acquire(self, iface: str, ssid: str) -> dhcp.Lease: ...

    @abstractmethod
    async def release(self, iface: str) -> None: ...


class DhcpAddressing(Addressing):
    """provlab's own DHCP client on the interface, then `ip addr` (no default route is touched)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    async def acquire(self, iface: str, ssid: str) -> dhcp.Lease:
        mac = Path(f"/sys/class/net/{iface}/address").read_text().strip()
        lease = await asyncio.to_thread(dhcp.obtain_lease, iface, mac, timeout=self.timeout)
        await asyncio.to_thread(
            subprocess.run,
            ["ip", "addr", "replace", f"{lease.ip}/{lease.prefix}", "dev", iface],
            check=True,
            capture_output=True,
        )
        return lease

    async def release(self, iface: str) -> None:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            await asyncio.to_thread(
                subprocess.run, ["ip", "-4", "addr", "flush", "dev", iface], check=True, capture_output=True
            )


class FixedAddressing(Addressing):
    """Addresses set per SSID (a lab host with static configuration, or a test's fake world)."""

    def __init__(self, leases: dict[str, dhcp.Lease]) -> None:
        self.leases = dict(leases)

    async def acquire(self, iface: str, ssid: str) -> dhcp.Lease:
        try:
            return self.leases[ssid]
        except KeyError:
            raise LinkDown(f"no address configured for {ssid!r} on {iface}") from None

    async def release(self, iface: str) -> None:
        return None


class PrefixAddressing(Addressing):
    """Static addresses for networks whose SSID starts with a given prefix (the longest prefix wins: every
    `Blynk …` SoftAP is 192.168.4.0/24), DHCP (`fallback`) for the others. The static addresses must already
    be configured on the interface; nothing is changed on the host for them."""

    def __init__(self, by_prefix: dict[str, dhcp.Lease], fallback: Addressing | None = None) -> None:
        self.by_prefix = dict(sorted(by_prefix.items(), key=lambda item: -len(item[0])))
        self.fallback = fallback or DhcpAddressing()
        self._dhcp_on: set[str] = set()

    @classmethod
    def from_config(cls, table: dict[str, object]) -> PrefixAddressing:
        """From the `[phone_radio.static]` table: `"Blynk" = {address = "192.168.4.2/24", gateway = …, dns = […]}`."""
        leases: dict[str, dhcp.Lease] = {}
        for prefix, entry in table.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("address"), str):
                raise ValueError(f'static.{prefix!r}: expected a table with address = "A.B.C.D/N", got {entry!r}')
            gateway = entry.get("gateway")
            dns_servers = entry.get("dns", [])
            if gateway is not None and not isinstance(gateway, str):
                raise ValueError(f"static.{prefix!r}.gateway: expected an address, got {gateway!r}")
            if not isinstance(dns_servers, list) or not all(isinstance(d, str) for d in dns_servers):
                raise ValueError(f"static.{prefix!r}.dns: expected a list of addresses, got {dns_servers!r}")
            try:
                leases[prefix] = lease_from_cidr(entry["address"], gateway, dns_servers)
            except ValueError as exc:
                raise ValueError(f"static.{prefix!r}.address: {exc}") from None
        return cls(leases)

    async def acquire(self, iface: str, ssid: str) -> dhcp.Lease:
        for prefix, lease in self.by_prefix.items():
            if ssid.startswith(prefix):
                return lease
        self._dhcp_on.add(iface)
        return await self.fallback.acquire(iface, ssid)

    async def release(self, iface: str) -> None:
        if iface in self._dhcp_on:
            self._dhcp_on.discard(iface)
            await self.fallback.release(iface)


def lease_from_cidr(address: str, gateway: str | None, dns_servers: list[str]) -> dhcp.Lease:
    """A lease from `192.168.4.2/24`-style text (what nmcli and `ip` print)."""
    interface = ipaddress.IPv4Interface(address)
    return dhcp.Lease(
        ip=str(interface.ip),
        prefix=interface.network.prefixlen,
        gateway=gateway or None,
        dns=tuple(dns_servers),
        server=gateway or "",
        lease_s=0,
    )


def security_from_flags(flags: str) -> Security:
    """wpa_supplicant's scan flags (`[WPA2-PSK-CCMP][ESS]`) as ESP32 names the security."""
    has_wpa = "[WPA-" in flags
    has_rsn = "[WPA2-" in flags or "[RSN-" in flags
    sae = "SAE" in flags
    if sae and ("PSK" in flags.replace("SAE", "")):
        return Security.WPA2_WPA3
    if sae:
        return Security.WPA3
    if "EAP" in flags:
        return Security.WPA2_EAP
    if has_wpa and has_rsn:
        return Security.WPA_WPA2
    if has_rsn:
        return Security.WPA2
    if has_wpa:
        return Security.WPA
    if "WEP" in flags:
        return Security.WEP
    return Security.OPEN
