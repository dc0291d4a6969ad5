"""A board's radio in the `netns` backend: its namespace holds the SoftAP bridge and its STA `wlan0`.

`start_ap` builds the Edgent SoftAP inside the board's namespace: bridge `ap0` at 192.168.4.1/24
(its MAC is the SoftAP BSSID), DHCP from .2, DNS that answers only `blynk.setup`, no uplink.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provlab.wifi.backend import BoardRadio
from provlab.wifi.netns.network import NetnsNetwork
from provlab.wifi.netns.station import NetnsStation

if TYPE_CHECKING:
    from provlab.wifi.netns.air import NetnsAir

SOFTAP_BRIDGE = "ap0"
SOFTAP_SUBNET = "192.168.4.0/24"
SOFTAP_ZONE = {"blynk.setup": "192.168.4.1"}


class NetnsBoardRadio(BoardRadio):
    def __init__(self, air: NetnsAir, name: str, station: NetnsStation) -> None:
        self.air = air
        self.name = name
        self._station = station
        self._ap: NetnsNetwork | None = None

    @property
    def station(self) -> NetnsStation:
        return self._station

    @property
    def ap(self) -> NetnsNetwork | None:
        return self._ap

    async def start_ap(self, ssid: str, bssid: str, channel: int) -> NetnsNetwork:
        await self.stop_ap()
        network = NetnsNetwork(
            self.air,
            self._station.namespace,
            SOFTAP_BRIDGE,
            ssid,
            bssid,
            passphrase=None,
            channel=channel,
            rssi=-40,
            subnet=SOFTAP_SUBNET,
            zone=SOFTAP_ZONE,
            internet=False,
            owns_namespace=False,
            arduino_dns=True,
        )
        await self.air.start_network_async(network)
        self._ap = network
        return network

    async def stop_ap(self) -> None:
        ap, self._ap = self._ap, None
        if ap is not None:
            await self.air.remove_network_async(ap)
