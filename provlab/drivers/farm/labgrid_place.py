"""A labgrid place: acquired through its coordinator, read for its resources, released at the end.

labgrid (PyPI `labgrid`, the `provlab[farm]` extra) is imported only when a place is opened, so provlab runs
without it. The coordinator is `LG_COORDINATOR` (labgrid's own variable) or `coordinator=`, default
`127.0.0.1:20408`. Who holds a place is labgrid's `host/user` (`LG_HOSTNAME`, `LG_USERNAME` change it: a CI
job can call itself by its job id). A place held by someone else is waited for up to `wait` seconds (0: not
at all), then `PlaceHeld` names the holder and since when they hold it.

The client session runs on its own event loop thread, so updates from the coordinator keep arriving while the
lab works; every call waits at most `timeout` seconds for the coordinator.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import import_module
from socket import gethostname
from types import ModuleType, TracebackType
from typing import Any, TypeVar

from provlab.clock.loop_thread import LabTimeout, LoopCloseError, LoopThread

T = TypeVar("T")

DEFAULT_COORDINATOR = "127.0.0.1:20408"
CHANNEL_OPTIONS = [  # labgrid-client's keepalive settings
    ("grpc.keepalive_time_ms", 7500),
    ("grpc.keepalive_timeout_ms", 10000),
    ("grpc.http2.ping_timeout_ms", 10000),
    ("grpc.http2.max_pings_without_data", 0),
]
INSTALL_HINT = "install provlab's farm extra: python3 -m pip install 'provlab[farm]' (it brings labgrid)"


class FarmError(Exception):
    """A board farm place cannot be used; the message names the place and the coordinator."""


class LabgridMissing(FarmError):
    """labgrid is not installed."""


class PlaceUnavailable(FarmError):
    """The coordinator is unreachable, the place is unknown, or it has no usable resource."""


class PlaceRefused(PlaceUnavailable):
    """The coordinator refused to give the place for another reason than a holder (e.g. a resource in use)."""


class PlaceHeld(FarmError):
    """Someone else holds the place."""

    def __init__(self, place: str, holder: str, since: float, waited: float) -> None:
        stamp = since_text(since)
        waiting = f" (waited {waited:g} s)" if waited > 0 else ""
        super().__init__(
            f"place {place} is held by {holder} since {stamp}{waiting}; wait for that run to release it, or "
            "let this run wait for it (PROVLAB_LABGRID_WAIT=seconds)"
        )
        self.place = place
        self.holder = holder
        self.since = since


def labgrid_module(name: str) -> ModuleType:
    """`labgrid.<name>`, or `LabgridMissing` saying how to install it."""
    try:
        return import_module(f"labgrid.{name}")
    except ImportError as exc:
        raise LabgridMissing(f"labgrid:PLACE boards need labgrid ({exc}); {INSTALL_HINT}") from None


def coordinator_address(explicit: str | None = None) -> str:
    return explicit or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR


@dataclass(frozen=True)
class PlaceResource:
    """One resource of an acquired place: its name in the place (`reset`, `NetworkPowerPort`), its labgrid
    class, its construction arguments, and the exporter's extra information (e.g. the local `path`)."""

    name: str
    cls: str
    args: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    exporter: str = ""


@dataclass(frozen=True)
class Holding:
    """Who holds a place (None: nobody) and since when (epoch seconds)."""

    holder: str | None
    since: float


class LabgridPlace:
    """One place of a labgrid coordinator; `acquire()` / `release()`, or use as a context manager."""

    def __init__(self, place: str, *, coordinator: str | None = None, wait: float = 0.0, timeout: float = 10.0) -> None:
        self.place = place
        self.coordinator = coordinator_address(coordinator)
        self.wait = wait
        self.timeout = timeout
        self.acquired = False
        self._asked = False
        """An acquire request was sent: an interrupt may have come between the grant and `acquired`."""
        self._client = labgrid_module("remote.client")
        self._pb2 = labgrid_module("remote.generated.labgrid_coordinator_pb2")
        self._stubs = labgrid_module("remote.generated.labgrid_coordinator_pb2_grpc")
        self._thread = LoopThread(name=f"labgrid-{place or 'places'}")
        self._loop = self._thread.loop
        self._session: Any = None
        try:
            self._session = self._run(self._start())
        except BaseException:
            self._stop_loop()
            raise

    # --- the session on its own loop ----------------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return self._thread.run(coro, self.timeout)
        except LabTimeout:
            raise PlaceUnavailable(
                f"labgrid coordinator {self.coordinator} did not answer within {self.timeout:g} s (place {self.place})"
            ) from None

    async def _start(self) -> Any:
        session = self._client.ClientSession(self.coordinator, self._loop)
        # gRPC shares one connection between equal channels of a process, and the coordinator takes a
        # connection for one client: each place gets a connection of its own (several places in one run).
        grpc = import_module("grpc")
        await session.channel.close()
        session.channel = grpc.aio.insecure_channel(
            self.coordinator, options=[*CHANNEL_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]
        )
        session.stub = self._stubs.CoordinatorStub(session.channel)
        try:
            await session.start()
        except Exception as exc:
            with contextlib.suppress(Exception):
                await session.close()
            raise PlaceUnavailable(
                f"cannot reach the labgrid coordinator at {self.coordinator} (LG_COORDINATOR): {exc}"
            ) from None
        return session

    async def _sync(self) -> None:
        if not await self._session.sync_with_coordinator():
            raise PlaceUnavailable(f"lost the labgrid coordinator {self.coordinator} (place {self.place})")

    def _place(self) -> Any:
        found = self._session.places.get(self.place)
        if found is None:
            known = ", ".join(sorted(self._session.places)) or "none"
            raise PlaceUnavailable(
                f"the labgrid coordinator {self.coordinator} has no place {self.place!r} (places: {known}); "
                f"create it: labgrid-client -p {self.place} create"
            )
        return found

    @property
    def me(self) -> str:
        """This client as labgrid names a holder: `host/user`."""
        return f"{self._session.gethostname()}/{self._session.getuser()}"

    def holding(self) -> Holding:
        """Who holds the place now, as the coordinator says."""
        self._run(self._sync())
        place = self._place()
        return Holding(place.acquired or None, float(place.changed))

    def tags(self) -> dict[str, str]:
        """The place's tags (`labgrid-client -p PLACE set-tags profile=edgent-esp32`)."""
        self._run(self._sync())
        return {str(key): str(value) for key, value in (self._place().tags or {}).items()}

    def places(self) -> dict[str, Holding]:
        """Every place of the coordinator and who holds it (what `provlab boards --labgrid` shows)."""
        self._run(self._sync())
        return {
            name: Holding(place.acquired or None, float(place.changed))
            for name, place in sorted(self._session.places.items())
        }

    # --- acquire and release ------------------------------------------------------------------------------
    def acquire(self) -> LabgridPlace:
        """Acquire the place, waiting up to `wait` seconds while someone else holds it; `PlaceHeld` after."""
        if self.acquired:
            return self
        started = time.monotonic()
        while True:
            now = self.holding()
            if now.holder is None:
                self._asked = True  # stays set if the request is interrupted: `release()` then looks
                try:
                    granted = self._run(self._try_acquire())
                except PlaceRefused:
                    self._asked = False
                    raise
                if granted:
                    self.acquired = True
                    return self
                self._asked = False
                continue  # taken between our look and our request: look again
            waited = time.monotonic() - started
            if waited >= self.wait:
                raise PlaceHeld(self.place, now.holder, now.since, self.wait)  # the wait asked for, not the host's lag
            time.sleep(min(0.5, self.wait - waited))

    async def _try_acquire(self) -> bool:
        grpc = import_module("grpc")
        try:
            await self._session.stub.AcquirePlace(self._pb2.AcquirePlaceRequest(placename=self.place))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                await self._sync()
                if self._place().acquired:
                    return False
            raise PlaceRefused(f"acquiring place {self.place} at {self.coordinator}: {exc.details()}") from None
        await self._sync()
        return True

    def release(self) -> None:
        """Release the place if this client holds it (what a run does at its end, also after a failure)."""
        maybe_ours = self._asked and self._session is not None and self.holding().holder == self.me
        if not self.acquired and not maybe_ours:
            return
        self.acquired = self._asked = False
        self._run(self._release())

    async def _release(self) -> None:
        await self._session.stub.ReleasePlace(self._pb2.ReleasePlaceRequest(placename=self.place))
        await self._sync()

    def resources(self) -> list[PlaceResource]:
        """The resources the acquired place holds, named as the place names them."""
        if not self.acquired:
            raise FarmError(f"place {self.place} is not acquired by this run")
        self._run(self._sync())
        place = self._place()
        found = []
        for path in place.acquired_resources:
            exporter, group, cls, name = path
            match = place.getmatch(path)
            entry = self._session.resources.get(exporter, {}).get(group, {}).get(name)
            if entry is None:
                raise PlaceUnavailable(
                    f"place {self.place}: resource {exporter}/{group}/{cls}/{name} is gone (exporter disconnected?)"
                )
            label = match.rename if match is not None and match.rename else name
            found.append(PlaceResource(label, entry.cls, dict(entry.args), dict(entry.extra), exporter))
        return found

    def close(self) -> None:
        """Release the place (if held) and close the session."""
        try:
            self.release()
        finally:
            if self._session is not None:
                session, self._session = self._session, None
                with contextlib.suppress(Exception):
                    self._run(self._close(session))
            self._stop_loop()

    @staticmethod
    async def _close(session: Any) -> None:
        session.stopping.set()
        await session.stop()
        await session.close()

    def _stop_loop(self) -> None:
        with contextlib.suppress(LoopCloseError):  # a gRPC task that outlives its channel: nothing to keep
            self._thread.close()

    def __enter__(self) -> LabgridPlace:
        try:
            return self.acquire()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# --- the serial port of a place ---------------------------------------------------------------------------
SERIAL_CLASSES = ("NetworkSerialPort",)


def serial_url(resource: PlaceResource, *, host: str | None = None) -> str:
    """A URL `SerialBoard` opens for a place's serial resource: the device path when the exporter runs on this
    host and the path is here (no network in between), else `rfc2217://host:port` (ser2net's, or any RFC 2217
    server's) or `socket://host:port` for a raw TCP port."""
    args, path = resource.args, resource.extra.get("path")
    here = host or gethostname()
    if (
        isinstance(path, str)
        and path.startswith("/dev/")
        and args.get("host") in (here, "localhost")
        and os.path.exists(path)
    ):
        return path
    scheme = "socket" if args.get("protocol") == "raw" else "rfc2217"
    return f"{scheme}://{args['host']}:{args['port']}"


def serial_resource(place: str, resources: list[PlaceResource]) -> PlaceResource:
    found = [r for r in resources if r.cls in SERIAL_CLASSES]
    if not found:
        have = ", ".join(f"{r.name} ({r.cls})" for r in resources) or "nothing"
        raise PlaceUnavailable(f"place {place} has no serial port (NetworkSerialPort); it holds {have}")
    return next((r for r in found if r.name in ("console", "serial")), found[0])


def list_places(coordinator: str | None = None, *, timeout: float = 10.0) -> dict[str, Holding]:
    """Every place of the coordinator (`LG_COORDINATOR`) and who holds it; acquires nothing."""
    session = LabgridPlace("", coordinator=coordinator, timeout=timeout)
    try:
        return session.places()
    finally:
        session.close()


def since_text(since: float) -> str:
    return datetime.fromtimestamp(since, timezone.utc).isoformat(timespec="seconds")
