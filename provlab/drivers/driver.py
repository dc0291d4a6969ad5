"""What a scenario can do with a board, whatever drives it: the `BoardDriver` protocol.

`SerialBoard` (a real board, an emulated board on its pty, a replay) and `DirectBoard` (an emulated board
through its API) both satisfy it, which is what lets one scenario module run on either (the parity test).
It is the capability protocols together, plus what the serial log says; a board that lacks a capability
still has the method, which raises `CapabilityMissing` (ask `capability()` first, or mark the scenario).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol, TypeVar, overload, runtime_checkable

from provlab.drivers.capabilities import (
    ButtonProtocol,
    Capability,
    ConsoleProtocol,
    PowerProtocol,
    ResetProtocol,
    SerialLogProtocol,
)
from provlab.drivers.device_info import DeviceInfo
from provlab.drivers.expecting import NotMatching
from provlab.drivers.serial_console import ConsoleReply
from provlab.protocol.console import DevInfo
from provlab.protocol.serial_log import LogEvent
from provlab.protocol.states import EdgentState

E = TypeVar("E", bound=LogEvent)


@runtime_checkable
class BoardDriver(SerialLogProtocol, ConsoleProtocol, PowerProtocol, ResetProtocol, ButtonProtocol, Protocol):
    """A board as a scenario sees it: its output, its console, its wiring."""

    name: str

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

    def capability(self, wanted: Capability) -> object | None: ...

    def describe_wiring(self) -> str: ...

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

    def close(self) -> None: ...
