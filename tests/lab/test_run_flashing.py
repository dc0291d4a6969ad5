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


def test_a_file_that_is_not_an_esp_image_stops_the_run_before_anything_starts(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("release notes, not firmware\n")
    code, output = _provlab_run(tmp_path, "--flash", str(bad))
    assert code == 2, output
    assert "notes.txt: not an ESP app image: first byte is 0x72, expected 0xE9" in output
    assert "nothing was written to any board" in output
    assert not (tmp_path / "ev").exists()
