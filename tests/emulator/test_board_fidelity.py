"""Differences the fidelity audit (shared/spec/fidelity-audit.md) found between the emulator and the real
Edgent_ESP32 sketch, one test per fix; each fails on the emulator as it was before the fix."""

from __future__ import annotations

from pathlib import Path

from devrig import MiniCloud, Rig, provision, run, start_rig
from test_board_transitions import running_rig, type_line

from provlab.protocol.states import EdgentState as S


def log_after(rig: Rig, first: str) -> list[str]:
    """The log texts from the last `first` line on."""
    texts = rig.capture.log_texts()
    start = len(texts) - 1 - texts[::-1].index(first)
    return texts[start:]


# --- #4: `enterConfigMode()` only turns the radio off; it never calls `Blynk.disconnect()` ------------


def test_config_mode_from_running_logs_no_disconnected(tmp_path: Path) -> None:
    async def go() -> None:
        cloud = MiniCloud()
        rig = await running_rig(tmp_path, cloud)
        try:
            type_line(rig, "config")
            await rig.wait_log("AP URL:  blynk.setup", count=2)
            assert log_after(rig, "RUNNING => WAIT_CONFIG") == ["RUNNING => WAIT_CONFIG", "AP URL:  blynk.setup"]
            assert not rig.board.client.connected  # the session still ended, silently
        finally:
            await rig.shutdown()
            await cloud.stop()

    run(go())


# --- #7: `WiFi.config()` validates neither mask nor gateway ------------------------------------------


def test_bad_static_mask_and_gateway_still_join_wifi(tmp_path: Path) -> None:
    async def go() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await start_rig(tmp_path)
        try:
            await provision(rig, port, ip="192.168.1.50", mask="255.0.255.0", gw="10.9.9.9")
            await rig.wait_state(S.CONNECTING_CLOUD)
            texts = log_after(rig, "Connecting to WiFi: Home")
            assert texts[:3] == [
                "Connecting to WiFi: Home",
                "Using Static IP: 192.168.1.50",
                "CONNECTING_NET => CONNECTING_CLOUD",
            ]
            assert "Failed to configure Static IP" not in rig.capture.log_texts()
        finally:
            await rig.shutdown()
            await cloud.stop()

    run(go())
