"""Control sidebands: reset, power and button of a board, for emulated and real hardware alike.

The capability model itself (`Capability`, the protocols, `skip_reason`) lives in `provlab.drivers.capabilities`;
its names are also importable from here, where sidebands are built.
"""

from provlab.drivers.capabilities import (
    MARKER_CAPABILITIES,
    Capability,
    CapabilityMissing,
    required_capabilities,
    skip_reason,
)
from provlab.drivers.sideband.base import CombinedSideband, NoSideband, Sideband, SidebandError

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
