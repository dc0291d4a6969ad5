"""Known state before a test: a board's states and the strategy that drives it to the one a test needs.

As labgrid's strategies do for a target, `BoardStrategy` knows a small set of states (`off`, `booted`,
`wait_config`, `provisioned`) and gets a board from where it is to where a test needs it, with what the board
has: power (off, on), a reset line or a power cycle (booted afresh: from off without power control, or from
`unknown`, a board silent since its port was opened or stuck before its first state), the console's `config
erase`, a 10 s button hold or, last, an esptool erase of the flash partition holding the configuration where the
board can enter its ROM downloader (back to config mode), the lab's phone (provisioned). A state no capability of
the board reaches raises `StateUnreachable`, which the plugin reports as a skip with the reason. Every transition
is a step on the lab's step journal (`board_state`), with where the board was, where it went and how.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING

from provlab.drivers.capabilities import Capability
from provlab.drivers.config_erase import ERASE_COMMAND, download_mode_reachable, erase_stored_config
from provlab.drivers.sideband.esp_lines import DOWNLOAD_MODE_PATTERNS
from provlab.drivers.wired_actions import PowerCycleReset
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
    UNKNOWN = "unknown"
    """Powered as far as the lab knows, firmware state unknown: nothing printed since its port was opened, or
    stuck before its first state change. Where a board may be, not a state a test can ask for."""

    @classmethod
    def parse(cls, name: str) -> BoardState:
        """A state a test can ask for (`ORDER`); ValueError naming them otherwise."""
        known = ", ".join(s.value for s in ORDER)
        try:
            state = cls(name)
        except ValueError:
            raise ValueError(f"board state {name!r} is not one of {known}") from None
        if state not in ORDER:
            raise ValueError(f"board state {name!r} is not one of {known}")
        return state


ORDER = (BoardState.OFF, BoardState.BOOTED, BoardState.WAIT_CONFIG, BoardState.PROVISIONED)
"""The states a test can ask for, from none to the most set up."""


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
        (it may have booted long ago). One that says nothing in that time stays `unknown`."""
        board = self.board
        if self.state() is not BoardState.UNKNOWN:
            return
        budget = BOOT_S if board.emulated is not None else QUIET_BOARD_S
        try:
            board.expect_event(StateChange, timeout=budget, where=lambda e: e.old is EdgentState.INIT)
        except AssertionError:
            return  # silent or stuck: `unknown`, which a reset or a power cycle can end

    def state(self) -> BoardState:
        board = self.board
        if board.emulated is not None and not board.emulated.powered:
            return BoardState.OFF
        if self._powered_off:
            return BoardState.OFF
        current = board.state
        if current is None or current is EdgentState.INIT:
            return BoardState.UNKNOWN
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
        if goal not in ORDER:
            raise ValueError(f"{goal.value!r} is where a board may be, not a state to drive it to")
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
        done: list[str] = []
        if current is BoardState.OFF or (current is BoardState.UNKNOWN and self._has(Capability.RESET)):
            done.append(self._boot())
        elif current is BoardState.UNKNOWN and goal is BoardState.BOOTED:
            return "taken as booted: silent since its port was opened, and no reset or power wiring to boot it"
        if goal is BoardState.BOOTED or self.state() is goal:  # a fresh boot may land there (a configured board)
            return ", ".join(done)
        if self.state() is not BoardState.WAIT_CONFIG:
            done.append(self._erase_config())
        if goal is BoardState.PROVISIONED:
            done.append(self._provision())
        return ", ".join(done)

    def _power_off(self) -> str:
        if not self._has(Capability.POWER):
            raise StateUnreachable(f"{self.board.name} has no power control, so the lab cannot switch it off")
        self.board.power_off()
        self._powered_off = True
        return "power off"

    def _boot(self) -> str:
        """A fresh boot, waited for to its first state: power on (off, with power control), else the reset line
        (an EN pulse; a power cycle where the board has power control but no reset line)."""
        board = self.board
        mark = board.mark()
        if self.state() is BoardState.OFF and self._has(Capability.POWER):
            board.power_on()
            how = "power on"
        elif self._has(Capability.RESET):
            board.reset()
            how = "power cycle" if isinstance(board.capability(Capability.RESET), PowerCycleReset) else "reset"
        else:
            raise StateUnreachable(f"{board.name} is off and has neither power control nor a reset line to start it")
        self._powered_off = False
        board.expect_event(StateChange, timeout=BOOT_S, since=mark, where=lambda e: e.old is EdgentState.INIT)
        return how

    def _erase_config(self) -> str:
        """Back to config mode: the console's `config erase`, else a 10 s button hold, else (last) an esptool erase
        of the flash partition holding the configuration, where the board can enter its ROM downloader."""
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
        if self._has(Capability.RESET) and download_mode_reachable(board.serial) is not None:
            return self._flash_erase()  # the reset brings it out of the ROM downloader afterwards
        where = board.state.value if board.state else "an unknown state"
        raise StateUnreachable(
            f"{board.name} is in {where} and has neither a console nor a wired button to erase its configuration, "
            f"nor a way into its ROM downloader for esptool to erase it (wiring: {board.describe_wiring()})"
        )

    def _flash_erase(self) -> str:
        board = self.board
        log = board.lab.artifacts / f"esptool-erase-{board.name}.log"  # not board-*.log: no board log
        with board.step_journal.step("flash_erase", board.name, command=" ".join(ERASE_COMMAND), log=str(log)):
            mode = erase_stored_config(board.serial, log_path=log)
        mark = board.mark()
        board.reset()  # out of the ROM downloader into the app, which finds no configuration
        board.expect_state(
            EdgentState.WAIT_CONFIG, timeout=CONFIG_MODE_S, since=mark, not_matching=DOWNLOAD_MODE_PATTERNS
        )
        return f"flash erase: esptool {' '.join(ERASE_COMMAND)} (download mode by {mode})"

    def _provision(self) -> str:
        board = self.board
        if not board.on_air:
            raise StateUnreachable(board.out_of_reach("provision it"))
        self._phone().provision(board)
        board.expect_state(EdgentState.RUNNING, timeout=ONLINE_S)
        return "provisioned by the lab's phone"
