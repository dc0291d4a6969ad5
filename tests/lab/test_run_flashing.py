"""`provlab run --flash FILE` (issue 14, point 3): emulated boards boot the file, the evidence records it, and
a file that is not an ESP32 app image stops the run before anything starts."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from provlab.protocol.firmware_image import build_app_image

VERSION = "3.1.4"


def _provlab_run(cwd: Path, *args: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "provlab", "run", *args, "--artifacts", str(cwd / "ev")],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def test_an_emulated_board_boots_the_flashed_file_and_the_evidence_names_it(tmp_path: Path) -> None:
    image = tmp_path / "edgent-3.1.4.bin"
    image.write_bytes(build_app_image(VERSION, {"mcu": VERSION, "build": "Dec  4 2026 12:00:00"}))
    code, output = _provlab_run(tmp_path, "--flash", str(image), "--boards", "emu:1", "-k", "test_happy_path")
    assert code == 0, output
    folder = tmp_path / "ev" / "test_happy_path"
    assert f"Firmware:  {VERSION} (build Dec  4 2026 12:00:00)" in (folder / "board-1.log").read_text()
    steps = [json.loads(line) for line in (folder / "steps.jsonl").read_text().splitlines()]
    (firmware,) = [s for s in steps if s.get("name") == "firmware"]
    args = firmware["args"]
    assert firmware["subject"] == "board-1" and firmware["outcome"] == "ok"
    assert args["name"] == "edgent-3.1.4.bin" and args["version"] == VERSION
    assert args["size"] == image.stat().st_size
    assert args["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()  # whole: an image is not a secret


NEWER = "3.2.0"
OTA_AFTER_FLASHING = f"""
def test_ota_from_the_flashed_version(lab, board, phone):
    board.expect(r"Firmware:\\s+{VERSION} \\(build", timeout=30)
    enrollment = phone.provision(board)
    assert enrollment.ok and enrollment.device_id is not None
    board.expect_state("RUNNING", timeout=60)
    device_id = enrollment.device_id
    assert lab.cloud_call(lambda cloud: cloud.firmware_version(device_id)) == "{VERSION}"
    mark = board.mark()
    host = lab.config.cloud_host
    lab.cloud_call(lambda cloud: cloud.push_ota(device_id, version="{NEWER}", host=host))
    board.expect_exact("=== Update successfully completed. Rebooting.", timeout=60, since=mark)
    board.expect(r"Firmware:\\s+{NEWER} \\(build", timeout=60, since=mark)
    lab.wait_cloud_event("ota_succeeded", timeout=120)
"""


def test_an_ota_after_flashing_starts_from_the_flashed_version(tmp_path: Path) -> None:
    """The flashed image is the emulated board's app: it logs in as that version, and an OTA of a newer image is
    pushed from it (the cloud's `previous_version`) and boots the newer one."""
    image = tmp_path / "edgent-3.1.4.bin"
    image.write_bytes(build_app_image(VERSION, {"mcu": VERSION, "build": "Dec  4 2026 12:00:00"}))
    (tmp_path / "test_flashed_ota.py").write_text(OTA_AFTER_FLASHING, encoding="utf-8")
    code, output = _provlab_run(tmp_path, "--flash", str(image), "--boards", "emu:1", "test_flashed_ota.py")
    assert code == 0, output
    folder = tmp_path / "ev" / "test_ota_from_the_flashed_version"
    cloud = [json.loads(line) for line in (folder / "cloud.jsonl").read_text().splitlines()]
    [pushed] = [event for event in cloud if event["kind"] == "ota_pushed"]
    [succeeded] = [event for event in cloud if event["kind"] == "ota_succeeded"]
    assert (pushed["previous_version"], pushed["version"]) == (VERSION, NEWER)
    assert (succeeded["previous_version"], succeeded["version"], succeeded["announced"]) == (VERSION, NEWER, NEWER)
    log = (folder / "board-1.log").read_text()
    assert log.index(f"Firmware:  {VERSION} (build Dec  4 2026 12:00:00)") < log.index(f"Firmware:  {NEWER} (build")


def test_a_file_that_is_not_an_esp_image_stops_the_run_before_anything_starts(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("release notes, not firmware\n")
    code, output = _provlab_run(tmp_path, "--flash", str(bad))
    assert code == 2, output
    assert "notes.txt: not an ESP app image: first byte is 0x72, expected 0xE9" in output
    assert "nothing was written to any board" in output
    assert not (tmp_path / "ev").exists()
