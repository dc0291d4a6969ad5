"""Control sidebands: reset, power and button of a board, for emulated and real hardware alike."""

from provlab.drivers.sideband.base import (
    MARKER_CAPABILITIES,
    Capability,
    CapabilityMissing,
    CombinedSideband,
    NoSideband,
    Sideband,
    SidebandError,
    required_capabilities,
    skip_reason,
)

__all__ = [
    "MARKER_CAPABILITIES",
    "Capability",
    "CapabilityMissing",
    "CombinedSideband",
    "NoSideband",
    "Sideband",
    "SidebandError",
    "required_capabilities",
    "skip_reason",
]
