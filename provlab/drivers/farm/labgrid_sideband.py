"""A labgrid place's power, reset and button, as a provlab control sideband, through labgrid's own drivers.

Each resource of the place gets a labgrid target of its own and the labgrid driver that binds it: a power
resource (`NetworkPowerPort` with any of labgrid's power backends, `PDUDaemonPort`, `USBPowerPort`, …) is the
board's power; a digital output (`HttpDigitalOutput`, `ModbusTCPCoil`, `SysfsGPIO`, a relay, …) named `reset`
is its reset line (asserted: held in reset) and one named `button` (or `boot`, `io0`) its config button
(asserted: pressed). A place with power but no reset line resets by a power cycle (`WiredActions`).
"""

from __future__ import annotations

from typing import Any

from provlab.clock.base import LabClock
from provlab.drivers.capabilities import Capability
from provlab.drivers.farm.labgrid_place import FarmError, LabgridPlace, PlaceResource, labgrid_module
from provlab.drivers.sideband.base import ButtonPress, PowerSwitch, SidebandError

RESET_NAMES = ("reset", "nreset", "en")
BUTTON_NAMES = ("button", "boot", "io0")
RESET_PULSE_S = 0.1


class PlaceActionFailed(SidebandError):
    """A labgrid driver of the place failed to switch power or an output."""


def _driver_class(cls: str, protocol: type) -> type | None:
    """The labgrid driver implementing `protocol` that binds a resource of class `cls` (and nothing else)."""
    factory = labgrid_module("factory").target_factory
    labgrid_module("driver")  # registers the drivers
    for driver in factory.drivers.values():
        if not issubclass(driver, protocol) or len(driver.bindings) != 1:
            continue
        (accepts,) = driver.bindings.values()
        names = {
            a if isinstance(a, str) else getattr(a, "__name__", "")
            for a in (accepts if isinstance(accepts, set) else {accepts})
        }
        if cls in names:
            found: type = driver
            return found
    return None


def _activate(place: str, resource: PlaceResource, driver_cls: type) -> Any:
    """`driver_cls` on a target holding only `resource`, activated."""
    target_mod = labgrid_module("target")
    factory = labgrid_module("factory").target_factory
    target = target_mod.Target(f"{place}:{resource.name}")
    try:
        factory.make_resource(
            target, resource.cls, None if resource.name == resource.cls else resource.name, dict(resource.args)
        )
        driver = driver_cls(target, None)
        target.activate(driver)
    except Exception as exc:
        raise FarmError(
            f"place {place}: cannot drive {resource.name} ({resource.cls}) with {driver_cls.__name__}: {exc}"
        ) from None
    return driver


class LabgridSideband(PowerSwitch, ButtonPress):
    """Power, reset and button of an acquired place; closing it releases the place."""

    def __init__(self, place: LabgridPlace, resources: list[PlaceResource], *, clock: LabClock | None = None) -> None:
        super().__init__(clock=clock)
        self.place = place
        self.tags = place.tags()
        """The place's tags as they were when it was acquired (`profile`: the board's firmware profile)."""
        protocols = labgrid_module("protocol")
        self.power: Any = None
        self.reset_line: Any = None
        self.button: Any = None
        self.wired: list[str] = []
        for resource in resources:
            power_cls = _driver_class(resource.cls, protocols.PowerProtocol)
            if power_cls is not None and self.power is None:
                self.power = _activate(place.place, resource, power_cls)
                self.wired.append(f"power {resource.cls}")
                continue
            output_cls = _driver_class(resource.cls, protocols.DigitalOutputProtocol)
            if output_cls is None:
                continue
            role = resource.name.lower()
            if role in RESET_NAMES and self.reset_line is None:
                self.reset_line = _activate(place.place, resource, output_cls)
                self.wired.append(f"reset {resource.cls}")
            elif role in BUTTON_NAMES and self.button is None:
                self.button = _activate(place.place, resource, output_cls)
                self.wired.append(f"button {resource.cls}")

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps = set()
        if self.power is not None:
            caps.add(Capability.POWER)
        if self.reset_line is not None:
            caps.add(Capability.RESET)
        if self.button is not None:
            caps.add(Capability.BUTTON)
        return frozenset(caps)

    def describe(self) -> str:
        return f"labgrid place {self.place.place} ({', '.join(self.wired) or 'serial only'})"

    def _do(self, what: str, action: Any, *args: object) -> None:
        try:
            action(*args)
        except Exception as exc:
            raise PlaceActionFailed(f"{what} through labgrid place {self.place.place} failed: {exc}") from exc

    def power_on(self) -> None:
        self.require(Capability.POWER, "switch the board on")
        self._do("power on", self.power.on)

    def power_off(self) -> None:
        self.require(Capability.POWER, "switch the board off")
        self._do("power off", self.power.off)

    def reset(self) -> None:
        """Assert the reset line, a short pulse, release it."""
        self.require(Capability.RESET, "reset the board")
        self._do("reset (assert)", self.reset_line.set, True)
        try:
            self.sleep(RESET_PULSE_S)
        finally:
            self._do("reset (release)", self.reset_line.set, False)

    def press_button(self) -> None:
        self.require(Capability.BUTTON, "press the button")
        self._do("button press", self.button.set, True)

    def release_button(self) -> None:
        self.require(Capability.BUTTON, "release the button")
        self._do("button release", self.button.set, False)

    def close(self) -> None:
        """Release the place: the end of the run, also after a failure."""
        self.place.close()
