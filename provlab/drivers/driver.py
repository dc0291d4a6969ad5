"""What a scenario can do with a board, whatever drives it: the `BoardDriver` protocol.

`SerialBoard` (a real board, an emulated board on its pty, a replay) and `DirectBoard` (an emulated board
through its API) both satisfy it, which is what lets one scenario module run on either (the parity test).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal, Protocol, TypeVar, overload, runtime_checkable

from provlab.drivers.device_info import DeviceInfo
from provlab.drivers.expecting import NotMatching, Pattern
from provlab.drivers.serial_console import ConsoleReply
from provlab.drivers.sideband.base import Capability, Sideband
from provlab.protocol.console import DevInfo
from provlab.protocol.serial_log import LogEvent, LogLine
from provlab.protocol.states import EdgentState

E = TypeVar("E", bound=LogEvent)


@runtime_checkable
class BoardDriver(Protocol):
    """A board as a scenario sees it: its output, its console, its sideband."""

    name: str
    sideband: Sideband

    @property
    def state(self) -> EdgentState | None: ...

    @property
    def last_error(self) -> int | None: ...

    @property
    def info(self) -> DeviceInfo: ...

    @property
    def boots(self) -> int: ...

    @property
    def capabilities(self) -> frozenset[Capability]: ...

    def mark(self) -> int: ...

    def expect(
        self, pattern: Pattern, timeout: float = ..., since: int | None = ..., *, not_matching: NotMatching = ...
    ) -> re.Match[str]: ...

    def expect_exact(
        self, text: str, timeout: float = ..., since: int | None = ..., *, not_matching: NotMatching = ...
    ) -> LogLine: ...

    def expect_event(
        self,
        kind: type[E] | E,
        timeout: float = ...,
        since: int | None = ...,
        *,
        where: Callable[[E], bool] | None = ...,
        not_matching: NotMatching = ...,
    ) -> E: ...

    def expect_state(
        self,
        state: str | EdgentState,
        timeout: float = ...,
        since: int | None = ...,
        *,
        not_matching: NotMatching = ...,
    ) -> None: ...

    @overload
    def console(  # type: ignore[overload-overlap]  # the literal case is matched first, on purpose
        self, command: Literal["devinfo"], timeout: float = ...
    ) -> DevInfo: ...

    @overload
    def console(self, command: str, timeout: float = ...) -> ConsoleReply: ...

    def command(self, command: str, timeout: float = ...) -> ConsoleReply: ...

    def reset(self) -> None: ...

    def power_off(self) -> None: ...

    def power_on(self) -> None: ...

    def press_button(self) -> None: ...

    def release_button(self) -> None: ...

    def hold_button(self, seconds: float) -> None: ...

    def close(self) -> None: ...
