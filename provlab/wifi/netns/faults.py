"""Fault knobs of the `netns` air: the same `Faults` as `sim`, acted out on bridges, veths and servers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provlab.wifi.faults import SENSITIVITY_DBM, Faults

if TYPE_CHECKING:
    from provlab.wifi.netns.air import NetnsAir
    from provlab.wifi.netns.network import NetnsNetwork


class NetnsFaults(Faults):
    def __init__(self, air: NetnsAir) -> None:
        super().__init__(air.clock)
        self.air = air

    def _cut(self, network: NetnsNetwork, name: str, reason: str) -> bool:
        if not network.unplug_now(name):
            return False
        self.air.record("deauth", network, name, self.air._station_mac(name), detail=reason)
        return True

    def ap_down(self, ssid: str) -> None:
        network = self.air.network(ssid)
        if not network.on_air:
            return
        self.air.record("fault", network, detail="ap_down")
        network.on_air = False
        for name in network.stations():
            self._cut(network, name, "ap_down")
        self.air.record("beacon_stop", network)

    def ap_up(self, ssid: str) -> None:
        network = self.air.network(ssid)
        if network.on_air:
            return
        network.on_air = True
        self.air.record("fault", network, detail="ap_up")
        self.air.record("beacon_start", network)

    def set_rssi(self, ssid: str, rssi: int) -> None:
        network = self.air.network(ssid)
        network.rssi = rssi
        self.air.record("fault", network, detail=f"rssi={rssi}")
        if rssi < SENSITIVITY_DBM:
            for name in network.stations():
                self._cut(network, name, "beacon_loss")

    def set_channel(self, ssid: str, channel: int) -> None:
        network = self.air.network(ssid)
        network.channel = channel
        self.air.record("fault", network, detail=f"channel={channel}")
        for name in network.stations():
            station = self.air._stations.get(name)
            if station is not None and channel not in station.channels:
                self._cut(network, name, "channel_switch")

    def set_internet(self, ssid: str, online: bool) -> None:
        network = self.air.network(ssid)
        if network.internet == online:
            return
        network.internet = online
        self.air.record("fault", network, detail=f"internet={'up' if online else 'down'}")
        self.air.infra.run(network.open_uplink() if online else network.close_uplink())

    def set_dns_failure(self, ssid: str, failing: bool) -> None:
        network = self.air.network(ssid)
        network.zone.failing = failing
        self.air.record("fault", network, detail=f"dns={'servfail' if failing else 'ok'}")

    def kick(self, ssid: str, station: str | None = None) -> list[str]:
        network = self.air.network(ssid)
        targets = [s for s in network.stations() if station is None or s == station]
        return [name for name in targets if self._cut(network, name, "kicked")]
