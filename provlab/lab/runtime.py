"""Async core, sync face: the lab's event loop on a background thread that the lab's sync API calls into.

The loop thread itself is the clock layer's `LoopThread` (one helper for every loop provlab runs beside
its caller); this module names the lab's budget for one call.
"""

from __future__ import annotations

from provlab.clock.loop_thread import LabTimeout, LoopCloseError, LoopThread

LAB_CALL_BUDGET_S = 600.0  # wall-clock ceiling for any single sync call into the loop

EventLoopThread = LoopThread
"""The lab's loop thread (the name the lab and its tests know it by)."""

__all__ = ["LAB_CALL_BUDGET_S", "EventLoopThread", "LabTimeout", "LoopCloseError"]
