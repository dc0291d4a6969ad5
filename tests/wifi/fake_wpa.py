"""A fake wpa_supplicant control interface: a unix datagram socket speaking its text protocol.

It knows the commands pywifi and the `wpa` backend send (PING, SCAN, SCAN_RESULTS, ADD_NETWORK,
SET_NETWORK, GET_NETWORK, LIST_NETWORKS, SELECT_NETWORK, ENABLE_NETWORK, DISCONNECT,
REMOVE_NETWORK, STATUS) and answers them the way wpa_supplicant 2.x does: `OK`/`FAIL`, tab-separated
tables with a header line, `key=value` status. A wrong PSK leaves the network `[TEMP-DISABLED]` and
the interface `DISCONNECTED`, as after failed 4-way handshakes. Knobs make it misbehave the ways
pywifi cannot cope with on its own: stay silent, answer late, interleave unsolicited events.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class FakeAp:
    ssid: str
    bssid: str
    freq: int
    signal: int
    flags: str
    psk: str | None = None


@dataclass
class _Network:
    ssid: str = ""
    key_mgmt: str = "WPA-PSK"
    psk: str | None = None
    proto: str = ""
    flags: str = ""


@dataclass
class FakeWpaSupplicant:
    ctrl_dir: str
    iface: str
    aps: list[FakeAp]
    mac: str = "02:00:00:aa:bb:cc"
    silent: set[str] = field(default_factory=set)
    """Commands (first word) it never answers."""
    late: dict[str, float] = field(default_factory=dict)
    """Commands answered only after this many seconds."""
    event_before_reply: bool = False
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.networks: dict[int, _Network] = {}
        self.late_sent = threading.Event()  # set once a late reply went out
        self.next_id = 0
        self.state = "DISCONNECTED"
        self.current: FakeAp | None = None
        self.current_id: int | None = None
        self.path = os.path.join(self.ctrl_dir, self.iface)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, name="fake-wpa_supplicant", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            command = data.decode("utf-8")
            self.commands.append(command)
            word = command.split(" ", 1)[0]
            if word in self.silent:
                continue
            reply = self.handle(command)
            try:
                if self.event_before_reply:
                    self.sock.sendto(b"<3>CTRL-EVENT-SCAN-STARTED ", peer)
                if word in self.late:
                    threading.Timer(self.late[word], self._send_late, (reply, peer)).start()
                else:
                    self.sock.sendto(reply.encode("utf-8"), peer)
            except OSError:
                pass

    def _send_late(self, reply: str, peer: str) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendto(reply.encode("utf-8"), peer)
        self.late_sent.set()

    def handle(self, command: str) -> str:
        parts = command.split(" ", 3)
        word = parts[0]
        if word == "PING":
            return "PONG\n"
        if word in ("SCAN", "RECONNECT"):
            return "OK\n"
        if word == "SCAN_RESULTS":
            rows = [f"{ap.bssid}\t{ap.freq}\t{ap.signal}\t{ap.flags}\t{ap.ssid}" for ap in self.aps]
            return "bssid / frequency / signal level / flags / ssid\n" + "".join(r + "\n" for r in rows)
        if word == "ADD_NETWORK":
            self.networks[self.next_id] = _Network()
            self.next_id += 1
            return f"{self.next_id - 1}\n"
        if word == "SET_NETWORK" and len(parts) == 4:
            network = self.networks.get(int(parts[1]))
            if network is None:
                return "FAIL\n"
            value = parts[3].strip('"')
            if parts[2] == "ssid":
                network.ssid = value
            elif parts[2] == "psk":
                network.psk = value
            elif parts[2] == "key_mgmt":
                network.key_mgmt = value
            elif parts[2] == "proto":
                network.proto = value
            return "OK\n"
        if word == "GET_NETWORK" and len(parts) >= 3:
            network = self.networks.get(int(parts[1]))
            if network is None:
                return "FAIL\n"
            return {"ssid": f'"{network.ssid}"', "key_mgmt": network.key_mgmt, "proto": network.proto}.get(
                parts[2], "FAIL\n"
            )
        if word == "LIST_NETWORKS":
            rows = [
                f"{nid}\t{n.ssid}\tany\t{'[CURRENT]' if nid == self.current_id else ''}{n.flags}"
                for nid, n in sorted(self.networks.items())
            ]
            return "network id / ssid / bssid / flags\n" + "".join(r + "\n" for r in rows)
        if word in ("SELECT_NETWORK", "ENABLE_NETWORK"):
            return self._select(int(parts[1]))
        if word == "DISCONNECT":
            self.state, self.current, self.current_id = "DISCONNECTED", None, None
            return "OK\n"
        if word == "REMOVE_NETWORK":
            if parts[1] == "all":
                self.networks.clear()
            else:
                self.networks.pop(int(parts[1]), None)
            self.state, self.current, self.current_id = "DISCONNECTED", None, None
            return "OK\n"
        if word == "STATUS":
            if self.state == "COMPLETED" and self.current is not None:
                return (
                    f"bssid={self.current.bssid}\nfreq={self.current.freq}\nssid={self.current.ssid}\n"
                    f"id={self.current_id}\nmode=station\npairwise_cipher=CCMP\nkey_mgmt=WPA2-PSK\n"
                    f"wpa_state=COMPLETED\naddress={self.mac}\n"
                )
            return f"wpa_state={self.state}\naddress={self.mac}\n"
        return "UNKNOWN COMMAND\n"

    def _select(self, network_id: int) -> str:
        network = self.networks.get(network_id)
        if network is None:
            return "FAIL\n"
        ap = next((a for a in self.aps if a.ssid == network.ssid), None)
        if ap is None:
            self.state = "SCANNING"
            return "OK\n"
        if ap.psk is not None and (network.key_mgmt != "WPA-PSK" or network.psk != ap.psk):
            self.state = "DISCONNECTED"  # 4-way handshake failed a few times
            network.flags = "[TEMP-DISABLED]"
            return "OK\n"
        self.state, self.current, self.current_id = "COMPLETED", ap, network_id
        return "OK\n"

    def close(self) -> None:
        self._stop = True
        time.sleep(0.15)
        self.sock.close()
        if os.path.exists(self.path):
            os.remove(self.path)
