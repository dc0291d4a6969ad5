"""The device against a cloud that revokes, refreshes, redirects, restarts and pings (C1–C12)."""

from __future__ import annotations

import pytest

from provlab.fixtures import Lab, LabBoard, LabPhone


def test_unused_token_stays_unactivated_with_a_7_day_expiry(lab: Lab, phone: LabPhone) -> None:
    """C1: an issued token nobody uses is not activated and expires after 7 days."""
    token = phone.request_token()
    issued = lab.cloud_call(lambda cloud: cloud.store.tokens.get(token))
    assert issued is not None and not issued.activated
    assert abs((issued.expires_at - issued.issued_at) - 7 * 24 * 3600) < 5
    assert lab.cloud_call(lambda cloud: cloud.device_for_token(token)) is None


@pytest.mark.needs_edgent_log
def test_deleted_device_goes_back_to_config_mode(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """C2: the device is deleted while it holds the token: `Invalid auth token`, back to WAIT_CONFIG."""
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    assert enrollment.device_id is not None
    mark = board.mark()
    lab.cloud_call(lambda cloud: cloud.delete_device(enrollment.device_id or 0))
    board.expect("Invalid auth token", timeout=120, since=mark)
    board.expect_state("WAIT_CONFIG", timeout=60, since=mark)


@pytest.mark.needs_edgent_log
def test_refreshed_token_kicks_the_live_session(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """C4: the token is refreshed while the device is connected: kicked, and the old token is refused."""
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    mark = board.mark()
    lab.cloud_call(lambda cloud: cloud.refresh_token(enrollment.device_id or 0))
    board.expect("Invalid auth token", timeout=120, since=mark)
    board.expect_state("WAIT_CONFIG", timeout=60, since=mark)


@pytest.mark.needs_edgent_log
def test_redirect_is_followed(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """C6: the cloud answers REDIRECT host:port; the device logs `Redirecting to …` and logs in there."""
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    mark = board.mark()
    host, port = lab.config.cloud_host, lab.cloud_port
    lab.cloud_call(lambda cloud: cloud.redirect_device(enrollment.device_id or 0, host, port))
    board.expect(f"Redirecting to {host}:{port}", timeout=30, since=mark)
    board.expect(r"Ready \(ping: \d+ms\)\.", timeout=60, since=mark)
    device = lab.device_for(enrollment)
    assert device is not None and lab.is_online(device.id)


@pytest.mark.needs_transport("binary")
def test_device_answers_server_pings(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """The cloud PINGs the device; the firmware answers RESPONSE 200 with the same id."""
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    lab.cloud_call(lambda cloud: cloud.ping_device(enrollment.device_id or 0))
    answered = lab.wait_cloud_event("ping_answered", timeout=30)
    assert answered["status"] == 200


@pytest.mark.needs_transport("binary")
def test_cloud_restart_mid_session(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """C12: the cloud restarts; the device reconnects with the same token, ownership and device id."""
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    mark = board.mark()
    lab.restart_cloud()
    board.expect_state("CONNECTING_CLOUD", timeout=120, since=mark)
    board.expect_state("RUNNING", timeout=200, since=mark)
    device = lab.device_for(enrollment)
    assert device is not None and device.id == enrollment.device_id
    assert lab.is_online(device.id)


@pytest.mark.needs_edgent_log
def test_rotated_ca_breaks_trust(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """C7: the lab rotates to a new CA; the board (trusting the old one) cannot reconnect and says so."""
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    mark = board.mark()
    lab.cloud_call(lambda cloud: cloud.rotate_certificate(new_ca=True))
    lab.cloud_call(lambda cloud: cloud.drop_connections())
    board.expect(r"Secure connection failed|SSL error: \d+", timeout=120, since=mark)  # ESP32, Wio | ESP8266
    lab.clock.sleep(10)
    device = lab.device_for(enrollment)
    assert device is not None and not lab.is_online(device.id)


@pytest.mark.needs_transport("binary")
def test_two_clients_sharing_a_token_newest_wins(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """C9: a second client logs in with the board's token: the board's session is closed (newest wins)."""
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    assert enrollment.token
    mark = board.mark()
    with lab.raw_device() as intruder:
        assert intruder.login(enrollment.token) == 200
        board.expect_state("CONNECTING_CLOUD", timeout=60, since=mark)  # its session was closed
        replaced = lab.wait_cloud_event("session_replaced", timeout=30)
        assert replaced["old_transport"] == "tls" and replaced["device_id"] == enrollment.device_id
    board.expect_state("RUNNING", timeout=200, since=mark)


def test_bad_token_storm_is_rate_limited_and_the_stub_keeps_serving(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """C5: a client hammers logins with a bad token; the stub throttles it and the real device stays online."""
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    answers: list[int | None] = []
    for _ in range(40):
        with lab.raw_device() as storm:
            try:
                answers.append(storm.login("B" * 32))
            except ConnectionError:
                answers.append(None)
    assert answers[0] == 9  # INVALID_TOKEN
    assert 1 in answers or None in answers  # later attempts: QUOTA_LIMIT and/or closed
    assert lab.cloud_events("login_rate_limited") or lab.cloud_events("login_failed")
    device = lab.device_for(enrollment)
    assert device is not None and lab.is_online(device.id)


def test_message_flood_gets_quota_limit_and_no_crash(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """C10: a device floods virtual writes: the stub answers QUOTA_LIMIT (not every time) and keeps serving."""
    first = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    token = phone.request_token()
    with lab.raw_device() as flooder:
        assert flooder.login(token) == 200
        for i in range(2000):
            flooder.virtual_write(1, str(i))
        frames = []
        flooder.sock.settimeout(1.0)
        try:
            while True:
                frames += flooder.read()
        except (TimeoutError, OSError):
            pass
    quota = [f for f in frames if f.status == 1]
    assert 1 <= len(quota) <= 2, f"expected QUOTA_LIMIT once per 60 s, got {len(quota)}"
    device = lab.device_for(first)
    assert device is not None and lab.is_online(device.id)
