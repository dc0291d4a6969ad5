"""Record any serial session, replay it later as a board; the parser on replays of every state path (issue 7 §7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serialrig import TOKEN, EmulatedRig, RawPty
from state_paths import PATHS, StatePath

from provlab.drivers.recording import Recording, RecordingError
from provlab.drivers.replay import ReplayBoard
from provlab.drivers.serial_board import ExpectTimeout, SerialBoard
from provlab.protocol.serial_log import StateChange, parse_log
from provlab.protocol.states import EdgentState

REAL_LOGS = sorted((Path(__file__).parents[1] / "protocol" / "logs").glob("[0-9]*.log"))


def state_changes(board: SerialBoard) -> list[tuple[str, str]]:
    return [
        (item.event.old.value, item.event.new.value) for item in board.lines() if isinstance(item.event, StateChange)
    ]


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_every_state_path_replays_into_the_right_conclusions(path: StatePath, tmp_path: Path) -> None:
    recording = Recording.from_text(path.text, name=path.name)
    saved = recording.save(tmp_path / f"{path.name}.serial.jsonl")
    with ReplayBoard(saved, time_scale=0.0002, log_path=tmp_path / "replay.log") as board:
        board.wait_replayed(timeout=5000)
        assert state_changes(board) == path.changes
        assert board.state is EdgentState(path.final)
        assert board.last_error == path.last_error
        assert board.boots == path.boots
        for kind in path.events:
            board.expect_event(kind, timeout=1)
        assert board.info.name == "Blynk Device-1W7R" and board.info.fw_ver == "0.1.0"
    assert TOKEN not in (tmp_path / "replay.log").read_text()


@pytest.mark.parametrize("log", REAL_LOGS, ids=[p.name[:40] for p in REAL_LOGS])
def test_real_pasted_logs_replay_to_what_the_parser_reads_from_the_text(log: Path, tmp_path: Path) -> None:
    with ReplayBoard(log, time_scale=0) as board:
        board.wait_replayed(timeout=60)
        replayed = [item.event for item in board.lines() if item.event is not None]
    assert replayed == parse_log(log.read_bytes().decode("utf-8", "replace"))


def test_replay_keeps_the_recorded_timing_in_device_time(tmp_path: Path) -> None:
    recording = Recording.from_text("[1000] INIT => WAIT_CONFIG\r\n[17000] AP URL:  blynk.setup\r\n")
    assert [round(recording.device_seconds(c), 3) for c in recording.chunks] == [0.001, 16.001]
    # time_scale 0.5: the 16 device seconds are 8 s of wall time, far longer than an expect's 2 s wall floor
    # (a busy host may stall this thread for seconds between the two expects)
    with ReplayBoard(recording, time_scale=0.5) as board:
        board.expect_state("WAIT_CONFIG", timeout=60)
        mark = board.mark()
        with pytest.raises(ExpectTimeout):  # the next line is 16 device seconds later: not within 2
            board.expect_exact("AP URL", timeout=2, since=mark)
        board.expect_exact("AP URL", timeout=60, since=mark)


def test_a_live_session_recorded_and_replayed_says_the_same(rig: EmulatedRig, tmp_path: Path) -> None:
    record = tmp_path / "board-1.serial.jsonl"
    log = tmp_path / "board-1.log"
    with SerialBoard(
        rig.path, name="board-1", log_path=log, record_path=record, time_scale=rig.scale, sideband=rig.sideband()
    ) as live:
        rig.power_on()
        live.expect_state("WAIT_CONFIG", timeout=400)
        live.console("devinfo")
        mark = live.mark()
        live.hold_button(10.5)
        live.expect_state("WAIT_CONFIG", timeout=400, since=mark)
        mark = live.mark()
        assert live.console(f"connect {TOKEN} ProvlabHome wrong-password").status().ok
        live.expect_state("CONNECTING_NET", timeout=400, since=mark)
    live_changes = state_changes(live)  # all it saw until closed, which is all it recorded
    live_kinds = [type(item.event).__name__ for item in live.lines() if item.event is not None]

    recording = Recording.load(record)
    text = record.read_text()
    assert TOKEN not in text and "wrong-password" not in text and f"connect {TOKEN[:4]}…" in text
    assert recording.time_scale == rig.scale and recording.sent().startswith(b"devinfo\n")
    assert json.loads(text.splitlines()[0])["format"] == "provlab-serial-recording"

    for source in (record, log):  # the recording, and the plain board log of the same session
        with ReplayBoard(source, time_scale=0.001) as replay:
            replay.wait_replayed(timeout=5000)
            assert state_changes(replay) == live_changes
            kinds = [type(item.event).__name__ for item in replay.lines() if item.event is not None]
            assert kinds == live_kinds
            assert replay.info.name == rig.board.ssid


def test_recordings_keep_garbage_bytes_exactly(raw_pty: RawPty, tmp_path: Path) -> None:
    garbage = bytes(range(256)) + b"\xff\xfe\r\n[5] INIT => WAIT_CONFIG\r\n\x00\x01partial"
    with SerialBoard(raw_pty.path, record_path=tmp_path / "r.jsonl", time_scale=0.05) as board:
        raw_pty.send(garbage)
        board.expect_state("WAIT_CONFIG", timeout=60)
        board.stream.wait_until("all bytes", lambda: True if board.stream.bytes_received >= len(garbage) else None, 60)
    recording = Recording.load(tmp_path / "r.jsonl")
    assert recording.received() == garbage
    assert "rx_b64" in (tmp_path / "r.jsonl").read_text()


def test_what_is_not_a_recording_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.serial.jsonl"
    bad.write_text('{"format": "provlab-serial-recording", "version": 99}\n')
    with pytest.raises(RecordingError, match="version 99"):
        Recording.load(bad)
    bad.write_text('{"format": "provlab-serial-recording", "version": 1}\n{"t": 1}\n')
    with pytest.raises(RecordingError, match="line 2 is not a record"):
        Recording.load(bad)
