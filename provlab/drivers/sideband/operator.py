"""The operator sideband: a person at a manual station resets, powers and presses, when asked.

Each action prints one instruction naming the board and waits for the operator to confirm (Enter). Typing
`skip` (or `s`) refuses: the action raises `OperatorDeclined` and the scenario fails with that reason.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

from provlab.drivers.capabilities import WIRED, Capability
from provlab.drivers.sideband.base import ButtonPress, PowerSwitch, SidebandError


class OperatorDeclined(SidebandError):
    """The operator answered `skip` to an instruction."""


def _ask_stdin(prompt: str) -> str:
    sys.stdout.write(prompt)
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        raise OperatorDeclined("no operator: standard input is closed")
    return line


class OperatorSideband(PowerSwitch, ButtonPress):
    """Actions done by hand; `can` lists what this station's operator is able to do."""

    def __init__(
        self,
        can: Iterable[Capability] = WIRED,
        *,
        name: str = "board",
        ask: Callable[[str], str] = _ask_stdin,
        time_scale: float = 1.0,
    ) -> None:
        super().__init__(time_scale=time_scale)
        self._can = frozenset(can)
        if not self._can <= WIRED:
            unwired = ", ".join(sorted(c.value for c in self._can - WIRED))
            raise ValueError(f"an operator can reset, power and press, not {unwired}")
        self.name = name
        self.ask = ask

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self._can

    def describe(self) -> str:
        return "operator prompts"

    def instruct(self, text: str) -> None:
        answer = self.ask(f"[provlab] {self.name}: {text}, then press Enter (or type skip): ")
        if answer.strip().lower() in ("skip", "s"):
            raise OperatorDeclined(f"the operator declined: {text}")

    def reset(self) -> None:
        self.require(Capability.RESET, "reset the board")
        self.instruct("press and release the RESET (EN) button")

    def power_off(self) -> None:
        self.require(Capability.POWER, "switch the board off")
        self.instruct("unplug the board's power (USB)")

    def power_on(self) -> None:
        self.require(Capability.POWER, "switch the board on")
        self.instruct("plug the board's power (USB) back in")

    def press_button(self) -> None:
        self.require(Capability.BUTTON, "press the button")
        self.instruct("press and keep holding the config button")

    def release_button(self) -> None:
        self.require(Capability.BUTTON, "release the button")
        self.instruct("release the config button")

    def hold_button(self, seconds: float) -> None:
        self.require(Capability.BUTTON, "hold the button")
        device = f"{seconds:g} s" if self.time_scale == 1 else f"{seconds * self.time_scale:g} s (wall)"
        self.instruct(f"hold the config button for {device}, then release it")
