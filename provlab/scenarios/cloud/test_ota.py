"""D6: the cloud pushes a firmware update (Blynk.Air) right after provisioning.

The firmware's side (spec §1.4, §5.3): INTERNAL `ota\\0<url>` (MQTT: `downlink/ota/json`) in RUNNING -> after
2 s EVENT_LOG `sys_ota` "OTA started", `Disconnected`, `OTA_UPGRADE`; `Firmware update URL: <url>`,
`Expected MD5: <md5>`; success -> `=== Update successfully completed. Rebooting.` (no `OTA written` line: `OTA.h`
prints it only for a short write) and the new version boots and reconnects; an MD5 mismatch (ESP32) -> `Error #7`
(and no `Update failed.`, which `OTA.h` prints only when `Update.end()` succeeded) -> `ERROR`, and 10 s later
`Restarting after error.` back into the old version. The pushed image is a real-format ESP32 app image, so a
real board accepts it too.
"""

from __future__ import annotations

import re

import pytest

from provlab.fixtures import DeviceOffline, Lab, LabBoard, LabPhone

NEW_VERSION = "0.9.1"
BANNER_VERSION = r"Firmware:\s+(\S+) \(build"

PROFILES = [
    pytest.param(name, marks=pytest.mark.lab(profile=name), id=name) for name in ("edgent-esp32", "edgent-esp32-mqtt")
]


def line_after(board: LabBoard, pattern: str, since: int, timeout: float = 60) -> int:
    """Wait for a line matching `pattern` after `since`; its position (a `since` for what must follow it)."""
    board.expect(pattern, timeout=timeout, since=since)
    regex = re.compile(pattern)
    return since + next(i for i, item in enumerate(board.lines(since)) if regex.search(item.line.raw))


def provisioned_device(board: LabBoard, phone: LabPhone) -> tuple[int, str]:
    """Provision the board and wait for it to reach RUNNING (the firmware takes an OTA only there, and its
    session then is the cloud's live one); the device id and the firmware version the board booted with."""
    booted = board.expect(BANNER_VERSION, timeout=30)[1]
    enrollment = phone.provision(board)
    assert enrollment.ok and enrollment.device_id is not None
    board.expect_state("RUNNING", timeout=60)
    return enrollment.device_id, booted


@pytest.mark.parametrize("profile", PROFILES)
def test_ota_right_after_provisioning_boots_the_new_version(
    lab: Lab, board: LabBoard, phone: LabPhone, profile: str
) -> None:
    """D6, success: the update is pushed as soon as the device is online and RUNNING; the board goes OTA_UPGRADE,
    checks the MD5, reboots into the new version, reconnects, and the cloud sees the new version."""
    device_id, old = provisioned_device(board, phone)
    assert old != NEW_VERSION
    mark = board.mark()
    host = lab.config.cloud_host
    push = lab.cloud_call(lambda cloud: cloud.push_ota(device_id, version=NEW_VERSION, host=host))
    assert push.transport.startswith("mqtt") == (profile == "edgent-esp32-mqtt")
    board.expect_exact("RUNNING => OTA_UPGRADE", timeout=30, since=mark)
    board.expect(r"Firmware update URL: http://\S+/static/ota/" + re.escape(push.id), timeout=30, since=mark)
    md5 = line_after(board, re.escape(f"Expected MD5: {push.md5}"), mark, timeout=30)
    done = line_after(board, re.escape("=== Update successfully completed. Rebooting."), md5)
    assert done == md5 + 1, "OTA.h prints nothing between the MD5 and the success line (no `OTA written n / n`)"
    booted = line_after(board, BANNER_VERSION.replace(r"(\S+)", re.escape(NEW_VERSION)), done)
    board.expect_state("RUNNING", timeout=120, since=booted)

    succeeded = lab.wait_cloud_event("ota_succeeded", timeout=60)
    assert (succeeded["push"], succeeded["announced"]) == (push.id, NEW_VERSION)
    assert lab.cloud_call(lambda cloud: cloud.firmware_version(device_id)) == NEW_VERSION
    assert lab.cloud_call(lambda cloud: cloud.ota_status(push.id).value) == "succeeded"
    [downloaded] = lab.cloud_events("ota_downloaded")
    assert downloaded["device_id"] == device_id and downloaded["bytes"] == push.size
    log = lab.cloud_call(lambda cloud: cloud.store.device_log.entries(device_id))
    assert [(e["code"], e["description"]) for e in log if e["code"] == "sys_ota"] == [("sys_ota", "OTA started")]
    assert lab.is_online(device_id)


@pytest.mark.parametrize("profile", PROFILES)
def test_ota_with_a_corrupt_image_fails_into_error_and_keeps_the_old_version(
    lab: Lab, board: LabBoard, phone: LabPhone, profile: str
) -> None:
    """D6, failure: the image arrives damaged (MD5 mismatch): `Error #7`, then ERROR (no `Update failed.`);
    after 10 s the board restarts into the version it had and reconnects; the cloud sees the update failed."""
    device_id, old = provisioned_device(board, phone)
    mark = board.mark()
    host = lab.config.cloud_host
    push = lab.cloud_call(lambda cloud: cloud.push_ota(device_id, version=NEW_VERSION, host=host, corrupt=True))
    board.expect_exact("RUNNING => OTA_UPGRADE", timeout=30, since=mark)
    board.expect_exact(f"Expected MD5: {push.md5}", timeout=30, since=mark)
    error = line_after(board, re.escape("Error #7"), mark, timeout=30)  # UPDATE_ERROR_MD5
    failed = line_after(board, "OTA_UPGRADE => ERROR", error)
    assert failed == error + 1, "OTA.h goes to ERROR right after `Error #7`: no `Update failed.` line"
    restart = line_after(board, re.escape("Restarting after error."), failed)
    booted = line_after(board, BANNER_VERSION.replace(r"(\S+)", re.escape(old)), restart)
    board.expect_state("RUNNING", timeout=120, since=booted)
    assert "Update successfully completed" not in "\n".join(i.line.raw for i in board.lines(mark))

    reported = lab.wait_cloud_event("ota_failed", timeout=60)
    assert (reported["push"], reported["version"], reported["announced"]) == (push.id, NEW_VERSION, old)
    assert lab.cloud_call(lambda cloud: cloud.firmware_version(device_id)) == old
    assert lab.cloud_events("ota_downloaded")[0]["corrupt"] is True
    assert not lab.cloud_events("ota_succeeded")
    assert lab.is_online(device_id)


@pytest.mark.needs_edgent_log
def test_ota_to_an_offline_device_is_refused(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """Blynk.Air needs the device online: a push to a device that went offline says so, nothing is sent."""
    device_id, _ = provisioned_device(board, phone)
    board.console("config erase")
    board.expect_state("WAIT_CONFIG", timeout=30)
    lab.wait_cloud_event("device_offline", timeout=120)
    with pytest.raises(DeviceOffline, match="offline"):
        lab.cloud_call(lambda cloud: cloud.push_ota(device_id, version=NEW_VERSION))
    assert not lab.cloud_events("ota_pushed")
