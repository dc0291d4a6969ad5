"""A replayed log is read in its log format: chosen in the board item (`replay:FILE?format=esp-idf`) or detected,
and timed by that format's device stamps (ESP-IDF's `(millis)`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provlab.drivers.recording import Recording
from provlab.drivers.replay import ReplayBoard, ReplayTarget
from provlab.protocol.log_formats import ARDUINO, AUTO, ESP_IDF, EdgentStarted
from provlab.protocol.serial_log import PlatformLog, StateChange
from provlab.protocol.states import EdgentState as S

LOGS = Path(__file__).parents[1] / "protocol" / "logs"
IDF_LOG = LOGS / "synthetic-esp-idf-edgent-1.0.0.log"


def test_replay_items_name_a_file_and_maybe_a_format(tmp_path: Path) -> None:
    assert ReplayTarget.parse("x.log") == ReplayTarget(Path("x.log"))
    assert ReplayTarget.parse("logs/x.log?format=esp-idf") == ReplayTarget(Path("logs/x.log"), ESP_IDF)
    assert ReplayTarget.parse("x.log?format=IDF").log_format is ESP_IDF
    assert ReplayTarget.parse("x.log?format=arduino").log_format is ARDUINO
    odd = tmp_path / "what?.log"
    odd.write_text("[1] INIT => WAIT_CONFIG\n")
    assert ReplayTarget.parse(str(odd)) == ReplayTarget(odd)  # an existing file is taken whole
    with pytest.raises(ValueError, match=r"'speed=2' is not an option; a replay takes format"):
        ReplayTarget.parse("x.log?speed=2")
    with pytest.raises(ValueError, match=r"replay:x.log\?format=zephyr: unknown log format 'zephyr'"):
        ReplayTarget.parse("x.log?format=zephyr")


def test_an_esp_idf_log_is_detected_and_reaches_running_through_idle() -> None:
    with ReplayBoard(IDF_LOG, time_scale=0) as board:
        assert board.stream.log_format is ESP_IDF
        board.wait_replayed(timeout=600)
        changes = [item.event for item in board.lines() if isinstance(item.event, StateChange)]
        assert changes[0] == StateChange(S.INIT, S.WAIT_CONFIG) and changes[0].printed == ("IDLE", "WAIT_CONFIG")
        assert StateChange(S.CONNECTING_CLOUD, S.RUNNING) in changes
        assert board.state is S.ERROR and board.boots == 2
        assert board.info.name == "Blynk Demo-N1A9"
        started = board.expect_event(EdgentStarted, timeout=0)
        assert started.version == "1.0.0"
        assert not any(isinstance(e, StateChange) and "nm_wifi.c" in e.line.raw for e in changes)


def test_a_chosen_format_wins_over_detection() -> None:
    with ReplayBoard(f"{IDF_LOG}?format=arduino", time_scale=0) as board:
        assert board.stream.log_format is ARDUINO
        board.wait_replayed(timeout=600)
        idle = [item.event for item in board.lines() if "IDLE =>" in item.line.raw and "edgent.c" in item.line.raw]
        # the Arduino grammar knows no IDLE: ESP-IDF Edgent's IDLE lines stay platform lines
        assert len(idle) == 2 and all(isinstance(e, PlatformLog) and e.source == "edgent.c" for e in idle)
        assert not any(isinstance(item.event, StateChange) and item.event.printed for item in board.lines())
    with ReplayBoard(Recording.from_text(IDF_LOG.read_bytes()), time_scale=0, log_format=AUTO) as board:
        assert board.stream.log_format is AUTO
        board.expect_state("RUNNING", timeout=600)


def test_an_esp_idf_recording_file_is_detected_from_what_the_board_printed(tmp_path: Path) -> None:
    saved = Recording.from_text(IDF_LOG.read_bytes(), millis_of=ESP_IDF.device_millis).save(tmp_path / "r.jsonl")
    with ReplayBoard(saved, time_scale=0) as board:
        assert board.stream.log_format is ESP_IDF
        board.expect_state("RUNNING", timeout=600)


def test_an_esp_idf_log_is_timed_by_its_own_millis() -> None:
    def at(recording: Recording, text: str) -> float:
        return next(recording.device_seconds(c) for c in recording.chunks if text.encode() in c.data)

    timed = Recording.load(IDF_LOG, millis_of=ESP_IDF.device_millis)
    untimed = Recording.load(IDF_LOG)
    running, cloud = "CONNECTING_CLOUD => RUNNING", "CONNECTING_NET => CONNECTING_CLOUD"
    assert at(timed, running) - at(timed, cloud) == pytest.approx(44.981 - 43.931, abs=1e-6)
    assert at(untimed, running) - at(untimed, cloud) == pytest.approx(0.002, abs=1e-6)  # two lines apart
