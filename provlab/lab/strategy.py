"""Known state before a test: a board's states and the strategy that drives it to the one a test needs.

As labgrid's strategies do for a target, `BoardStrategy` knows a small set of states (`off`, `booted`,
`wait_config`, `provisioned`) and gets a board from where it is to where a test needs it, with what the board
has: power (off, on), a reset line or a power cycle (booted again), the console's `config erase` or a 10 s
button hold (back to config mode), the lab's phone (provisioned). A state no capability of the board reaches
raises `StateUnreachable`, which the plugin reports as a skip with the reason. Every transition is a step on
the lab's step journal (`board_state`), with where the board was, where it went and how.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING

from provlab.drivers.capabilities import Capability
from provlab.protocol.serial_log import StateChange
from provlab.protocol.states import EdgentState

if TYPE_CHECKING:
    from provlab.lab.lab_board import LabBoard
    from provlab.lab.lab_phone import LabPhone

BOOT_S = 30.0
"""Device seconds a board gets to boot and print its first state change."""
CONFIG_MODE_S = 30.0
"""Device seconds from `config erase` or a released 10 s hold to WAIT_CONFIG."""
RESET_HOLD_S = 11.0
"""A button hold past the firmware's 10 s reset (spec §4.1: the reset fires on release)."""
ONLINE_S = 120.0
QUIET_BOARD_S = 3.0
"""How long a real board that printed nothing since its port was opened is watched for a boot."""

CONFIG_MODE_STATES = frozenset({EdgentState.WAIT_CONFIG, EdgentState.CONFIGURING})
CONNECTED_STATES = frozenset({EdgentState.RUNNING})


class BoardState(enum.Enum):
    OFF = "off"
    """No power."""
    BOOTED = "booted"
    """Powered and running its firmware, in whatever firmware state."""
    WAIT_CONFIG = "wait_config"
    """In config mode with its access point up, waiting for a phone (no valid configuration)."""
    PROVISIONED = "provisioned"
    """Configured by the lab's phone and online (RUNNING)."""

    @classmethod
    def parse(cls, name: str) -> BoardState:
        try:
            return cls(name)
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise ValueError(f"board state {name!r} is not one of {known}") from None


ORDER = (BoardState.OFF, BoardState.BOOTED, BoardState.WAIT_CONFIG, BoardState.PROVISIONED)


class StateUnreachable(Exception):
    """The board has no capability that gets it to the state a test needs (reported as a skip)."""


class BoardStrategy:
    """Drives one board to a `BoardState` with what it has (see the module docstring)."""

    def __init__(self, board: LabBoard, phone: Callable[[], LabPhone]) -> None:
        self.board = board
        self._phone = phone
        self._powered_off = False

    # --- where the board is -------------------------------------------------------------------------
    def settle(self) -> None:
        """A board that is still booting (no state change seen yet, or INIT) gets to its first state before
        the strategy decides; a real board that printed nothing since its port was opened gets a short look
        (it may have booted long ago: then its state stays unknown)."""
        board = self.board
        if self.state() is BoardState.OFF or board.state not in (None, EdgentState.INIT):
            return
        budget = BOOT_S if board.emulated is not None else QUIET_BOARD_S
        try:
            board.expect_event(StateChange, timeout=budget, where=lambda e: e.old is EdgentState.INIT)
        except AssertionError:
            if board.emulated is not None:
                raise

    def state(self) -> BoardState:
        board = self.board
        if board.emulated is not None and not board.emulated.powered:
            return BoardState.OFF
        if self._powered_off:
            return BoardState.OFF
        current = board.state
        if current in CONFIG_MODE_STATES:
            return BoardState.WAIT_CONFIG
        if current in CONNECTED_STATES:
            return BoardState.PROVISIONED
        return BoardState.BOOTED

    def _has(self, capability: Capability) -> bool:
        return self.board.capability(capability) is not None

    # --- getting it somewhere -----------------------------------------------------------------------
    def transition(self, target: BoardState | str) -> None:
        """Drive the board to `target`; a `board_state` step records from where, to where and how."""
        goal = target if isinstance(target, BoardState) else BoardState.parse(target)
        self.settle()
        start = self.state()
        with self.board.step_journal.step("board_state", self.board.name, start=start.value, target=goal.value) as step:
            how = self._reach(goal)
            step.args["how"] = how or "already there"

    def _reach(self, goal: BoardState) -> str:
        current = self.state()
        if current is goal:
            return ""
        if goal is BoardState.OFF:
            return self._power_off()
        if goal is BoardState.BOOTED:
            return self._boot() if current is BoardState.OFF else ""
        if goal is BoardState.WAIT_CONFIG:
            how = self._boot() if current is BoardState.OFF else ""
            if self.state() is BoardState.WAIT_CONFIG:
                return how
            return ", ".join(filter(None, [how, self._erase_config()]))
        how = self._reach(BoardState.WAIT_CONFIG)
        return ", ".join(filter(None, [how, self._provision()]))

    def _power_off(self) -> str:
        if not self._has(Capability.POWER):
            raise StateUnreachable(f"{self.board.name} has no power control, so the lab cannot switch it off")
        self.board.power_off()
        self._powered_off = True
        return "power off"

    def _boot(self) -> str:
        board = self.board
        if not self._has(Capability.POWER):
            raise StateUnreachable(f"{board.name} is off and has no power control to switch it on")
        mark = board.mark()
        board.power_on()
        self._powered_off = False
        board.expect_event(StateChange, timeout=BOOT_S, since=mark, where=lambda e: e.old is EdgentState.INIT)
        return "power on"

    def _erase_config(self) -> str:
        """Back to config mode: the console's `config erase`, else a 10 s button hold."""
        board = self.board
        mark = board.mark()
        if self._has(Capability.CONSOLE):
            board.console("config erase")
            board.expect_state(EdgentState.WAIT_CONFIG, timeout=CONFIG_MODE_S, since=mark)
            return "console: config erase"
        if self._has(Capability.BUTTON):
            board.hold_button(RESET_HOLD_S)
            board.expect_state(EdgentState.WAIT_CONFIG, timeout=CONFIG_MODE_S, since=mark)
            return f"button held {RESET_HOLD_S:g} s"
        raise StateUnreachable(
            f"{self.board.name} is in {board.state.value if board.state else 'an unknown state'} and has neither a "
            "console nor a wired button to erase its configuration"
        )

    def _provision(self) -> str:
        board = self.board
        if not board.on_air:
            raise StateUnreachable(board.out_of_reach("provision it"))
        self._phone().provision(board)
        board.expect_state(EdgentState.RUNNING, timeout=ONLINE_S)
        return "provisioned by the lab's phone"
