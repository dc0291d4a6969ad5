"""The lab reads a Blynk.NCP host's serial log: its banner is a boot, its `State: …` lines are state changes.

The boot lines are the ones reported in Blynk-Technologies/Blynk-NCP-Example-Arduino#7 (Nano 33 IoT, blynk-library
1.3.0); the state lines are Edgent_NCP.ino:74 with `getStateString()` (src/BlynkEdgentNCP.h:442-456).
"""

from __future__ import annotations

from provlab.drivers.line_stream import LineStream
from provlab.protocol.serial_log import StateChange
from provlab.protocol.states import EdgentState as S

BOOT = [
    "",
    "[3461] Main firmware: 0.1.0",
    "[3461] Build: Aug  2 2023 15:25:21",
    "[3462] ",
    "    ___  __          __",
    "   / _ )/ /_ _____  / /__",
    "  / _  / / // / _ \\/  '_/",
    " /____/_/\\_, /_//_/_/\\_\\",
    "        /___/ v1.3.0 on Nano 33 IoT",
    "",
    " #StandWithUkraine    https://bit.ly/swua",
    "",
    "",
]


def test_banner_is_a_boot_and_state_lines_are_changes_from_the_last_known_state() -> None:
    stream = LineStream()
    for raw in [
        *BOOT,
        "[3480] NCP responding (baud 38400, 4727 us)",
        "[3481] Blynk.NCP firmware: 0.6.3",
        "[3500] State: Configuration",
        "[9000] State: Connecting Network",
        "[9100] State: Idle",
        "[9200] State: Connected",
        "[9200] Connected to Blynk 🙌",
    ]:
        stream.add(raw, 0.0)
    assert stream.boots == 1
    changes = [item.event for item in stream.lines() if isinstance(item.event, StateChange)]
    assert changes == [
        StateChange(S.INIT, S.WAIT_CONFIG),
        StateChange(S.WAIT_CONFIG, S.CONNECTING_NET),
        StateChange(S.CONNECTING_NET, S.RUNNING),  # `Idle` has no legacy state: it changes nothing
    ]
    assert stream.state is S.RUNNING


def test_ncp_absent_log_leaves_the_board_booting() -> None:
    stream = LineStream()
    for raw in [*BOOT, "[13731] Cannot communicate to Blynk.NCP"]:
        stream.add(raw, 0.0)
    assert (stream.boots, stream.state) == (1, S.INIT)
