"""What a lab set-up cannot do: raised by a lab call, reported by the pytest plugin as a skip with the reason.

A scenario is written once and runs on every lab; when a step needs something this lab lacks (a phone
that can reach a real board's access point, a cloud stub in this process), the step raises one of these
instead of failing, so a run on real hardware or against a shared stub says plainly what it did not test.
What a board itself can do (power, reset, button, console, serial log) is `provlab.drivers.capabilities`.
"""

from __future__ import annotations


class MissingCapability(RuntimeError):
    """A step this lab cannot perform; the message says what is missing and what would provide it."""


class BoardOutOfReach(MissingCapability):
    """A phone step on a board whose access point is not on the lab's air (a board attached by serial
    port while the lab's Wi-Fi is simulated)."""


class NeedsEmbeddedCloud(MissingCapability):
    """A step that needs the cloud stub inside this process (its control calls, fault knobs, restarts)
    while the lab uses a stub running elsewhere (`cloud.url`)."""


class NoAirFaults(MissingCapability):
    """A step that breaks the Wi-Fi (AP down, RSSI, channel, uplink, DNS, kick) on a lab whose air is the real
    one around the host (`wifi = wpa:IFACE`), which the lab cannot switch off or move."""


class NoSecondPhone(MissingCapability):
    """A second phone in a lab whose phone is one real adapter (`wifi = wpa:IFACE`): one adapter is one phone."""
