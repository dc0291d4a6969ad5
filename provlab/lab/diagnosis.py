"""Why a provisioning run failed: watching the board's AP after `/config`, then reading `last_error`.

After `/config` the board's AP goes away (~1.1 s, spec §9). If the board cannot finish (wrong Wi-Fi
password, no cloud, bad token) and the config was not saved, it records `last_error` and reboots
into config mode: its AP comes back, and `board_info.json` tells why (spec §3.3). `ApWatch` follows
that life cycle; `classify` turns what the phone saw into a `FailureKind`.
"""

from __future__ import annotations

from enum import Enum

from provlab.lab.enrollment import FailureKind
from provlab.protocol.states import ProvError

LAST_ERROR_KIND = {
    ProvError.CONFIG: FailureKind.BAD_CONFIG,
    ProvError.NETWORK: FailureKind.NETWORK,
    ProvError.CLOUD: FailureKind.CLOUD,
    ProvError.TOKEN: FailureKind.TOKEN,
    ProvError.INTERNAL: FailureKind.INTERNAL,
}


class ApWatch(Enum):
    """The board's AP as the phone follows it after a successful `/config`."""

    EXPECT_GONE = "expect_gone"
    """`/config` was accepted; the AP should go off the air shortly."""
    GONE = "gone"
    """The board left config mode and is joining the home network."""
    RETURNED = "returned"
    """The AP is back: the board rebooted into config mode, so provisioning failed."""

    def seen(self, ap_visible: bool) -> ApWatch:
        """The next state after a scan that did (not) see the AP."""
        if self is ApWatch.EXPECT_GONE and not ap_visible:
            return ApWatch.GONE
        if self is ApWatch.GONE and ap_visible:
            return ApWatch.RETURNED
        return self


def classify(watch: ApWatch, last_error: int | None) -> tuple[FailureKind, str]:
    """The failure kind and a one-line reason, from the AP's life cycle and the board's `last_error`."""
    if last_error is not None and last_error in LAST_ERROR_KIND:
        error = ProvError(last_error)
        return LAST_ERROR_KIND[error], f"the board reports last_error {last_error} ({error.describe()})"
    if watch is ApWatch.RETURNED:
        if last_error == 0:
            return FailureKind.DEVICE_RESET, "the board came back in config mode with no error (reset or power loss)"
        return FailureKind.DEVICE_RESET, "the board came back in config mode; its board info could not be read"
    if watch is ApWatch.EXPECT_GONE:
        return FailureKind.TIMEOUT, "the board never left config mode after /config"
    return FailureKind.TIMEOUT, "the board left config mode but never came online (config saved, or still retrying)"
