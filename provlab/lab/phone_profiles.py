"""Phone profiles: what a phone's OS does around the app during AP provisioning (spec §9, P3).

The app's steps are the same everywhere; the OS differs in two ways that break provisioning in the
field. An iOS-like phone stays joined to the device AP after `/config` until the AP goes away (P3),
so the app must not take the link dropping for a failure. An Android-like phone notices that the
device AP has no internet and drops it (falls back to a network that has internet) unless the app
asked for that network explicitly, so the app must re-join with a network request and carry on.
"""

from __future__ import annotations

from dataclasses import dataclass

CONNECTIVITY_CHECK_HOST = "connectivitycheck.gstatic.com"


@dataclass(frozen=True)
class PhoneProfile:
    name: str
    leaves_ap_after_config: bool = True
    """False: the phone stays on the device AP after `/config` until the AP disappears (iOS)."""
    drops_no_internet_after_s: float | None = None
    """Device seconds after joining a network without internet until the OS drops it (Android)."""
    ap_teardown_wait_s: float = 5.0
    """How long a phone that stays on the AP waits for it to go away (device seconds)."""


GENERIC = PhoneProfile("generic")
IOS = PhoneProfile("ios", leaves_ap_after_config=False)
ANDROID = PhoneProfile("android", drops_no_internet_after_s=3.0)
PROFILES = {p.name: p for p in (GENERIC, IOS, ANDROID)}


def profile_named(name: str | PhoneProfile) -> PhoneProfile:
    if isinstance(name, PhoneProfile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"phone profile {name!r} is not one of {', '.join(sorted(PROFILES))}") from None
