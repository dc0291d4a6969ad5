"""Conformance, cloud session (spec §6.4-§6.6, §1.4): the login's info message, the Hotspot Name metadata, and
keep-alive PINGs every announced heartbeat while the line is quiet, so an idle board stays online.

What the board sends is seen by the lab's cloud stub; keep-alive timing is the lab clock's time at which the
stub's journal shows each PING (read every 0.1 s of device time).
"""

from __future__ import annotations

import pytest

from provlab.fixtures import Lab, LabBoard, LabPhone

from .support import ping_gaps, provisioned_online

pytestmark = pytest.mark.needs_edgent_log  # read from the Edgent firmware's own serial log

PING_SLACK_S = 1.5  # the journal is read every 0.1 s; a real board's loop adds its own latency
KEEP_ALIVE_MAX_S = 45  # spec §7: 45 s recommended, Blynk's MQTT samples use 45
INFO_KEYS = {"h-beat", "buff-in", "dev", "tmpl"}


@pytest.mark.spec("6.1", "6.2", "6.4", "6.5", "1.4")
def test_login_announces_the_board_and_its_hotspot_name(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """After login the board sends its info (template id, heartbeat, buffer, device, firmware version and type
    matching `devinfo`) and, on the first connection, INTERNAL `meta set "Hotspot Name" <its AP SSID>`."""
    devinfo = board.devinfo()
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    meta = lab.wait_cloud_event("meta_set", timeout=10)
    assert meta["field"] == "Hotspot Name"
    device = lab.device_for(enrollment)
    assert device is not None
    info = device.info
    online = lab.wait_cloud_event("device_online", timeout=10)
    mqtt = str(online.get("transport", "")).startswith("mqtt")  # MQTT's info/mcu has no h-beat (spec §7)
    wanted = INFO_KEYS - {"h-beat"} if mqtt else INFO_KEYS
    assert set(info) >= wanted, f"info message lacks {wanted - set(info)}: {info}"
    assert info["tmpl"] == lab.config.template_id
    assert int(info["buff-in"]) > 0
    if not mqtt:
        assert 10 <= int(info["h-beat"]) <= 3600
    assert info.get("mcu", info.get("fw")) == devinfo.fw_ver
    assert info["fw-type"] == devinfo.fw_type
    hotspot = lab.cloud_call(lambda cloud: cloud.store.devices.meta(device.id)).get("Hotspot Name")
    assert hotspot == board.ssid
    assert not lab.cloud_events("template_mismatch")


@pytest.mark.spec("6.6")
@pytest.mark.needs_transport("binary")  # an MQTT board keeps alive with PINGREQ: the scenario below
def test_idle_board_pings_every_heartbeat_and_stays_online(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """With nothing else on the line the board PINGs every `h-beat` seconds (the value it announced) and the
    cloud never drops it."""
    device, _ = provisioned_online(lab, board, phone)
    heartbeat = float(device.info["h-beat"])
    gaps = ping_gaps(lab, 4, within_s=heartbeat + 10)
    assert all(abs(gap - heartbeat) <= PING_SLACK_S for gap in gaps), f"PINGs {gaps} s apart; h-beat {heartbeat}"
    assert lab.cloud_events("device_offline") == []
    assert lab.is_online(device.id)


@pytest.mark.spec("7")
@pytest.mark.needs_transport("mqtt")
def test_idle_mqtt_board_keeps_alive_and_acknowledges_the_cloud_ping(
    lab: Lab, board: LabBoard, phone: LabPhone
) -> None:
    """An MQTT board connects with a clean session and a keep-alive of at most 45 s, subscribes `downlink/#`,
    sends PINGREQ within every keep-alive while the line is quiet (the broker never drops it), and PUBACKs the
    cloud's QoS 1 `downlink/ping`."""
    device, online = provisioned_online(lab, board, phone)
    assert str(online["transport"]).startswith("mqtt"), online
    keep_alive = int(online["keep_alive"])
    assert 1 <= keep_alive <= KEEP_ALIVE_MAX_S, f"CONNECT keep-alive {keep_alive} s; spec §7: 45 s recommended"
    assert online["clean_session"] is True, "spec §7: only clean sessions are supported"
    subscribed = lab.wait_cloud_event("mqtt_subscribe", timeout=10)
    assert "downlink/#" in subscribed["filters"], f"subscribed {subscribed['filters']}, not downlink/#"
    gaps = ping_gaps(lab, 4, within_s=keep_alive + 10)
    assert all(keep_alive / 2 <= gap <= keep_alive + PING_SLACK_S for gap in gaps), (
        f"PINGREQs {gaps} s apart; keep-alive {keep_alive} s"
    )
    assert lab.cloud_events("device_offline") == []
    device_id = device.id
    lab.cloud_call(lambda cloud: cloud.ping_device(device_id))
    lab.wait_cloud_event("ping_answered", timeout=10)
    assert lab.is_online(device_id)
