"""The virtual lab clock: time that moves only when nothing in the lab can run (autojump).

The idea is trio's `MockClock(autojump_threshold=0)` and `looptime`, made safe for a lab whose parts talk
over real sockets and ptys and whose scenario runs on another thread:

* Every event loop of the lab is a `VirtualTimeLoop` (`clock.new_loop()`): its `time()` is the clock.
  When a loop has no ready callback and none of its file descriptors is ready, it *parks* instead of
  sleeping until its next timer.
* The clock moves to the earliest timer of all loops (and of the driver's waits) only when every
  running loop is parked, none of them has a ready descriptor (checked again at that instant, from the
  thread that moves the clock), and nothing *holds* it. Then it wakes the loops whose timers are due.
* Holds: the driver thread while it runs (it holds from `attach_driver()` and lets go only while it waits
  through the clock: `Deadline.waiter()`, `DriverWait`); executor jobs (`run_in_executor`, DNS lookups,
  `asyncio.to_thread`); bytes in flight on a `Channel` (a pty delivers written bytes to its reader
  through a kernel work queue, later than the write returns); explicit `hold()` blocks.
* Whoever ends a driver's wait (a loop finishing its work, a serial reader handing over a line, the
  clock reaching the wait's deadline) takes the driver's hold back at that instant, before the driver
  thread is even scheduled, so the clock never slips between "the step is done" and "the driver goes on".

Bytes written to a loopback TCP or UDP socket are in the receiver's queue when `send()` returns (the
kernel runs loopback delivery in the sender's context), so sockets between the lab's own loops need no
accounting: a parked loop's descriptor is ready or nothing was sent. `tests/clock/test_virtual_clock.py`
checks that assumption on this kernel.

So a device-second timeout depends only on the lab's own events, never on how busy the host is, and
idle device time costs no wall time. See `provlab/clock/DECISIONS.md`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
import math
import select
import selectors
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any, TypeVar

from provlab.clock.base import Channel, ClockKind, Deadline, DriverWait, LabClock, Waiter, current_thread_id

T = TypeVar("T")

STALL_WALL_S = 600.0
"""A driver's wait that sees the clock stand still this long (wall seconds) gives up with `ClockStalled`."""


class ClockStalled(RuntimeError):
    """The virtual clock could not move: something held it (named in the message) while the driver waited."""


class _Participant:
    """A running loop of the clock, and whether it is parked (idle) until `deadline`."""

    def __init__(self, loop: VirtualTimeLoop, selector: selectors.BaseSelector) -> None:
        self.loop = loop
        self.selector = selector
        self.parked = False
        self.deadline: float | None = None

    def ready(self) -> bool:
        """Something is ready on the loop's descriptors now, asked from another thread.

        Each registered descriptor is polled itself, not through the loop's epoll instance: while the loop's
        own thread is taking its wake-up from that instance, the kernel holds the ready list aside and a
        second `epoll_wait` sees nothing, which would let the clock move under a loop that is about to run.
        A registration changing under us counts as ready (the loop is running)."""
        try:
            keys = list(self.selector.get_map().values())
        except (RuntimeError, OSError, ValueError, KeyError):
            return True
        if not keys:
            return False
        probe = select.poll()
        for key in keys:
            mask = (select.POLLIN if key.events & selectors.EVENT_READ else 0) | (
                select.POLLOUT if key.events & selectors.EVENT_WRITE else 0
            )
            probe.register(key.fd, mask)
        try:
            return bool(probe.poll(0))
        except OSError:
            return True

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # closed: it has left
            self.loop.call_soon_threadsafe(_nothing)


def _nothing() -> None:
    pass


class _Driver:
    def __init__(self, name: str) -> None:
        self.name = name
        self.holding = True
        self.refs = 1


class VirtualDriverWait(DriverWait):
    """See `DriverWait`: the hold goes back to the driver the instant `finish()` runs, in any thread."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._driver = clock._drivers.get(current_thread_id())
        self._released = False
        self._done = False

    def release(self) -> None:
        clock = self._clock
        with clock._lock:
            driver = self._driver
            if driver is None or self._done or not driver.holding:
                return
            driver.holding = False
            self._released = True
            clock._change_hold(f"driver {driver.name}", -1)
            clock._maybe_advance()

    def finish(self) -> None:
        clock = self._clock
        with clock._lock:
            if self._done:
                return
            self._done = True
            driver = self._driver
            if self._released and driver is not None and not driver.holding and driver.refs > 0:
                driver.holding = True
                clock._change_hold(f"driver {driver.name}", +1)

    def end(self) -> None:
        self.finish()


class VirtualWaiter(Waiter):
    def __init__(self, clock: VirtualClock, until: float | None) -> None:
        self._clock = clock
        self._until = until
        self._event = threading.Event()
        self._driver_wait = VirtualDriverWait(clock)
        self._woken = False
        self.done = False
        if until is not None:
            with clock._lock:
                heapq.heappush(clock._timers, (until, next(clock._seq), self))

    def wake(self) -> None:
        with self._clock._lock:
            if self.done:
                return
            self.done = True
            self._woken = True
            self._driver_wait.finish()
        self._event.set()

    def _time_up(self) -> None:
        """The clock reached the deadline (the clock's lock is held)."""
        if self.done:
            return
        self.done = True
        self._driver_wait.finish()
        self._event.set()

    def wait(self) -> bool:
        clock = self._clock
        with clock._lock:
            if not self.done and self._until is not None and clock._now >= self._until:
                self._time_up()
            if not self.done:
                self._driver_wait.release()
        if not self._event.wait(STALL_WALL_S):
            with clock._lock:
                held = clock.holders()
            self._driver_wait.end()
            raise ClockStalled(
                f"the virtual lab clock stood at {clock.now():.3f} s for {STALL_WALL_S:g} s of wall time while the "
                f"driver waited; held by: {', '.join(held) or 'nothing (no timer was due anywhere)'}"
            )
        self._driver_wait.end()
        return self._woken


class VirtualDeadline(Deadline):
    def __init__(self, clock: VirtualClock, device_s: float | None) -> None:
        self._clock = clock
        self._until = None if device_s is None else clock.now() + max(0.0, device_s)

    def remaining(self) -> float:
        if self._until is None:
            return float("inf")
        return self._until - self._clock.now()

    def waiter(self) -> Waiter:
        return VirtualWaiter(self._clock, self._until)


class VirtualChannel(Channel):
    def __init__(self, clock: VirtualClock, name: str) -> None:
        self._clock = clock
        self.name = name
        self.attached = False
        self.pending = 0

    def attach(self) -> None:
        with self._clock._lock:
            self.attached = True

    def detach(self) -> None:
        clock = self._clock
        with clock._lock:
            self.attached = False
            self._take(self.pending)

    def produced(self, count: int) -> None:
        """Call *before* handing the bytes to the kernel (the reader may take them at once), then
        `consumed()` what the kernel did not take."""
        if count <= 0:
            return
        clock = self._clock
        with clock._lock:
            if not self.attached:
                return
            self.pending += count
            clock._in_flight[self.name] += count

    def consumed(self, count: int) -> None:
        if count <= 0:
            return
        with self._clock._lock:
            self._take(count)

    def _take(self, count: int) -> None:
        taken = min(count, self.pending)
        if taken <= 0:
            return
        clock = self._clock
        self.pending -= taken
        clock._in_flight[self.name] -= taken
        if clock._in_flight[self.name] <= 0:
            del clock._in_flight[self.name]
            clock._maybe_advance()


class _AutojumpSelector(selectors.BaseSelector):
    """The loop's selector: polls, and parks with the clock instead of sleeping until the next timer."""

    def __init__(self, clock: VirtualClock, real: selectors.BaseSelector) -> None:
        self._clock = clock
        self._real = real
        self.participant: _Participant | None = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return self._real.select(0)
        participant = self.participant
        if participant is None:  # not running under run_forever (closing): a plain poll
            return self._real.select(0)
        ready = self._real.select(0)
        if ready:
            return ready
        return self._clock._park(participant, timeout)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on a `VirtualClock`: `time()` is the clock, idle waits jump it (see the module)."""

    def __init__(self, clock: VirtualClock) -> None:
        self._autojump = _AutojumpSelector(clock, selectors.DefaultSelector())
        super().__init__(self._autojump)
        self._virtual_clock = clock

    def time(self) -> float:
        return self._virtual_clock._now

    def call_later(  # type: ignore[override]  # same call; typeshed spells it with TypeVarTuple
        self, delay: float, callback: Callable[..., object], *args: Any, context: contextvars.Context | None = None
    ) -> asyncio.TimerHandle:
        if delay > 0:  # a future timer stays in the future, however small the delay and large `now`
            return self.call_at(max(self.time() + delay, self._future_floor()), callback, *args, context=context)
        return super().call_later(delay, callback, *args, context=context)

    def call_at(  # type: ignore[override]  # as call_later
        self, when: float, callback: Callable[..., object], *args: Any, context: contextvars.Context | None = None
    ) -> asyncio.TimerHandle:
        """A timer in the future is never due before the clock moves: asyncio runs every timer within its
        clock resolution of `now` at once, and without this a wait for "the rest of a deadline" that is
        smaller than the resolution would run again and again while time stands still."""
        now = self.time()
        if when > now:
            when = max(when, self._future_floor())
        return super().call_at(when, callback, *args, context=context)

    def _future_floor(self) -> float:
        resolution: float = getattr(self, "_clock_resolution", 1e-9)  # asyncio's "due now" window
        return math.nextafter(self.time() + resolution, math.inf)

    def run_forever(self) -> None:
        clock = self._virtual_clock
        participant = _Participant(self, self._autojump._real)
        self._autojump.participant = participant
        clock._join(participant)
        try:
            super().run_forever()
        finally:
            self._autojump.participant = None
            clock._leave(participant)

    def run_in_executor(  # type: ignore[override]  # same call, written without TypeVarTuple (3.10)
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        clock = self._virtual_clock
        with clock._lock:
            clock._change_hold("executor job", +1)
        future = super().run_in_executor(executor, func, *args)

        def done(_: asyncio.Future[T]) -> None:
            with clock._lock:
                clock._change_hold("executor job", -1)
                clock._maybe_advance()

        future.add_done_callback(done)
        return future


class VirtualClock(LabClock):
    """Device seconds that pass only when the whole lab waits (see the module docstring)."""

    kind = ClockKind.VIRTUAL
    scale = 1.0

    def __init__(self, start: float = 0.0) -> None:
        self._lock = threading.RLock()
        self._now = float(start)
        self._participants: list[_Participant] = []
        self._holds: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._timers: list[tuple[float, int, VirtualWaiter]] = []
        self._seq = itertools.count()
        self._drivers: dict[int, _Driver] = {}
        self.jumps = 0
        """How many times the clock moved (for benchmarks)."""

    # --- reading --------------------------------------------------------------------------------------
    def now(self) -> float:
        return self._now

    def new_loop(self) -> asyncio.AbstractEventLoop:
        return VirtualTimeLoop(self)

    def deadline(self, device_s: float | None, wall_floor: float = 0.0) -> Deadline:
        return VirtualDeadline(self, device_s)

    def describe(self) -> str:
        return "virtual lab clock"

    def budget(self, device_s: float) -> str:
        return f"{device_s:g} s (device time, virtual lab clock)"

    def holders(self) -> list[str]:
        """What keeps the clock from moving now (for messages)."""
        with self._lock:
            held = [f"{why} x{n}" if n > 1 else why for why, n in self._holds.items() if n > 0]
            held += [f"{name}: {n} bytes in flight" for name, n in self._in_flight.items() if n > 0]
            held += [f"loop {id(p.loop):#x} running" for p in self._participants if not p.parked]
            return held

    # --- the driver -----------------------------------------------------------------------------------
    def attach_driver(self) -> None:
        ident = current_thread_id()
        with self._lock:
            driver = self._drivers.get(ident)
            if driver is not None:
                driver.refs += 1
                return
            driver = _Driver(threading.current_thread().name)
            self._drivers[ident] = driver
            self._change_hold(f"driver {driver.name}", +1)

    def detach_driver(self) -> None:
        ident = current_thread_id()
        with self._lock:
            driver = self._drivers.get(ident)
            if driver is None:
                return
            driver.refs -= 1
            if driver.refs > 0:
                return
            del self._drivers[ident]
            if driver.holding:
                driver.holding = False
                self._change_hold(f"driver {driver.name}", -1)
            self._maybe_advance()

    def driver_wait(self) -> DriverWait:
        return VirtualDriverWait(self)

    # --- holds ----------------------------------------------------------------------------------------
    def channel(self, name: str) -> Channel:
        return VirtualChannel(self, name)

    @contextmanager
    def hold(self, why: str) -> Iterator[None]:
        with self._lock:
            self._change_hold(why, +1)
        try:
            yield
        finally:
            with self._lock:
                self._change_hold(why, -1)
                self._maybe_advance()

    def _change_hold(self, why: str, delta: int) -> None:
        self._holds[why] += delta
        if self._holds[why] <= 0:
            del self._holds[why]

    # --- outside callbacks ----------------------------------------------------------------------------
    def _call_later_outside(self, device_s: float, callback: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            home = next((p.loop for p in self._participants), None)
            when = self._now + max(0.0, device_s)
        if home is None:
            raise RuntimeError("no event loop runs on this virtual clock: start the lab's loop first")
        handles: list[asyncio.TimerHandle] = []
        cancelled = threading.Event()

        def schedule() -> None:
            if not cancelled.is_set():
                handles.append(home.call_at(when, callback))

        home.call_soon_threadsafe(schedule)

        def cancel() -> None:
            cancelled.set()
            for handle in handles:
                home.call_soon_threadsafe(handle.cancel)

        return cancel

    # --- the loops ------------------------------------------------------------------------------------
    def _join(self, participant: _Participant) -> None:
        with self._lock:
            self._participants.append(participant)

    def _leave(self, participant: _Participant) -> None:
        with self._lock:
            if participant in self._participants:
                self._participants.remove(participant)
            self._maybe_advance()

    def _park(self, participant: _Participant, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        """Called by a loop with nothing to do: park until a descriptor is ready or the clock reaches its
        next timer (which `_maybe_advance` may do right here)."""
        with self._lock:
            participant.deadline = None if timeout is None else _next_timer(participant.loop, self._now, timeout)
            participant.parked = True
            self._maybe_advance(caller=participant)
            if not participant.parked:  # the clock moved to our timer
                return []
        try:
            ready = participant.selector.select(None)
        finally:
            with self._lock:
                participant.parked = False
        return ready

    def _maybe_advance(self, caller: _Participant | None = None) -> None:
        """Move the clock to the next timer if the whole lab waits (the lock is held)."""
        if self._holds or self._in_flight:
            return
        participants = self._participants
        if any(not p.parked for p in participants):
            return
        if any(p.ready() for p in participants):  # the caller too: a reply may have come since its last poll
            return  # a loop is about to wake for a descriptor: it runs first
        while self._timers and self._timers[0][2].done:
            heapq.heappop(self._timers)
        candidates = [p.deadline for p in participants if p.deadline is not None]
        if self._timers:
            candidates.append(self._timers[0][0])
        if not candidates:
            return  # nothing will ever happen by itself: wait for the outside world
        target = min(candidates)
        if target > self._now:
            self._now = target
            self.jumps += 1
        due = [p for p in participants if p.deadline is not None and p.deadline <= self._now]
        if due:  # the loops' timers of this instant run first; the driver sees the world after them
            for p in due:
                p.parked = False
                p.deadline = None
                if p is not caller:
                    p.wake()
            return
        while self._timers and self._timers[0][0] <= self._now:
            _, _, waiter = heapq.heappop(self._timers)
            waiter._time_up()


def _next_timer(loop: asyncio.AbstractEventLoop, now: float, timeout: float) -> float:
    """The exact time of the loop's earliest timer (`now + timeout` loses the last bits of a float)."""
    scheduled = getattr(loop, "_scheduled", None)
    if scheduled:
        head = scheduled[0]
        when = getattr(head, "_when", None)
        if isinstance(when, float) and not head.cancelled():
            return when
    return now + timeout


def clock_of(loop: asyncio.AbstractEventLoop) -> VirtualClock | None:
    """The virtual clock `loop` runs on (None for any other loop)."""
    return loop._virtual_clock if isinstance(loop, VirtualTimeLoop) else None
