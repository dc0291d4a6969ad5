"""The board's status LED (`Indicator.h`, spec §4.2): the pattern per state and during a button hold."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from provlab.protocol.states import EdgentState


class LedColor(IntEnum):
    """`Indicator.h` colours (before `BOARD_LED_BRIGHTNESS` scaling)."""

    BLACK = 0x000000
    WHITE = 0xFFFFE7
    BLUE = 0x0D36FF
    BLYNK = 0x2EFFB9
    RED = 0xFF1008
    MAGENTA = 0xA700FF


class LedEffect(Enum):
    OFF = "off"
    BEAT = "beat"  # beatLED(color, {on, off, on, off, …}) ms
    WAVE = "wave"  # waveLED(color, period) ms: breathing 0 -> 127 -> 0


@dataclass(frozen=True)
class LedPattern:
    """What the LED does: an effect, its colour and its timings in ms."""

    effect: LedEffect
    color: LedColor
    timings_ms: tuple[int, ...] = ()

    def __str__(self) -> str:
        if self.effect is LedEffect.OFF:
            return "off"
        timings = ",".join(str(t) for t in self.timings_ms)
        return f"{self.effect.value} {self.color.name} {{{timings}}}"


LED_OFF = LedPattern(LedEffect.OFF, LedColor.BLACK)
HOLD_PAST_ACTION = LedPattern(LedEffect.BEAT, LedColor.WHITE, (100, 100))
HOLD_PAST_INDICATION = LedPattern(LedEffect.WAVE, LedColor.WHITE, (1000,))
_DEFAULT = LedPattern(LedEffect.BEAT, LedColor.RED, (80, 100, 80, 1000))
STATE_PATTERNS: dict[EdgentState, LedPattern] = {
    EdgentState.RESET_CONFIG: LedPattern(LedEffect.BEAT, LedColor.BLUE, (50, 500)),
    EdgentState.WAIT_CONFIG: LedPattern(LedEffect.BEAT, LedColor.BLUE, (50, 500)),
    EdgentState.CONFIGURING: LedPattern(LedEffect.BEAT, LedColor.BLUE, (200, 200)),
    EdgentState.CONNECTING_NET: LedPattern(LedEffect.BEAT, LedColor.BLYNK, (50, 500)),
    EdgentState.CONNECTING_CLOUD: LedPattern(LedEffect.BEAT, LedColor.BLYNK, (100, 100)),
    EdgentState.RUNNING: LedPattern(LedEffect.WAVE, LedColor.BLYNK, (5000,)),
    EdgentState.OTA_UPGRADE: LedPattern(LedEffect.BEAT, LedColor.MAGENTA, (50, 50)),
    EdgentState.SWITCH_TO_STA: _DEFAULT,
    EdgentState.ERROR: _DEFAULT,
    EdgentState.INIT: _DEFAULT,
}


def pattern_for(state: EdgentState, hold_ms: int | None) -> LedPattern:
    """`getPattern()`: a button hold past 10 s / 3 s wins over the state (priority order of §4.2)."""
    if hold_ms is not None and hold_ms > 10_000:
        return HOLD_PAST_ACTION
    if hold_ms is not None and hold_ms > 3_000:
        return HOLD_PAST_INDICATION
    return STATE_PATTERNS[state]


@dataclass(frozen=True)
class LedChange:
    """One entry of the LED history: device `millis()` and wall time of the change, and the new pattern."""

    millis: int
    wall_time: float
    pattern: LedPattern


class StatusLed:
    """The LED's current pattern plus the history of every change, stamped in device time."""

    __slots__ = ("current", "history", "max_history")

    def __init__(self, max_history: int = 256) -> None:
        self.current = LED_OFF
        self.history: list[LedChange] = []
        self.max_history = max_history

    def show(self, pattern: LedPattern, millis: int, wall_time: float) -> None:
        if pattern == self.current:
            return
        self.current = pattern
        self.history.append(LedChange(millis, wall_time, pattern))
        if len(self.history) > self.max_history:
            del self.history[: len(self.history) - self.max_history]
