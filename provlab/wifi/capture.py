"""The `sim` capture: what happened on the virtual air, written as 802.11 frames to a pcap.

Every `AirEvent` becomes the management frames a monitor-mode sniffer would have seen (RadioTap +
Dot11): a beacon when an AP comes on the air, probe request/response for a scan, authentication and
association for a join, the 4-way-handshake deauthentication for a wrong passphrase, deauthentication
when a station leaves, is kicked or its AP goes away. The file opens in Wireshark and tshark
(link type 127, IEEE 802.11 plus radiotap header). scapy is imported only when a capture starts.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provlab.wifi.events import AirEvent
    from provlab.wifi.sim import SimAir

BROADCAST = "ff:ff:ff:ff:ff:ff"
LINKTYPE_IEEE802_11_RADIOTAP = 127
# 802.11 reason codes
REASON_UNSPECIFIED = 1
REASON_PREV_AUTH_INVALID = 2
REASON_LEAVING = 3
REASON_INACTIVITY = 4
REASON_4WAY_TIMEOUT = 15
DEAUTH_REASONS = {
    "leaving": REASON_LEAVING,
    "kicked": REASON_PREV_AUTH_INVALID,
    "ap_down": REASON_LEAVING,
    "ap_removed": REASON_LEAVING,
    "beacon_loss": REASON_INACTIVITY,
    "channel_switch": REASON_UNSPECIFIED,
}
FROM_STATION = frozenset({"leaving", "beacon_loss"})
RSN_WPA2_PSK_CCMP = bytes.fromhex("0100000fac040100000fac040100000fac020000")


def channel_frequency(channel: int) -> int:
    """MHz of an 802.11 channel number (2.4 GHz and 5 GHz bands)."""
    if channel == 14:
        return 2484
    if 1 <= channel <= 13:
        return 2407 + 5 * channel
    return 5000 + 5 * channel


class FrameBuilder:
    """Builds the frames for one event; kept apart from the writer so tests can look at them."""

    def __init__(self) -> None:
        from scapy.layers import dot11

        self.d = dot11

    def _radiotap(self, channel: int) -> Any:
        freq = channel_frequency(channel) if channel else 2437
        flags = "2GHz+CCK" if freq < 3000 else "5GHz+OFDM"
        return self.d.RadioTap(present="Rate+Channel", Rate=2, ChannelFrequency=freq, ChannelFlags=flags)

    def _mgmt(self, subtype: int, dst: str, src: str, bssid: str, channel: int) -> Any:
        return self._radiotap(channel) / self.d.Dot11(
            type=0, subtype=subtype, addr1=dst.lower(), addr2=src.lower(), addr3=bssid.lower()
        )

    def _elements(self, event: AirEvent, *, with_rates: bool = True) -> Any:
        d = self.d
        elements = d.Dot11Elt(ID=0, info=event.ssid.encode("utf-8"))
        if with_rates:
            elements /= d.Dot11Elt(ID=1, info=bytes([0x82, 0x84, 0x8B, 0x96, 0x0C, 0x12, 0x18, 0x24]))
            elements /= d.Dot11Elt(ID=3, info=bytes([event.channel or 1]))
        if event.security and event.security != "OPEN":
            elements /= d.Dot11Elt(ID=48, info=RSN_WPA2_PSK_CCMP)
        return elements

    def _cap(self, event: AirEvent) -> int:
        return 0x0411 if event.security and event.security != "OPEN" else 0x0401  # ESS, short slot (+privacy)

    def frames(self, event: AirEvent) -> list[Any]:
        d, ap, sta, ch = self.d, event.bssid, event.station_mac or BROADCAST, event.channel
        kind = event.kind
        if kind == "beacon_start":
            return [self._mgmt(8, BROADCAST, ap, ap, ch) / d.Dot11Beacon(cap=self._cap(event)) / self._elements(event)]
        if kind == "beacon_stop":
            return [self._mgmt(12, BROADCAST, ap, ap, ch) / d.Dot11Deauth(reason=REASON_LEAVING)]
        if kind == "probe_resp":
            return [
                self._mgmt(4, BROADCAST, sta, BROADCAST, ch) / d.Dot11ProbeReq() / self._elements(event),
                self._mgmt(5, sta, ap, ap, ch) / d.Dot11ProbeResp(cap=self._cap(event)) / self._elements(event),
            ]
        if kind == "auth":
            return [
                self._mgmt(11, ap, sta, ap, ch) / d.Dot11Auth(algo=0, seqnum=1, status=0),
                self._mgmt(11, sta, ap, ap, ch) / d.Dot11Auth(algo=0, seqnum=2, status=0),
            ]
        if kind == "assoc":
            return self._association(event)
        if kind == "auth_fail":
            return [
                *self._association(event),
                self._mgmt(12, sta, ap, ap, ch) / d.Dot11Deauth(reason=REASON_4WAY_TIMEOUT),
            ]
        if kind == "deauth":
            reason = DEAUTH_REASONS.get(event.detail, REASON_UNSPECIFIED)
            if event.detail in FROM_STATION:
                return [self._mgmt(12, ap, sta, ap, ch) / d.Dot11Deauth(reason=reason)]
            return [self._mgmt(12, sta, ap, ap, ch) / d.Dot11Deauth(reason=reason)]
        return []  # faults are not frames; they are in the timeline

    def _association(self, event: AirEvent) -> list[Any]:
        d, ap, sta, ch = self.d, event.bssid, event.station_mac or BROADCAST, event.channel
        return [
            self._mgmt(0, ap, sta, ap, ch)
            / d.Dot11AssoReq(cap=self._cap(event), listen_interval=10)
            / self._elements(event),
            self._mgmt(1, sta, ap, ap, ch) / d.Dot11AssoResp(cap=self._cap(event), status=0, AID=1),
        ]


class SimCapture:
    """Records the air's events from the moment it is created and writes them to `path` as 802.11 frames.

    Building a frame with scapy costs milliseconds of CPU, which would be most of an enrollment's wall time
    if paid when the event happens. So events are kept as they come and the frames are built when the capture
    is flushed: at `close()` (the end of the lab), or by `flush()` whenever a reader wants the file now.
    """

    def __init__(self, air: SimAir, path: str | Path) -> None:
        from scapy.utils import PcapWriter

        self.air = air
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.frames_written = 0
        self._lock = threading.Lock()
        self._builder = FrameBuilder()
        self._pending: list[AirEvent] = []
        self._writer: Any = PcapWriter(str(self.path), linktype=LINKTYPE_IEEE802_11_RADIOTAP, sync=False)
        for network in air.networks():  # what is already on the air shows as a beacon first
            self._pending.append(self._beacon_now(network.ssid, network.bssid, network.channel, network.security.value))
        air.listeners.append(self._on_event)

    def _beacon_now(self, ssid: str, bssid: str, channel: int, security: str) -> AirEvent:
        import time

        from provlab.wifi.events import AirEvent

        return AirEvent(time.time(), "beacon_start", ssid, bssid, channel=channel, security=security)

    def _on_event(self, event: AirEvent) -> None:
        with self._lock:
            if self._writer is not None:
                self._pending.append(event)

    def flush(self) -> None:
        """Write the frames of every event recorded so far."""
        with self._lock:
            pending, self._pending = self._pending, []
            if self._writer is None:
                return
            for event in pending:
                for frame in self._builder.frames(event):
                    frame.time = event.wall_time
                    self._writer.write(frame)
                    self.frames_written += 1
            self._writer.flush()

    def close(self) -> None:
        if self._on_event in self.air.listeners:
            self.air.listeners.remove(self._on_event)
        self.flush()
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
