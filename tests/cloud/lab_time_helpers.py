"""Run a cloud test on a virtual lab clock: key lifetimes and throttle windows pass in device time, not wall time."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from provlab.clock.virtual import VirtualClock

T = TypeVar("T")


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """The test body on a loop of a new virtual lab clock (pytest-timeout guards wall time)."""
    loop = VirtualClock().new_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, 7200))
    finally:
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.close()
