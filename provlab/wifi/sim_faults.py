"""Fault knobs of the `sim` air: the same `Faults` every backend offers, on in-process networks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provlab.wifi.faults import SENSITIVITY_DBM, Faults

if TYPE_CHECKING:
    from provlab.wifi.sim import SimAir, SimNetwork


class SimFaults(Faults):
    """Fault knobs of the virtual air."""

    def __init__(self, air: SimAir) -> None:
        super().__init__(air.clock)
        self.air = air

    def _fault(self, network: SimNetwork, detail: str) -> None:
        self.air.record("fault", network, detail=detail)

    def ap_down(self, ssid: str) -> None:
        with self.air._lock:
            network = self.air.network(ssid)
            if not network.on_air:
                return
            self._fault(network, "ap_down")
            network.deauth_all("ap_down")
            network.on_air = False
        self.air.record("beacon_stop", network)

    def ap_up(self, ssid: str) -> None:
        with self.air._lock:
            network = self.air.network(ssid)
            if network.on_air:
                return
            network.on_air = True
            self._fault(network, "ap_up")
        self.air.record("beacon_start", network)

    def set_rssi(self, ssid: str, rssi: int) -> None:
        with self.air._lock:
            network = self.air.network(ssid)
            network.rssi = rssi
            self._fault(network, f"rssi={rssi}")
            if rssi < SENSITIVITY_DBM:
                network.deauth_all("beacon_loss")

    def set_channel(self, ssid: str, channel: int) -> None:
        with self.air._lock:
            network = self.air.network(ssid)
            network.channel = channel
            self._fault(network, f"channel={channel}")
            for name in network.stations():
                station = self.air._stations.get(name)
                if station is not None and channel not in station.channels:
                    network._detach(name)
                    self.air.record("deauth", network, name, detail="channel_switch")

    def set_internet(self, ssid: str, online: bool) -> None:
        with self.air._lock:
            network = self.air.network(ssid)
            network.internet = online
            self._fault(network, f"internet={'up' if online else 'down'}")

    def set_dns_failure(self, ssid: str, failing: bool) -> None:
        with self.air._lock:
            network = self.air.network(ssid)
            network.dns_failing = failing
            self._fault(network, f"dns={'servfail' if failing else 'ok'}")

    def kick(self, ssid: str, station: str | None = None) -> list[str]:
        with self.air._lock:
            network = self.air.network(ssid)
            targets = [s for s in network.stations() if station is None or s == station]
            for name in targets:
                network._detach(name)
                self.air.record("deauth", network, name, detail="kicked")
            return targets
