"""Nothing secret is left behind (issue 13, point 8): `provlab emulate` and `provlab run` remove their temp
folders also on SIGTERM, keep only what the user named (and say so), and kept flash files are 0600.
(`provlab cloud serve` is covered in test_login_throttle.py.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provlab.emulator.flash import Flash, WriteModel

LIMIT_S = 120.0  # ceiling for a child to come up or go down; never an asserted duration


def _private_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    temp = tmp_path / "tmp"
    temp.mkdir()
    return temp, {**os.environ, "TMPDIR": str(temp)}


def _provlab_leftovers(temp: Path) -> list[str]:
    return sorted(p.name for p in temp.iterdir() if p.name.startswith("provlab-"))


def _stop(proc: subprocess.Popen[str], how: signal.Signals = signal.SIGTERM) -> tuple[str, str]:
    proc.send_signal(how)
    try:
        return proc.communicate(timeout=LIMIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.mark.parametrize(
    ("options", "lines"),
    [((), 1), (("--count", "2", "--workers", "2"), 3)],  # one process: its board; workers: two boards, a note
    ids=["one-process", "workers"],
)
def test_emulate_removes_its_temp_folders_on_sigterm(tmp_path: Path, options: tuple[str, ...], lines: int) -> None:
    temp, env = _private_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "provlab", "emulate", *options, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        printed = [proc.stdout.readline() for _ in range(lines)]
        assert all(line.startswith("{") for line in printed), "emulate reports its boards"
        assert _provlab_leftovers(temp) != [], "the flash (and air) folders exist while the boards run"
    finally:
        _, err = _stop(proc)
    assert proc.returncode == 0, err
    assert _provlab_leftovers(temp) == []
    assert "removed the temporary flash folder" in err


def test_emulate_that_cannot_reach_its_cloud_leaves_no_folder(tmp_path: Path) -> None:
    temp, env = _private_env(tmp_path)
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    run = subprocess.run(
        [sys.executable, "-m", "provlab", "emulate", "--json", "--cloud-url", f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=LIMIT_S,
    )
    assert run.returncode != 0 and f"127.0.0.1:{port}" in run.stderr, run.stderr
    assert _provlab_leftovers(temp) == []


def test_emulate_keeps_a_named_state_dir_and_says_so(tmp_path: Path) -> None:
    state = tmp_path / "flash"
    proc = subprocess.Popen(
        [sys.executable, "-m", "provlab", "emulate", "--json", "--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("{")
    finally:
        _, err = _stop(proc)
    assert proc.returncode == 0, err
    assert state.is_dir() and f"flash files kept in {state} (--state-dir" in err


@pytest.mark.parametrize("model", list(WriteModel))
def test_flash_files_are_private_whatever_the_umask(tmp_path: Path, model: WriteModel) -> None:
    path = tmp_path / "board-1.nvs"
    path.write_bytes(b"old")
    path.chmod(0o644)  # a file from before: rewritten private
    old_umask = os.umask(0)
    try:
        flash = Flash(path, model)
        flash.write(b"ssid+pass+token")
        flash.write_app(b"image")
    finally:
        os.umask(old_umask)
    assert path.stat().st_mode & 0o777 == 0o600
    assert flash.app_path.stat().st_mode & 0o777 == 0o600


SCENARIO = """
import time
from pathlib import Path


def test_waits_for_sigterm(lab):
    Path({flag!r}).write_text("up")
    time.sleep(300)
"""


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c-inherited-ignored"])
def test_provlab_run_tears_the_lab_down_on_sigterm_or_ctrl_c(tmp_path: Path, stop: signal.Signals) -> None:
    temp, env = _private_env(tmp_path)
    flag = tmp_path / "lab-is-up"
    scenario = tmp_path / "test_sigterm.py"
    scenario.write_text(SCENARIO.format(flag=str(flag)))
    command = [sys.executable, "-m", "provlab", "run", str(scenario), "--artifacts", str(tmp_path / "ev")]
    # started as a script's background job is: SIGINT ignored (`trap "" INT`, inherited through exec)
    ignoring = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command]
    proc = subprocess.Popen(
        ignoring if stop is signal.SIGINT else command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + LIMIT_S
        while not flag.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the lab did not come up"
            time.sleep(0.1)
        assert any(name.startswith("provlab-private-") for name in _provlab_leftovers(temp))
    finally:
        out, err = _stop(proc, stop)
    assert proc.returncode != 0, out + err  # interrupted, like Ctrl-C
    assert _provlab_leftovers(temp) == [], out + err
