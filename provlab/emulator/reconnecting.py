"""The reconnect driver both device clients share: `BlynkProtocol::run`'s connect-every-5-s loop."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from enum import Enum

from provlab.emulator.clock import DeviceClock
from provlab.emulator.defects import Behaviour
from provlab.protocol import choices


class ClientState(Enum):
    DISCONNECTED = "DISCONNECTED"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    TOKEN_INVALID = "TOKEN_INVALID"


class EndOfConnection(Exception):
    """The current connection is over (closed, timed out, refused); the driver tries again later."""


class ReconnectingClient(ABC):
    """State, driver task and the reconnect loop; subclasses say how one connection runs and closes."""

    clock: DeviceClock
    behaviour: Behaviour
    log: Callable[[str], None]
    on_change: Callable[[], None] | None
    state: ClientState
    _driver: asyncio.Task[None] | None
    _last_attempt: float | None
    redirect: tuple[str, int] | None

    @property
    def connected(self) -> bool:
        return self.state is ClientState.CONNECTED

    @property
    def token_invalid(self) -> bool:
        return self.state is ClientState.TOKEN_INVALID

    def _set_state(self, state: ClientState) -> None:
        if state is not self.state:
            self.state = state
            if self.on_change is not None:
                self.on_change()

    @abstractmethod
    async def _connection(self) -> None:
        """Open, log in and serve one connection; raise `EndOfConnection` when it is over."""

    @abstractmethod
    def _close_socket(self) -> None: ...

    @abstractmethod
    def _has_socket(self) -> bool: ...

    def _before_disconnect(self) -> None:  # noqa: B027 - optional hook (MQTT sends DISCONNECT)
        """Runs first in `disconnect()` while the connection is still there."""

    async def disconnect(self) -> None:
        """`Blynk.disconnect()`: close the connection and log `Disconnected`; returns once the driver has ended."""
        driver = self.disconnect_now()
        if driver is not None and driver is not asyncio.current_task():
            # wait for it to end without taking on its outcome, but let our own cancellation through
            await asyncio.wait({driver})

    def disconnect_now(self) -> asyncio.Task[None] | None:
        """The synchronous part of `Blynk.disconnect()`, for callers that must log `Disconnected` before their
        next line (the OTA timer): stop the driver, close the socket, log. Returns the (cancelled) driver.

        `BlynkProtocol::disconnect()` logs `Disconnected` every time, with or without a socket (audit #5);
        `choices.DISCONNECTED_ONLY_WITH_SOCKET` brings back the old "only with a socket" rule."""
        had_socket = self._has_socket()
        driver = self._stop_driver()
        self._before_disconnect()
        self._close_socket()
        if self.state is not ClientState.TOKEN_INVALID:
            self._set_state(ClientState.DISCONNECTED)
        if had_socket or not choices.DISCONNECTED_ONLY_WITH_SOCKET:
            self.log("Disconnected")
        return driver

    def reset(self) -> None:
        """A reboot: no connection, no memory of a refused token or a redirect."""
        self._stop_driver()
        self._close_socket()
        self.redirect = None
        self._last_attempt = None
        self._set_state(ClientState.DISCONNECTED)

    def _start_driver(self, name: str) -> None:
        self._set_state(ClientState.CONNECTING)
        self._driver = asyncio.get_running_loop().create_task(self._drive(), name=name)

    def _stop_driver(self) -> asyncio.Task[None] | None:
        driver, self._driver = self._driver, None
        if driver is not None and not driver.done() and driver is not asyncio.current_task():
            driver.cancel()
        return driver

    def _check_current(self) -> None:
        """Stop a driver that was replaced or stopped (Python < 3.12 `wait_for` can lose a cancel)."""
        if self._driver is not asyncio.current_task():
            raise asyncio.CancelledError

    async def _drive(self) -> None:
        try:
            while self.state is not ClientState.TOKEN_INVALID:
                if self._last_attempt is not None:
                    interval = self.behaviour.reconnect_interval_s()
                    await self.clock.sleep(self._last_attempt + interval - self.clock.now())
                self._check_current()
                self._last_attempt = self.clock.now()
                try:
                    await self._connection()
                except EndOfConnection:
                    pass
                finally:
                    self._close_socket()
                if self.state is ClientState.CONNECTED:
                    self._set_state(ClientState.CONNECTING)
        finally:
            self._close_socket()
