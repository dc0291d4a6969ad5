"""Air events: what happened on a radio environment, for the capture and the timeline."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class AirEvent:
    """Something that happened on the virtual air (for the capture and the timeline)."""

    wall_time: float
    kind: str  # beacon_start, beacon_stop, probe_req, probe_resp, auth, assoc, auth_fail, deauth, fault
    ssid: str
    bssid: str
    station: str = ""
    station_mac: str = ""
    channel: int = 0
    security: str = ""
    detail: str = ""


def station_mac_for(name: str) -> str:
    """A stable, locally administered unicast MAC for a station known only by name."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=5).digest()
    return ":".join(f"{b:02X}" for b in bytes([0x06]) + digest)
