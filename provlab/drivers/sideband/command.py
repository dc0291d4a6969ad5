"""The external-command sideband: power (and reset or button) through programs, e.g. a USB relay or smart plug CLI,
and the status LED through an LED sensor's program.

Each action is an argv (a string is split like a shell would, but no shell runs it); `{name}` and `{port}` in
any word are replaced by the board's name and port. A command that fails, hangs past `timeout` or is missing
raises `SidebandCommandFailed` with the command, its exit status and what it printed. The `led` command samples
the LED and prints the pattern it saw on one line (`off`, `beat BLUE {50,500}`, `wave #2EFFB9 {5000}`: the
text form of `provlab.protocol.led.LedPattern`); anything else is a `SidebandCommandFailed` that shows it.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping, Sequence

from provlab.drivers.capabilities import Capability
from provlab.drivers.sideband.base import ButtonPress, PowerSwitch, SidebandError
from provlab.protocol.led import LedPattern, LedPatternError

ACTIONS = ("power_on", "power_off", "reset", "button_press", "button_release", "led")


class SidebandCommandFailed(SidebandError):
    """An external sideband command did not succeed."""


def _argv(command: str | Sequence[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(word) for word in command]


class CommandSideband(PowerSwitch, ButtonPress):
    """Actions run as external commands; an action without a command is a capability the board lacks."""

    def __init__(
        self,
        commands: Mapping[str, str | Sequence[str]],
        *,
        name: str = "board",
        port: str = "",
        timeout: float = 30.0,
        time_scale: float = 1.0,
    ) -> None:
        super().__init__(time_scale=time_scale)
        unknown = sorted(set(commands) - set(ACTIONS))
        if unknown:
            raise ValueError(f"unknown sideband command(s) {unknown}; known: {', '.join(ACTIONS)}")
        self.commands = {action: _argv(cmd) for action, cmd in commands.items()}
        empty = sorted(action for action, argv in self.commands.items() if not argv)
        if empty:
            raise ValueError(f"empty sideband command(s): {empty}")
        if ("power_on" in self.commands) != ("power_off" in self.commands):
            raise ValueError("power control needs both power_on and power_off commands")
        if ("button_press" in self.commands) != ("button_release" in self.commands):
            raise ValueError("button control needs both button_press and button_release commands")
        self.name = name
        self.port = port
        self.timeout = timeout

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps = set()
        if "power_on" in self.commands:
            caps |= {Capability.POWER, Capability.RESET}
        if "reset" in self.commands:
            caps.add(Capability.RESET)
        if "button_press" in self.commands:
            caps.add(Capability.BUTTON)
        if "led" in self.commands:
            caps.add(Capability.LED)
        return frozenset(caps)

    def describe(self) -> str:
        programs = sorted({argv[0] for argv in self.commands.values()})
        return f"external commands ({', '.join(programs)})"

    def run(self, action: str) -> str:
        """Run the command of `action`; its standard output."""
        argv = [word.replace("{name}", self.name).replace("{port}", self.port) for word in self.commands[action]]
        shown = shlex.join(argv)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, check=False)
        except FileNotFoundError:
            raise SidebandCommandFailed(f"{action} for {self.name}: `{argv[0]}` not found (command: {shown})") from None
        except subprocess.TimeoutExpired:
            raise SidebandCommandFailed(
                f"{action} for {self.name}: `{shown}` did not finish within {self.timeout:g} s"
            ) from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()
            raise SidebandCommandFailed(
                f"{action} for {self.name}: `{shown}` exited with status {done.returncode}"
                + (f": {said}" if said else "")
            )
        return done.stdout

    def reset(self) -> None:
        """The reset command, or without one a power cycle."""
        if "reset" in self.commands:
            self.run("reset")
        else:
            self.power_cycle()

    def power_off(self) -> None:
        self.require(Capability.POWER, "switch the board off")
        self.run("power_off")

    def power_on(self) -> None:
        self.require(Capability.POWER, "switch the board on")
        self.run("power_on")

    def press_button(self) -> None:
        self.require(Capability.BUTTON, "press the button")
        self.run("button_press")

    def release_button(self) -> None:
        self.require(Capability.BUTTON, "release the button")
        self.run("button_release")

    def led(self) -> LedPattern:
        """The LED sensor command's reading: the pattern on its last non-empty line of output."""
        self.require(Capability.LED, "see the status LED")
        said = [line for line in self.run("led").splitlines() if line.strip()]
        try:
            return LedPattern.parse(said[-1] if said else "")
        except LedPatternError as exc:
            shown = shlex.join(self.commands["led"])
            raise SidebandCommandFailed(f"led for {self.name}: `{shown}` printed no LED pattern: {exc}") from None
