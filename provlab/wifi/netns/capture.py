"""The `netns` capture: scapy sniffs every AP bridge from inside its namespace into one pcap.

A sniffer's socket is opened by the namespace's own thread (so it binds the bridge of that
namespace), then scapy's `AsyncSniffer` reads it on a thread of its own. Frames from all bridges
go to one Ethernet pcap as they arrive; it opens in Wireshark and tshark. Payloads are masked before they
are written (`provlab.wifi.pcap_mask`: Wi-Fi passwords, tokens, the air's passphrases), lengths unchanged
and checksums recomputed; `masked=False` (`provlab run --unmasked-pcap`) writes them as they were.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provlab.wifi.pcap_mask import mask_payload, secret_forms

if TYPE_CHECKING:
    from provlab.wifi.netns.network import NetnsNetwork

LINKTYPE_ETHERNET = 1
log = logging.getLogger("provlab.wifi.netns.capture")


def mask_frame(frame: Any, secrets: list[bytes]) -> Any:
    """`frame` with its TCP/UDP payload masked (same length), IP and transport checksums recomputed."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.packet import Raw

    if not frame.haslayer(Raw):
        return frame
    load = bytes(frame[Raw].load)
    masked = mask_payload(load, secrets)
    if masked == load:
        return frame
    copy = frame.copy()
    copy[Raw].load = masked
    for layer in (IP, TCP, UDP):
        if copy.haslayer(layer):
            del copy[layer].chksum
    rebuilt = copy.__class__(bytes(copy))
    rebuilt.time = frame.time
    return rebuilt


def _open_listener(bridge: str) -> Any:
    """scapy's listening socket on `bridge`, bound by name in the calling thread's namespace.

    Not promiscuous: scapy looks the interface index up in a per-process cache, which goes stale
    when a board deletes and recreates its `ap0`. Every exchange of interest has the bridge's own
    namespace as one end, so the bridge device sees it anyway.
    """
    from scapy.arch.linux import L2ListenSocket

    return L2ListenSocket(iface=bridge, promisc=False)


class NetnsCapture:
    """One pcap for the whole run; `attach` a network to start sniffing its bridge."""

    def __init__(self, path: str | Path, *, masked: bool = True) -> None:
        from scapy.utils import PcapWriter

        self.path = Path(path)
        self.masked = masked
        self.secrets: list[bytes] = []
        """Byte strings masked wherever they appear (each attached network's passphrase, in its forms)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.frames_written = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._writer: Any = PcapWriter(str(self.path), linktype=LINKTYPE_ETHERNET, sync=True)
        self._sniffers: dict[int, tuple[Any, Any]] = {}

    def attach(self, network: NetnsNetwork) -> None:
        from scapy.sendrecv import AsyncSniffer

        if id(network) in self._sniffers:
            return
        if network.passphrase:
            with self._lock:
                known = set(self.secrets) | set(secret_forms(network.passphrase))
                self.secrets = sorted(known, key=len, reverse=True)
        try:
            sock = network.namespace.call(lambda: _open_listener(network.bridge))
        except OSError as exc:  # a capture problem must never take the network (or a board) down
            log.warning("capture: cannot sniff %s in %s: %s", network.bridge, network.namespace.name, exc)
            self.failures.append(f"{network.namespace.name}/{network.bridge}: {exc}")
            return
        sniffer = AsyncSniffer(opened_socket=sock, prn=self._write, store=False)
        sniffer.start()
        self._sniffers[id(network)] = (sniffer, sock)

    def _write(self, frame: Any) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.write(mask_frame(frame, self.secrets) if self.masked else frame)
                self.frames_written += 1

    def detach(self, network: NetnsNetwork) -> None:
        """Stop sniffing `network`'s bridge (before it is deleted), keeping every frame already seen."""
        entry = self._sniffers.pop(id(network), None)
        if entry is not None:
            self._stop(*entry)

    def _stop(self, sniffer: Any, sock: Any) -> None:
        with contextlib.suppress(Exception):
            sniffer.stop(join=True)
        with contextlib.suppress(Exception):  # frames still queued in the socket: the last exchange
            while select.select([sock], [], [], 0)[0]:
                frame = sock.recv()
                if frame is None:
                    break
                self._write(frame)
        with contextlib.suppress(Exception):
            sock.close()

    def close(self) -> None:
        for key in list(self._sniffers):
            self._stop(*self._sniffers.pop(key))
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
