"""Provisioning variants: save=1, ssidManual, discovery, long template names, several boards, power cycles."""

from __future__ import annotations

import pytest

from provlab.fixtures import Lab, LabBoard, LabPhone


@pytest.mark.needs_edgent_log
def test_save_stores_config_before_connecting(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """With save=1 the board answers `Configuration saved` and writes flash before it leaves the AP."""
    board.expect_state("WAIT_CONFIG", timeout=30)
    mark = board.mark()
    enrollment = phone.provision(board, save=True)
    assert enrollment.step("config").response["body"] == '{"status":"ok","msg":"Configuration saved"}'
    stored = board.expect_exact("Configuration stored to flash", timeout=30, since=mark)
    switching = board.expect_exact("Switching to STA...", timeout=30, since=mark)
    assert stored.raw and switching.raw
    lines = [i.line.raw for i in board.lines(mark)]
    first_store = next(i for i, line in enumerate(lines) if "Configuration stored to flash" in line)
    assert first_store < next(i for i, line in enumerate(lines) if "Switching to STA..." in line)
    board.expect_state("RUNNING", timeout=60)


@pytest.mark.needs_edgent_log
def test_ssid_manual_wins_over_ssid(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """P2: the phone sends a picked `ssid` and a typed `ssidManual`; the typed one is used."""
    board.expect_state("WAIT_CONFIG", timeout=30)
    enrollment = phone.provision(board, wifi_ssid="Picked-From-List", ssid_manual=lab.config.home.ssid)
    assert enrollment.ok
    board.expect(f"Connecting to WiFi: {lab.config.home.ssid}$", timeout=30)


def test_phone_discovers_the_board_by_its_ssid(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    board.expect_ap(timeout=30)
    found = {b.ssid: b for b in phone.discover()}
    assert board.ssid in found
    assert found[board.ssid].template_name == lab.config.template_name


@pytest.mark.lab(template_name="Kitchen Thermostat Pro Max Ultra")
def test_long_template_name_is_truncated_and_still_found(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """P5: the SSID keeps 20 chars of the template name so it fits in 31; the phone still finds it."""
    assert board.ssid.startswith("Blynk Kitchen Thermostat P-") and len(board.ssid) <= 31
    board.expect_ap(timeout=30)
    assert any(b.ssid == board.ssid for b in phone.discover())
    assert phone.provision(board).ok


@pytest.mark.lab(boards=2)
def test_one_phone_enrolls_two_boards(lab: Lab, boards: list[LabBoard], phone: LabPhone) -> None:
    enrollments = [phone.provision(b) for b in boards]
    devices = [lab.device_for(e) for e in enrollments]
    assert all(d is not None for d in devices)
    assert len({d.id for d in devices if d}) == 2
    assert {d.owner_id for d in devices if d} == {lab.user("admin@provlab.test").id}
    for b in boards:
        b.expect_state("RUNNING", timeout=60)


@pytest.mark.needs_edgent_log
def test_power_cycle_keeps_the_enrollment(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """A provisioned board that loses power boots straight to CONNECTING_NET and logs in with the same token."""
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    board.power_off()
    mark = board.mark()
    board.power_on()
    board.expect_state("CONNECTING_NET", timeout=30, since=mark)
    board.expect_state("RUNNING", timeout=60, since=mark)
    assert enrollment.token is not None
    board.expect(rf"Token:\s+{enrollment.token[:4]} - ", timeout=5, since=mark)
    assert lab.cloud is not None and len(lab.cloud.store.events.entries("token_issued")) == 1
    device = lab.device_for(enrollment)
    assert device is not None and lab.is_online(device.id)


@pytest.mark.needs_console
def test_reprovision_after_factory_reset_gets_a_new_token(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    first = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    board.console("config erase")
    board.expect_state("WAIT_CONFIG", timeout=30)
    second = phone.provision(board)
    assert second.ok and second.token != first.token
    old, new = lab.device_for(first), lab.device_for(second)
    assert old is not None and new is not None and old.id != new.id
    assert lab.is_online(new.id)
    # Config mode switches the radio off without a goodbye: the cloud times the old session out itself.
    offline = lab.wait_cloud_event("device_offline", timeout=120)
    assert (offline["device_id"], offline["reason"]) == (old.id, "no traffic for heartbeat x 1.5")
    assert not lab.is_online(old.id)


def test_two_phones_configure_the_same_board_at_once(lab: Lab, board: LabBoard) -> None:
    """P11: two phones race; one `/config` wins, the board ends with exactly one token, the cloud one device."""
    board.expect_ap(timeout=30)
    phones = [lab.phone(), lab.phone()]
    results = lab.concurrently(*(lambda p=p: p.provision(board, check=False, online_timeout=60) for p in phones))
    board.expect_state("RUNNING", timeout=120)
    online = [r for r in results if getattr(r, "ok", False)]
    assert len(online) == 1, results
    assert lab.cloud is not None
    devices = lab.cloud_call(lambda cloud: cloud.store.devices.all())
    assert len(devices) == 1


@pytest.mark.lab(profile="edgent-esp32-mqtt")
def test_mqtt_firmware_enrolls_over_mqtts(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """The MQTT build of the firmware: same phone flow, the device logs in as `device` with the token."""
    enrollment = phone.provision(board)
    assert enrollment.ok
    board.expect_state("RUNNING", timeout=60)
    online = lab.cloud_events("device_online")
    assert online and online[-1]["transport"] in ("mqtt", "mqtts")
