"""C11: a device that vanishes without closing its connection is marked offline after h-beat x 1.5.

A board whose Wi-Fi goes (the AP switches off, the power is cut) sends nothing more: no FIN, no RST
reaches the cloud. The cloud sees silence and must end the session itself, 1.5 times the heartbeat
the device announced (`h-beat` in its info message) after the last traffic it got; the board, once
back on the air, logs in again in a new session. Over TLS (the firmware's default) and plain TCP.
"""

from __future__ import annotations

import pytest

from provlab.fixtures import Lab, LabBoard, LabPhone

HEARTBEAT_GRACE = 1.5  # the cloud's allowance over the announced heartbeat (docs: disconnections and heartbeat)
HEARTBEAT_TIMEOUT = "no traffic for heartbeat x 1.5"
POLL_S = 0.1  # how often `Lab.wait_cloud_event` reads the journal (device seconds)


def _running_with_fresh_traffic(lab: Lab, board: LabBoard, phone: LabPhone) -> tuple[int, float, float]:
    """Provision `board`, have the stub ping it; (device id, announced h-beat, lab time the answer was seen).

    The answer is the last thing the stub hears before the cut, so the idle deadline runs from it. The
    answer came at or before the lab time it was seen at.
    """
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    device = lab.device_for(enrollment)
    assert device is not None
    device_id = device.id
    lab.cloud_call(lambda cloud: cloud.ping_device(device_id))
    lab.wait_cloud_event("ping_answered", timeout=30)
    answered_by = lab.clock.now()
    device = lab.device_for(enrollment)  # its info message came before the answer, on the same connection
    assert device is not None
    heartbeat = float(device.info["h-beat"])
    return device_id, heartbeat, answered_by


def _offline_by_heartbeat(lab: Lab, device_id: int, heartbeat: float, last_traffic: float) -> dict[str, object]:
    assert lab.is_online(device_id), "the stub must still hold the session: nothing crosses a dead radio link"
    assert lab.cloud_events("device_offline") == []
    offline = lab.wait_cloud_event("device_offline", timeout=10 * heartbeat * HEARTBEAT_GRACE)
    assert offline["device_id"] == device_id
    assert offline["reason"] == HEARTBEAT_TIMEOUT, offline  # not "closed by the device": no FIN came
    # `wait_cloud_event` looks every POLL_S of lab time: the event came at most that long before it was seen
    idle_at_least = lab.clock.now() - POLL_S - last_traffic
    assert idle_at_least >= 0.9 * heartbeat * HEARTBEAT_GRACE, f"offline after {idle_at_least:.3f} s (lab time)"
    assert not lab.is_online(device_id)
    return offline


@pytest.mark.needs_transport("binary")  # the heartbeat is the binary protocol's (an MQTT board uses keep-alive)
@pytest.mark.parametrize("transport", ["tls", pytest.param("tcp", marks=pytest.mark.lab(cloud_tls=False))])
def test_board_whose_ap_vanishes_is_marked_offline_after_its_heartbeat(
    lab: Lab, board: LabBoard, phone: LabPhone, transport: str
) -> None:
    """AP down while RUNNING: the stub keeps the session until h-beat x 1.5 of silence; the board comes
    back in a new session when the AP returns."""
    device_id, heartbeat, last_traffic = _running_with_fresh_traffic(lab, board, phone)
    assert heartbeat == 40  # BLYNK_HEARTBEAT of the library's HEAD (spec §6.6)
    home = lab.config.home.ssid
    lab.faults.ap_down(home)
    offline = _offline_by_heartbeat(lab, device_id, heartbeat, last_traffic)
    assert offline["transport"] == transport
    mark = board.mark()
    lab.faults.ap_up(home)
    board.expect_state("RUNNING", timeout=200, since=mark)
    sessions = lab.cloud_events("device_online")
    assert len(sessions) == 2 and sessions[1]["peer"] != offline["peer"]
    assert lab.is_online(device_id) and len(lab.cloud_events("token_issued")) == 1


@pytest.mark.needs_power
@pytest.mark.needs_transport("binary")
def test_board_that_loses_power_is_marked_offline_after_its_heartbeat(
    lab: Lab, board: LabBoard, phone: LabPhone
) -> None:
    """A power cut closes nothing on the wire either; after power-on the board logs in again."""
    device_id, heartbeat, last_traffic = _running_with_fresh_traffic(lab, board, phone)
    board.power_off()
    _offline_by_heartbeat(lab, device_id, heartbeat, last_traffic)
    mark = board.mark()
    board.power_on()
    board.expect_state("RUNNING", timeout=200, since=mark)
    assert lab.is_online(device_id) and len(lab.cloud_events("device_online")) == 2
