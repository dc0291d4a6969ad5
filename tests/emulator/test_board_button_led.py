"""The reset button and the LED (spec §4): reset on release after 10 s, LED per state and during a hold."""

from __future__ import annotations

from pathlib import Path

from devrig import MiniCloud, provision, run, start_rig

from provlab.emulator.board import EmulatedBoard
from provlab.emulator.indicator import (
    HOLD_PAST_ACTION,
    HOLD_PAST_INDICATION,
    STATE_PATTERNS,
    LedColor,
    LedEffect,
    LedPattern,
)
from provlab.emulator.serial_port import MemorySerial
from provlab.protocol.states import EdgentState as S

HINT = "Hold the button for 10 seconds to reset configuration..."


def test_led_pattern_follows_every_state_on_the_way_to_running(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await start_rig(tmp_path)
        await provision(rig, port)
        await rig.wait_state(S.RUNNING)
        seen = [change.pattern for change in rig.board.led.history]
        expected = [
            STATE_PATTERNS[s]
            for s in (
                S.INIT,
                S.WAIT_CONFIG,
                S.CONFIGURING,
                S.SWITCH_TO_STA,
                S.CONNECTING_NET,
                S.CONNECTING_CLOUD,
                S.RUNNING,
            )
        ]
        assert seen == expected
        assert rig.board.led.current == LedPattern(LedEffect.WAVE, LedColor.BLYNK, (5000,))
        assert STATE_PATTERNS[S.WAIT_CONFIG] == LedPattern(LedEffect.BEAT, LedColor.BLUE, (50, 500))
        stamps = [change.millis for change in rig.board.led.history]
        assert stamps == sorted(stamps)
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_the_led_shows_a_state_before_its_line_is_on_the_uart(tmp_path: Path) -> None:
    """Whoever reads `OLD => NEW` on the serial port and then looks at the LED sees NEW's pattern: a test
    thread reading the pty races the board's loop otherwise (seen in CI: INIT's red after `=> WAIT_CONFIG`)."""
    seen: list[tuple[str, LedPattern]] = []
    boards: list[EmulatedBoard] = []

    def on_line(data: bytes) -> None:
        text = data.decode(errors="replace")
        if " => " in text:
            seen.append((text.rsplit(" => ", 1)[1].strip(), boards[0].led.current))

    async def body() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await start_rig(tmp_path, power=False, serial=MemorySerial(on_line))
        boards.append(rig.board)
        await rig.board.power_on()
        await provision(rig, port)
        await rig.wait_state(S.RUNNING)
        await rig.shutdown()
        await cloud.stop()

    run(body())
    assert [state for state, _ in seen] == [
        "WAIT_CONFIG",
        "CONFIGURING",
        "SWITCH_TO_STA",
        "CONNECTING_NET",
        "CONNECTING_CLOUD",
        "RUNNING",
    ]
    assert all(pattern == STATE_PATTERNS[S(state)] for state, pattern in seen), seen


def test_a_long_hold_changes_the_led_at_3_and_10_s_and_resets_on_release(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await start_rig(tmp_path)
        await provision(rig, port, save=True)
        await rig.wait_state(S.RUNNING)
        board = rig.board
        before = len(board.led.history)  # on the virtual clock, RUNNING's LED change has the same millis()
        board.press_button()
        pressed = board.clock.millis()
        await rig.wait_log(HINT)
        await rig.wait_for(lambda: board.led.current == HOLD_PAST_ACTION, "the 10 s LED", 60)
        assert board.state is S.RUNNING  # past 10 s but still held: nothing reset yet (D1)
        changes = board.led.history[before:]
        assert [c.pattern for c in changes] == [HOLD_PAST_INDICATION, HOLD_PAST_ACTION]
        assert changes[0].millis - pressed >= 3000 and changes[1].millis - pressed >= 10000
        mark = rig.mark()
        board.release_button()
        await rig.wait_state(S.RESET_CONFIG, after=mark)
        await rig.wait_log("Resetting configuration!")
        await rig.wait_state(S.WAIT_CONFIG, after=mark)
        assert not board.config.is_valid and board.led.current == STATE_PATTERNS[S.WAIT_CONFIG]
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_a_short_hold_erases_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await start_rig(tmp_path)
        await provision(rig, port, save=True)
        await rig.wait_state(S.RUNNING)
        mark = rig.mark()
        await rig.board.hold_button(9.0)
        await rig.board.hold_button(4.0)
        assert rig.capture.count(HINT) == 2
        assert rig.states[mark:] == [] and rig.board.config.is_valid  # D2
        assert rig.board.led.current == STATE_PATTERNS[S.RUNNING]
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_error_does_not_reboot_while_the_button_is_held(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path)
        await provision(rig, 1, ssidManual="Nowhere")
        await rig.wait_state(S.ERROR)
        clock, entered = rig.board.clock, rig.board.history[-1].millis / 1000
        await clock.sleep(entered + 5.0 - clock.now())
        rig.board.press_button()  # held from 5 s to 13 s after ERROR: across the 10 s mark, under 10 s long
        await clock.sleep(8.0)
        assert rig.board.state is S.ERROR and "Restarting after error." not in rig.capture.log_texts()
        rig.board.release_button()
        await rig.wait_log("Restarting after error.")
        await rig.wait_log("INIT => WAIT_CONFIG", count=2)
        await rig.shutdown()

    run(body())
