"""C3: re-provisioning an existing device keeps its identity; reconfigure needs the device online."""

from __future__ import annotations

import pytest

from provlab.fixtures import DeviceOffline, Lab, LabBoard, LabPhone


@pytest.mark.needs_console
def test_reprovision_token_keeps_the_device_id_and_data(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """The app re-provisions a reset board with a re-provision token for the existing device: the device
    keeps its id and data, the new token works, the old one is refused from then on."""
    first = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    device = lab.device_for(first)
    assert device is not None and first.token is not None
    assert lab.cloud_call(lambda cloud: cloud.write_pin(device.id, "v5", "kept"))  # pushed to the live device
    board.console("config erase")
    board.expect_state("WAIT_CONFIG", timeout=30)
    lab.wait_cloud_event("device_offline", timeout=120)
    with pytest.raises(DeviceOffline, match="offline"):  # reconfigure of an offline device reports it
        lab.cloud_call(lambda cloud: cloud.reconfigure(device.id))
    token = lab.cloud_call(lambda cloud: cloud.reprovision_token(device.id).token)
    second = phone.provision(board, token=token)
    board.expect_state("RUNNING", timeout=60)
    assert second.ok and second.token == token != first.token
    after = lab.device_for(second)
    assert after is not None and after.id == device.id and after.token == token
    assert lab.cloud_call(lambda cloud: cloud.store.pins.read(device.id, "v5")) == "kept"
    assert len(lab.cloud_call(lambda cloud: cloud.store.devices.all())) == 1
    with lab.raw_device() as old:
        assert old.login(first.token) == 9  # INVALID_TOKEN: the old token stopped working
    assert lab.is_online(device.id)


@pytest.mark.lab(profile="edgent-esp32-mqtt")
def test_reconfigure_sends_an_online_mqtt_device_back_to_configuration(
    lab: Lab, board: LabBoard, phone: LabPhone
) -> None:
    """`downlink/reconfigure` to an online device: it opens its access point for a new configuration."""
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    device = lab.device_for(enrollment)
    assert device is not None
    # RUNNING is printed at CONNACK, when the SUBSCRIBE to downlink/# may still be on its way to the
    # cloud; the Hotspot Name the board publishes after it says the subscription is in place.
    lab.wait_cloud_event("meta_set", timeout=30)
    mark = board.mark()
    lab.cloud_call(lambda cloud: cloud.reconfigure(device.id))
    board.expect_state("WAIT_CONFIG", timeout=60, since=mark)
    again = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    assert again.ok and again.token != enrollment.token
