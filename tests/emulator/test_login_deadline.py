"""The 6 s login timeout fires at the deadline the client waits for, whatever the float rounding.

A lab clock reached `started + 6` while `now - started` rounded to 5.999…: the client waited until the deadline,
found the timeout not yet due, and waited again for zero seconds, forever, with the virtual clock standing (the
conformance scenario `test_unanswered_login_times_out_after_6s_and_is_retried` hung about once in 20 runs).
"""

from __future__ import annotations

import pytest

from provlab.emulator.cloud_client import BlynkClient
from provlab.emulator.mqtt_client import MqttClient
from provlab.emulator.reconnecting import EndOfConnection


class _StandingClock:
    """A device clock stopped at one instant (the client only reads `now()` here)."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


STARTED = 2.500000000000001  # 25 steps of 0.1 s: (STARTED + 6) - STARTED == 5.999999999999999
assert (STARTED + 6.0) - STARTED < 6.0


@pytest.mark.parametrize("client_class", [BlynkClient, MqttClient])
def test_login_timeout_is_due_at_the_deadline_the_client_waited_for(client_class: type) -> None:
    lines: list[str] = []
    client = client_class(_StandingClock(STARTED), lines.append, b"")
    deadline = client._next_deadline(STARTED)
    assert deadline == STARTED + 6.0 and lines == []
    client.clock = _StandingClock(deadline)
    with pytest.raises(EndOfConnection):
        client._next_deadline(STARTED)
    assert lines == ["Login timeout"]
