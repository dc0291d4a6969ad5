"""`provlab emulate` (acceptance 9): N boards standalone, their facts printed, Ctrl-C stops them cleanly."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import serial

from provlab.emulator.fleet import FleetError, parse_network


def read_lines(proc: subprocess.Popen[bytes], count: int, limit_s: float = 30.0) -> list[str]:
    """The first `count` lines of the child's stdout (raw fd reads: no buffered text hiding lines from select)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + limit_s
    while data.count(b"\n") < count:
        assert time.monotonic() < deadline, f"emulate printed only {data!r}"
        if selector.select(0.2):
            chunk = os.read(fd, 65536)
            assert chunk, f"emulate exited early after {data!r}"
            data += chunk
    return data.decode().splitlines()[:count]


def http_get(address: str, path: str) -> bytes:
    host, port = address.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 192.168.4.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data


def test_emulate_runs_boards_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "provlab", "emulate", "--count", "2", "--json", "--time-scale", "0.01",
         "--state-dir", str(tmp_path), "--network", "Home:correct-horse"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        boards = [json.loads(line) for line in read_lines(proc, 2)]
        assert [b["name"] for b in boards] == ["board-1", "board-2"]
        assert len({b["mac"] for b in boards}) == 2 and all(b["ssid"].startswith("Blynk Device-") for b in boards)
        deadline = time.monotonic() + 20
        reply = b""
        while b'"tmpl_id"' not in reply and time.monotonic() < deadline:  # the AP takes 2.6 s (device) to come up
            try:
                reply = http_get(boards[0]["softap_http"], "/board_info.json")
            except ConnectionResetError:
                time.sleep(0.05)
        assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and boards[0]["ssid"].encode() in reply
        assert http_get(boards[1]["softap_http"], "/x").endswith(b"Not found: /x")
        with serial.Serial(boards[1]["pty"], 115200, timeout=0.1) as port:
            port.write(b"devinfo\r")
            deadline = time.monotonic() + 20
            seen = b""
            while b"}\n>" not in seen and time.monotonic() < deadline:
                seen += port.read(4096)
            assert f'"name":"{boards[1]["ssid"]}"'.encode() in seen
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        assert b"Traceback" not in (proc.stderr.read() if proc.stderr else b"")
        assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing was saved: the boards stayed unconfigured
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_emulate_prints_a_line_per_board_without_json(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "provlab", "emulate", "--count", "1", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = read_lines(proc, 1)[0]
        assert "ssid='Blynk Device-" in line and "pty=/dev/pts/" in line and "softap_http=http://127.0.0.1:" in line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_network_spec() -> None:
    assert parse_network("Home:correct-horse") == ("Home", "correct-horse")
    assert parse_network("Cafe") == ("Cafe", None)
    for bad in (":x", "Home:short"):
        try:
            parse_network(bad)
        except FleetError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
