"""An event loop of the lab clock on a thread of its own, and the sync calls into it.

The one helper every part of provlab uses to run a loop beside the code that calls it: the lab's loop
(boards, phone, stub), the `netns` air's infrastructure loop (DHCP, DNS, uplinks), the spare loop of
`sim` relays asked for outside any loop. The loop runs on a lab clock (`LabClock.new_loop()`). A call
from a driver thread lets go of the driver's hold on the clock while it waits, and the loop takes it back
the instant the work is done, so a virtual clock moves only while the driver waits for the lab.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from provlab.clock.base import LabClock
from provlab.clock.wall import WallClock

T = TypeVar("T")


class LabTimeout(TimeoutError):
    """A call into a loop took longer than its wall-clock budget."""


class LoopCloseError(RuntimeError):
    """The loop's tasks did not end when cancelled, or its thread did not stop."""


class LoopThread:
    """Runs an asyncio loop of `clock` on a daemon thread; `run()` executes a coroutine there and waits."""

    def __init__(self, name: str = "provlab-loop", clock: LabClock | None = None) -> None:
        self.clock = clock or WallClock()
        self.loop = self.clock.new_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def name(self) -> str:
        return self._thread.name

    @property
    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    def run(self, coro: Awaitable[T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and wait for its result (`timeout`: wall seconds, a safety ceiling)."""
        if self.in_loop_thread:
            if isinstance(coro, Coroutine):
                coro.close()
            raise RuntimeError(f"{self.name}: run() called from its own loop: await the coroutine instead")
        waiting = self.clock.driver_wait()

        async def wrapper() -> T:
            try:
                return await coro
            finally:
                waiting.finish()

        future = asyncio.run_coroutine_threadsafe(wrapper(), self.loop)
        waiting.release()
        try:
            try:
                done, _ = concurrent.futures.wait([future], timeout)
            except BaseException:  # Ctrl-C while waiting: the call must not go on beside the caller's teardown
                future.cancel()
                raise
            if not done:
                future.cancel()
                raise LabTimeout(f"{self.name}: a call did not finish within {timeout:.1f} s (wall)")
            return future.result()  # the coroutine's own exceptions (a TimeoutError too) as they are
        finally:
            waiting.end()

    async def run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` on this loop from any loop (directly when already on it)."""
        if self.in_loop_thread:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def call(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Run a plain function on the loop thread (for state that lives there)."""

        async def invoke() -> T:
            return fn()

        return self.run(invoke(), timeout)

    def close(self) -> None:
        """Cancel every task, stop the loop and its thread; `LoopCloseError` says what would not end."""
        if self.loop.is_closed():
            return
        problems: list[str] = []

        async def cancel_all() -> list[str]:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if not tasks:
                return []
            _, pending = await asyncio.wait(tasks, timeout=self.clock.loop_seconds(5.0, 5.0))
            return [task.get_name() for task in pending]

        if self._thread.is_alive() and self.loop.is_running():
            try:
                stuck = self.run(cancel_all(), timeout=10)
            except LabTimeout:
                stuck = ["(the loop did not answer within 10 s)"]
            if stuck:
                problems.append(f"tasks that ignored cancellation: {', '.join(stuck)}")
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        if self._thread.is_alive():
            problems.append(f"the loop thread {self.name} did not stop within 10 s")
        else:
            self.loop.close()
        if problems:
            raise LoopCloseError(f"{self.name}: " + "; ".join(problems))
