"""The record of one phone run: its steps (request, response, timing, outcome), token, device and failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from provlab.lab.steps import Outcome, Step
from provlab.protocol.serial_log import mask_secret


class FailureKind(Enum):
    """Why a provisioning run failed, in the firmware's own terms where it has them."""

    BAD_CONFIG = 700
    NETWORK = 701
    CLOUD = 702
    TOKEN = 703
    INTERNAL = 704
    AP_NOT_FOUND = 1
    """The board's AP never showed up."""
    AP_LOST = 2
    """The phone lost the board's AP mid-exchange and could not get it back."""
    CLOUD_API = 3
    """The cloud refused the phone (login, token request)."""
    TIMEOUT = 4
    """The device did not come online in time and the board could not tell why."""
    DEVICE_RESET = 5
    """The board came back in config mode with no error code (reset or power loss, P4)."""


class ProvisioningFailed(AssertionError):
    """The phone could not enroll the board; says which step, why, and where the evidence is."""

    def __init__(self, enrollment: Enrollment, kind: FailureKind, detail: str) -> None:
        step = enrollment.steps[-1].name if enrollment.steps else "start"
        where = f"\n  evidence: {enrollment.evidence}" if enrollment.evidence else ""
        super().__init__(
            f"provisioning {enrollment.board_ssid!r} failed at step {step!r} ({kind.name}): {detail}{where}"
        )
        self.kind = kind
        self.enrollment = enrollment


@dataclass
class Enrollment:
    board_ssid: str
    user: str
    steps: list[Step] = field(default_factory=list)
    token: str | None = None
    template_id: str | None = None
    device_id: int | None = None
    online: bool = False
    failure: FailureKind | None = None
    evidence: str | None = None
    profile: str = "generic"
    last_error: int | None = None
    """`last_error` the board reported when the phone re-joined its AP to find out why it failed."""
    diagnosis: str | None = None
    rejoins: int = 0
    """How often the phone had to join the board's AP again (link dropped by the OS or the AP)."""

    @property
    def ok(self) -> bool:
        return self.online and self.failure is None

    @property
    def masked_token(self) -> str:
        return mask_secret(self.token) if self.token else ""

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"no step {name!r}; steps were {[s.name for s in self.steps]}")

    @property
    def duration(self) -> float:
        if not self.steps:
            return 0.0
        last = self.steps[-1]
        return (last.ended or last.started) - self.steps[0].started


__all__ = ["Enrollment", "FailureKind", "Outcome", "ProvisioningFailed", "Step"]
