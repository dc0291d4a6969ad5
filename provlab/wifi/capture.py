"""The `sim` capture: what happened on the virtual air, written as 802.11 frames to a pcap.

Every `AirEvent` becomes the management frames a monitor-mode sniffer would have seen (RadioTap +
Dot11): a beacon when an AP comes on the air, probe request/response for a scan, authentication and
association for a join (with the EAPOL 4-way handshake on a WPA2 network), the handshake that fails and
the deauthentication (reason 15) for a wrong passphrase, deauthentication
when a station leaves, is kicked or its AP goes away. The file opens in Wireshark and tshark
(link type 127, IEEE 802.11 plus radiotap header). scapy is imported only when a capture starts.
"""

from __future__ import annotations

import hashlib
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
SUPPORTED_RATES = bytes([0x82, 0x84, 0x8B, 0x96, 0x0C, 0x12, 0x18, 0x24])  # 1, 2, 5.5, 11 (basic), 6-18 Mbit/s
# Capability Information bits by scapy's names (its field is declared big-endian with the bit names swapped
# to match, so an integer would come out byte-swapped on the air)
CAPABILITIES = "ESS+short-preamble+short-slot"
PRIVACY = "+privacy"
FIRST_AID = 0xC001  # association ID 1 (the two top bits are set on the air)
ETHERTYPE_EAPOL = 0x888E
TO_DS, FROM_DS = 0x1, 0x2  # frame control flags of a data frame


def channel_frequency(channel: int) -> int:
    """MHz of an 802.11 channel number (2.4 GHz and 5 GHz bands)."""
    if channel == 14:
        return 2484
    if 1 <= channel <= 13:
        return 2407 + 5 * channel
    return 5000 + 5 * channel


class FrameBuilder:
    """Builds the frames for one event; kept apart from the writer so tests can look at them.

    Each transmitter numbers its frames (the 12-bit sequence number of the Sequence Control field), a
    WPA2 join carries its 4-way handshake (EAPOL-Key messages 1-4 as data frames, nonces and MICs made up:
    the air has no keys), and a wrong passphrase shows as messages 1 and 2 twice (the AP cannot verify
    message 2) before the AP's deauthentication with reason 15.
    """

    def __init__(self) -> None:
        from scapy.layers import dot11, eap, l2

        self.d = dot11
        self.eap = eap
        self.l2 = l2
        self._sequence: dict[str, int] = {}
        self._handshakes = 0

    def _next_sequence(self, transmitter: str) -> int:
        number = self._sequence.get(transmitter, 0)
        self._sequence[transmitter] = (number + 1) % 4096
        return number << 4  # fragment number 0

    def _radiotap(self, channel: int) -> Any:
        freq = channel_frequency(channel) if channel else 2437
        rate, flags = (2, "2GHz+CCK") if freq < 3000 else (12, "5GHz+OFDM")  # 1 or 6 Mbit/s, in 500 kbit/s units
        return self.d.RadioTap(
            present="Flags+Rate+Channel", Flags=0, Rate=rate, ChannelFrequency=freq, ChannelFlags=flags
        )

    def _mgmt(self, subtype: int, dst: str, src: str, bssid: str, channel: int) -> Any:
        return self._radiotap(channel) / self.d.Dot11(
            type=0,
            subtype=subtype,
            addr1=dst.lower(),
            addr2=src.lower(),
            addr3=bssid.lower(),
            SC=self._next_sequence(src.lower()),
        )

    def _rates(self) -> Any:
        return self.d.Dot11Elt(ID=1, info=SUPPORTED_RATES)

    def _elements(self, event: AirEvent, *, ap_side: bool = True) -> Any:
        """SSID, rates, then (from the AP) its channel; the RSN element when the network is protected."""
        d = self.d
        elements = d.Dot11Elt(ID=0, info=event.ssid.encode("utf-8")) / self._rates()
        if ap_side:
            elements /= d.Dot11Elt(ID=3, info=bytes([event.channel or 1]))
        if _protected(event):
            elements /= d.Dot11Elt(ID=48, info=RSN_WPA2_PSK_CCMP)
        return elements

    def _cap(self, event: AirEvent) -> str:
        """The Capability Information of the AP, and of a station asking to associate (the same bits)."""
        return CAPABILITIES + (PRIVACY if _protected(event) else "")

    def frames(self, event: AirEvent) -> list[Any]:
        d, ap, sta, ch = self.d, event.bssid, event.station_mac or BROADCAST, event.channel
        kind = event.kind
        if kind == "beacon_start":
            tim = d.Dot11Elt(ID=5, info=bytes([0, 1, 0, 0]))  # DTIM count 0, period 1, no traffic buffered
            body = d.Dot11Beacon(beacon_interval=100, cap=self._cap(event)) / self._elements(event)
            return [self._mgmt(8, BROADCAST, ap, ap, ch) / body / tim]
        if kind == "beacon_stop":
            return [self._mgmt(12, BROADCAST, ap, ap, ch) / d.Dot11Deauth(reason=REASON_LEAVING)]
        if kind == "probe_resp":
            return [
                self._mgmt(4, BROADCAST, sta, BROADCAST, ch)
                / d.Dot11ProbeReq()
                / d.Dot11Elt(ID=0, info=event.ssid.encode("utf-8"))
                / self._rates(),
                self._mgmt(5, sta, ap, ap, ch)
                / d.Dot11ProbeResp(beacon_interval=100, cap=self._cap(event))
                / self._elements(event),
            ]
        if kind == "auth":
            return [
                self._mgmt(11, ap, sta, ap, ch) / d.Dot11Auth(algo=0, seqnum=1, status=0),
                self._mgmt(11, sta, ap, ap, ch) / d.Dot11Auth(algo=0, seqnum=2, status=0),
            ]
        if kind == "assoc":
            return [*self._association(event), *self._handshake(event, succeeds=True)]
        if kind == "auth_fail":
            return [
                *self._association(event),
                *self._handshake(event, succeeds=False),
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
        request = d.Dot11AssoReq(cap=self._cap(event), listen_interval=10)
        response = d.Dot11AssoResp(cap=self._cap(event), status=0, AID=FIRST_AID)
        return [
            self._mgmt(0, ap, sta, ap, ch) / request / self._elements(event, ap_side=False),
            self._mgmt(1, sta, ap, ap, ch) / response / self._rates(),
        ]

    def _handshake(self, event: AirEvent, *, succeeds: bool) -> list[Any]:
        """EAPOL-Key messages of the 4-way handshake (none on an open network)."""
        if not _protected(event):
            return []
        self._handshakes += 1
        seed = f"{event.bssid}/{event.station_mac}/{self._handshakes}".encode()
        anonce, snonce = _made_up(seed + b"A", 32), _made_up(seed + b"S", 32)
        rsn = bytes([48, len(RSN_WPA2_PSK_CCMP)]) + RSN_WPA2_PSK_CCMP
        if not succeeds:  # message 2's MIC does not verify: the AP retries message 1, then gives up
            return [
                self._eapol(event, from_ap=True, message=1, replay=1, nonce=anonce),
                self._eapol(event, from_ap=False, message=2, replay=1, nonce=snonce, data=rsn),
                self._eapol(event, from_ap=True, message=1, replay=2, nonce=anonce),
                self._eapol(event, from_ap=False, message=2, replay=2, nonce=snonce, data=rsn),
            ]
        return [
            self._eapol(event, from_ap=True, message=1, replay=1, nonce=anonce),
            self._eapol(event, from_ap=False, message=2, replay=1, nonce=snonce, data=rsn),
            self._eapol(event, from_ap=True, message=3, replay=2, nonce=anonce, data=_made_up(seed + b"G", 56)),
            self._eapol(event, from_ap=False, message=4, replay=2),
        ]

    def _eapol(
        self, event: AirEvent, *, from_ap: bool, message: int, replay: int, nonce: bytes = b"", data: bytes = b""
    ) -> Any:
        d, ap, sta = self.d, event.bssid.lower(), (event.station_mac or BROADCAST).lower()
        if from_ap:
            header = d.Dot11(type=2, subtype=0, FCfield=FROM_DS, addr1=sta, addr2=ap, addr3=ap)
            header.SC = self._next_sequence(ap)
        else:
            header = d.Dot11(type=2, subtype=0, FCfield=TO_DS, addr1=ap, addr2=sta, addr3=ap)
            header.SC = self._next_sequence(sta)
        key = self.eap.EAPOL_KEY(
            key_descriptor_type=2,  # RSN
            key_descriptor_type_version=2,  # HMAC-SHA1-128 MIC, AES key wrap
            key_type=1,  # pairwise
            install=int(message == 3),
            key_ack=int(from_ap),
            has_key_mic=int(message != 1),
            secure=int(message in (3, 4)),
            encrypted_key_data=int(message == 3),
            key_length=16 if from_ap else 0,
            key_replay_counter=replay,
            key_nonce=nonce or bytes(32),
            key_mic=_made_up(nonce + bytes([message]), 16) if message != 1 else bytes(16),
            key_data=data,
        )
        llc = self.l2.LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / self.l2.SNAP(OUI=0, code=ETHERTYPE_EAPOL)
        return self._radiotap(event.channel) / header / llc / self.eap.EAPOL(version=2, type=3) / key


def _protected(event: AirEvent) -> bool:
    return bool(event.security) and event.security != "OPEN"


def _made_up(seed: bytes, size: int) -> bytes:
    """Stable bytes standing for a nonce, a MIC or wrapped key data (the air has no keys to compute them)."""
    return hashlib.shake_128(seed).digest(size)


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
