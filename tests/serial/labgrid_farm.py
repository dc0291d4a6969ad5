"""A labgrid board farm on loopback for tests: a real `labgrid-coordinator`, a real `labgrid-exporter`, and the
bench the exporter describes — an emulated board's pty behind an RFC 2217 server (as ser2net would serve it),
and a small HTTP relay box switching its power, reset line and button (labgrid's `simplerest` power backend
and `HttpDigitalOutput`). All on 127.0.0.1; `close()` stops the processes and removes the folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def labgrid_command(tool: str) -> list[str]:
    """`labgrid-<tool>` run by this Python (the one whose labgrid the test imports)."""
    return [sys.executable, "-m", f"labgrid.remote.{tool}"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RelayBox:
    """An HTTP power switch and two outputs on 127.0.0.1, driving callbacks: `GET /power/0/1` switches on,
    `GET /power/0/0` off, `GET /power/0` answers 1 or 0; `PUT /reset` and `PUT /button` with body 1 assert,
    0 release. `actions` lists what reached it."""

    def __init__(self, power: Callable[[bool], None], reset: Callable[[bool], None], button: Callable[[bool], None]):
        self.powered = True
        self.actions: list[str] = []
        box = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _reply(self, body: str = "") -> None:
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/")
                if parts[0] != "power":
                    self.send_error(404)
                    return
                if len(parts) == 3 and parts[2] in ("0", "1"):
                    box.powered = parts[2] == "1"
                    box.actions.append(f"power {'on' if box.powered else 'off'}")
                    power(box.powered)
                self._reply("1" if box.powered else "0")

            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                asserted = self.rfile.read(length).strip() == b"1"
                line = self.path.strip("/")
                if line not in ("reset", "button"):
                    self.send_error(404)
                    return
                box.actions.append(f"{line} {'asserted' if asserted else 'released'}")
                (reset if line == "reset" else button)(asserted)
                self._reply()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, name="relay-box", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def exporter_config(place: str, serial_port: int, relay_port: int) -> str:
    relay = f"http://127.0.0.1:{relay_port}"
    return f"""\
{place}:
  NetworkSerialPort:
    host: 127.0.0.1
    port: {serial_port}
    speed: 115200
  NetworkPowerPort:
    model: simplerest
    host: '{relay}/power/{{index}}/{{value}}'
    index: 0
  reset:
    cls: HttpDigitalOutput
    url: {relay}/reset
    body_asserted: '1'
    body_deasserted: '0'
  button:
    cls: HttpDigitalOutput
    url: {relay}/button
    body_asserted: '1'
    body_deasserted: '0'
"""


class LabgridFarm:
    """A coordinator and an exporter on loopback; `client()` runs labgrid-client against them."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="provlab-labgrid-"))
        self.address = f"127.0.0.1:{free_port()}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {**os.environ, "LG_COORDINATOR": self.address, "PYTHONUNBUFFERED": "1"}
        for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            self.env.pop(name, None)
        try:
            self._start("coordinator", [*labgrid_command("coordinator"), "--listen", self.address])
            self._wait_listening()
        except BaseException:
            self.close()
            raise

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, cwd=self.folder, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def _wait_listening(self) -> None:
        host, port = self.address.rsplit(":", 1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=0.5):
                return
            if self.procs[0].poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"labgrid-coordinator did not listen on {self.address}:\n{self.log('coordinator')}")

    def export(self, config: str, name: str = "bench") -> None:
        """Start an exporter for `config` (YAML) and wait until the coordinator lists its resources."""
        path = self.folder / f"{name}.yaml"
        path.write_text(config)
        argv = [*labgrid_command("exporter"), "--coordinator", self.address, "--name", name]
        self._start(f"exporter-{name}", [*argv, "--hostname", "127.0.0.1", str(path)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if f"{name}/" in self.client("resources", check=False):
                return
            time.sleep(0.2)
        raise RuntimeError(f"labgrid-exporter {name} did not register:\n{self.log(f'exporter-{name}')}")

    def client(self, *args: str, check: bool = True, user: str | None = None) -> str:
        env = dict(self.env, LG_USERNAME=user) if user else self.env
        done = subprocess.run(
            [*labgrid_command("client"), "-x", self.address, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"labgrid-client {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout + done.stderr

    def create_place(self, place: str, exporter: str = "bench") -> None:
        self.client("-p", place, "create")
        self.client("-p", place, "add-match", f"{exporter}/{place}/*")

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()
        shutil.rmtree(self.folder, ignore_errors=True)
