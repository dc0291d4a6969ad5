"""The status LED as the spec describes it (§4.2, `Indicator.h`): colours, effects and a pattern's text form.

A pattern is an effect (`beat`: ON/OFF phases of the listed ms, starting with ON; `wave`: breathing over one
period; `off`), a colour and its timings. Its text form is what a scenario writes and what an LED sensor's
command prints: `off`, `beat BLUE {50,500}`, `wave BLYNK {5000}`; a colour is a §4.2 name or `#RRGGBB` (taken
as the nearest named colour, since a sensor never reads the exact value). `LedPattern.matches` compares what a
sensor saw with what the spec says, within a timing tolerance a photodiode can keep.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, IntEnum


class LedColor(IntEnum):
    """`Indicator.h` colours (before `BOARD_LED_BRIGHTNESS` scaling)."""

    BLACK = 0x000000
    WHITE = 0xFFFFE7
    BLUE = 0x0D36FF
    BLYNK = 0x2EFFB9
    RED = 0xFF1008
    MAGENTA = 0xA700FF

    @classmethod
    def nearest(cls, rgb: int) -> LedColor:
        """The named colour closest to `rgb` (a sensor's reading): smallest squared distance per channel."""

        def distance(color: LedColor) -> int:
            return sum(((rgb >> s & 0xFF) - (color >> s & 0xFF)) ** 2 for s in (16, 8, 0))

        return min(cls, key=distance)


class LedEffect(Enum):
    OFF = "off"
    BEAT = "beat"  # beatLED(color, {on, off, on, off, …}) ms
    WAVE = "wave"  # waveLED(color, period) ms: breathing 0 -> 127 -> 0


class LedPatternError(ValueError):
    """A pattern's text form could not be read; the message shows the text and the expected form."""


TIMING_TOLERANCE = 0.2
"""How far a sensed phase may be from the spec's (a fraction of it, at least `TIMING_FLOOR_MS`)."""
TIMING_FLOOR_MS = 20
_FORM = re.compile(r"^\s*(?P<effect>beat|wave)\s+(?P<color>#[0-9a-fA-F]{6}|[A-Za-z]+)\s*\{(?P<timings>[0-9,\s]*)\}\s*$")
_EXPECTED = "expected `off`, `beat COLOR {on,off,…}` or `wave COLOR {period}` (COLOR: a §4.2 name or #RRGGBB)"


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

    @classmethod
    def parse(cls, text: str) -> LedPattern:
        """The pattern of `beat BLUE {50,500}` / `wave #2EFFB9 {5000}` / `off`; `LedPatternError` otherwise."""
        if text.strip().lower() == "off":
            return LED_OFF
        found = _FORM.match(text)
        if found is None:
            raise LedPatternError(f"LED pattern {text.strip()!r}: {_EXPECTED}")
        effect = LedEffect(found["effect"])
        name = found["color"]
        if name.startswith("#"):
            color = LedColor.nearest(int(name[1:], 16))
        else:
            try:
                color = LedColor[name.upper()]
            except KeyError:
                known = ", ".join(c.name for c in LedColor)
                raise LedPatternError(
                    f"LED pattern {text.strip()!r}: unknown colour {name!r} (known: {known})"
                ) from None
        timings = tuple(int(t) for t in found["timings"].replace(" ", "").split(",") if t)
        if not timings or (effect is LedEffect.WAVE and len(timings) != 1):
            raise LedPatternError(f"LED pattern {text.strip()!r}: {_EXPECTED}")
        return cls(effect, color, timings)

    def matches(self, sensed: LedPattern, tolerance: float = TIMING_TOLERANCE) -> bool:
        """Whether `sensed` (what a sensor or the emulator shows) is this pattern: same effect and colour, the
        same number of phases, each within `tolerance` of this one's (at least `TIMING_FLOOR_MS`)."""
        if (sensed.effect, sensed.color, len(sensed.timings_ms)) != (self.effect, self.color, len(self.timings_ms)):
            return False
        return all(
            abs(seen - want) <= max(TIMING_FLOOR_MS, want * tolerance)
            for seen, want in zip(sensed.timings_ms, self.timings_ms, strict=True)
        )


LED_OFF = LedPattern(LedEffect.OFF, LedColor.BLACK)
