"""The status LED's text form and matching (spec §4.2): golden from the spec's table, sensor tolerance, errors."""

from __future__ import annotations

import pytest

from provlab.protocol.led import LED_OFF, LedColor, LedEffect, LedPattern, LedPatternError

# spec §4.2's table and colours, as the spec writes them
SPEC_ROWS = {
    "beat WHITE {100,100}": (LedEffect.BEAT, 0xFFFFE7, (100, 100)),
    "wave WHITE {1000}": (LedEffect.WAVE, 0xFFFFE7, (1000,)),
    "beat BLUE {50,500}": (LedEffect.BEAT, 0x0D36FF, (50, 500)),
    "beat BLUE {200,200}": (LedEffect.BEAT, 0x0D36FF, (200, 200)),
    "beat BLYNK {50,500}": (LedEffect.BEAT, 0x2EFFB9, (50, 500)),
    "beat BLYNK {100,100}": (LedEffect.BEAT, 0x2EFFB9, (100, 100)),
    "wave BLYNK {5000}": (LedEffect.WAVE, 0x2EFFB9, (5000,)),
    "beat MAGENTA {50,50}": (LedEffect.BEAT, 0xA700FF, (50, 50)),
    "beat RED {80,100,80,1000}": (LedEffect.BEAT, 0xFF1008, (80, 100, 80, 1000)),
}


@pytest.mark.parametrize("text", sorted(SPEC_ROWS))
def test_each_spec_pattern_reads_and_prints_back_the_same(text: str) -> None:
    pattern = LedPattern.parse(text)
    effect, rgb, timings = SPEC_ROWS[text]
    assert (pattern.effect, int(pattern.color), pattern.timings_ms) == (effect, rgb, timings)
    assert str(pattern) == text
    assert LedPattern.parse(str(pattern)) == pattern


def test_off_and_sensor_spellings() -> None:
    assert LedPattern.parse("off") is LED_OFF and LedPattern.parse(" OFF\n") is LED_OFF
    assert str(LED_OFF) == "off"
    assert LedPattern.parse("beat blue { 50, 500 }") == LedPattern.parse("beat BLUE {50,500}")
    # a sensor reads an RGB value, never the exact one: the nearest named colour
    assert LedPattern.parse("wave #30F0B0 {4900}").color is LedColor.BLYNK
    assert LedPattern.parse("beat #0000FF {50,500}").color is LedColor.BLUE
    assert LedPattern.parse("beat #FFFFFF {100,100}").color is LedColor.WHITE
    assert LedPattern.parse("beat #FF0000 {80,100,80,1000}").color is LedColor.RED
    assert LedPattern.parse("beat #A000F0 {50,50}").color is LedColor.MAGENTA


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("blink BLUE {50,500}", "expected `off`, `beat COLOR"),
        ("beat PURPLE {50,500}", "unknown colour 'PURPLE' (known: BLACK, WHITE, BLUE, BLYNK, RED, MAGENTA)"),
        ("wave BLUE {50,500}", "expected `off`"),
        ("beat BLUE {}", "expected `off`"),
        ("", "expected `off`"),
    ],
)
def test_what_is_not_a_pattern_says_the_expected_form(text: str, message: str) -> None:
    with pytest.raises(LedPatternError, match="LED pattern") as caught:
        LedPattern.parse(text)
    assert message in str(caught.value)


def test_a_sensed_pattern_matches_within_the_tolerance_of_each_phase() -> None:
    spec = LedPattern.parse("beat BLUE {50,500}")
    assert spec.matches(LedPattern.parse("beat BLUE {50,500}"))
    assert spec.matches(
        LedPattern.parse("beat BLUE {66,420}")
    )  # 16 ms off (floor 20 ms) and 80 ms off (within 20 % of 500)
    assert not spec.matches(LedPattern.parse("beat BLUE {75,500}"))  # 25 ms > the 20 ms floor
    assert not spec.matches(LedPattern.parse("beat BLUE {50,620}"))  # 120 ms > 20 % of 500
    assert not spec.matches(LedPattern.parse("beat BLUE {200,200}"))  # CONFIGURING's, not WAIT_CONFIG's
    assert not spec.matches(LedPattern.parse("beat BLYNK {50,500}"))  # CONNECTING_NET's colour
    assert not spec.matches(LedPattern.parse("wave BLUE {550}"))
    assert not spec.matches(LedPattern.parse("beat BLUE {50,500,50}"))
    assert not spec.matches(LED_OFF)
    assert spec.matches(LedPattern.parse("beat BLUE {50,700}"), tolerance=0.5)
