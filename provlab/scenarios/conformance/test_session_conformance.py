"""Conformance, the library's session timers (spec §6.4, §6.6, §5.4): `Login timeout` 6 s after connecting
without an answer, `Heartbeat timeout` h-beat + 18 s after the last byte from a cloud that fell silent, and
the way back (CONNECTING_NET, then RUNNING) once the network returns."""

from __future__ import annotations

import pytest

from provlab.fixtures import Lab, LabBoard, LabPhone

from .support import CONFIG_TRYING, TIMER_SLACK_MS, in_config_mode, provisioned_online, send_config, stamp

pytestmark = pytest.mark.needs_edgent_log  # read from the Edgent firmware's own serial log

LOGIN_TIMEOUT_MS = 6_000  # BLYNK_TIMEOUT_MS
HEARTBEAT_EXTRA_S = 18.0  # 3 x BLYNK_TIMEOUT_MS over h-beat
SLACK_S = TIMER_SLACK_MS / 1000


@pytest.mark.spec("6.4", "5.4")
def test_unanswered_login_times_out_after_6s_and_is_retried(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """A cloud that answers logins only after 10 s: `Login timeout` 6 s after `Connecting to`, a new attempt, and
    RUNNING once the cloud answers in time again."""
    mark = in_config_mode(board)
    lab.cloud_faults.set_latency(10)
    _, status, body = send_config(lab, board, phone, port_ssl=str(lab.cloud_port))
    assert (status, body) == (200, CONFIG_TRYING)
    dialled = stamp(board, f"Connecting to {lab.config.cloud_host}:{lab.cloud_port}", mark, timeout=60)
    timed_out = stamp(board, "Login timeout", mark, timeout=30)
    assert LOGIN_TIMEOUT_MS <= timed_out - dialled <= LOGIN_TIMEOUT_MS + TIMER_SLACK_MS, timed_out - dialled
    lab.cloud_faults.set_latency(0)
    again = board.mark()
    board.expect_exact(f"Connecting to {lab.config.cloud_host}:{lab.cloud_port}", timeout=30, since=again)
    board.expect_state("RUNNING", timeout=60, since=mark)


@pytest.mark.spec("6.6", "5.4", "1.4")
@pytest.mark.needs_transport("binary")  # the heartbeat timeout is the binary protocol's (MQTT: keep-alive, §7)
def test_silent_cloud_ends_the_session_after_heartbeat_plus_18s(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """The home AP vanishes right after the cloud's PING was answered: the board (which does not watch Wi-Fi
    while RUNNING) logs `Heartbeat timeout` h-beat + 18 s after that last incoming byte, goes CONNECTING_NET, and
    is RUNNING again once the AP is back."""
    device, _ = provisioned_online(lab, board, phone)
    heartbeat = float(device.info["h-beat"])
    device_id = device.id
    lab.cloud_call(lambda cloud: cloud.ping_device(device_id))
    lab.wait_cloud_event("ping_answered", timeout=30)
    last_incoming = lab.clock.now()  # the stub's PING reached the board at or before this
    mark = board.mark()
    lab.faults.ap_down(lab.config.home.ssid)
    board.expect_exact("Heartbeat timeout", timeout=heartbeat + HEARTBEAT_EXTRA_S + 30, since=mark)
    silent = lab.clock.now() - last_incoming
    expected = heartbeat + HEARTBEAT_EXTRA_S
    assert expected - SLACK_S <= silent <= expected + SLACK_S, (
        f"Heartbeat timeout after {silent:.1f} s, spec {expected}"
    )
    board.expect_state("CONNECTING_NET", timeout=30, since=mark)
    lab.faults.ap_up(lab.config.home.ssid)
    board.expect_state("RUNNING", timeout=200, since=mark)
