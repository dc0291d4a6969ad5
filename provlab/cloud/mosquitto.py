"""A private Mosquitto broker on a loopback port (Debian's `mosquitto` binary), for labs, tests and benchmarks.

It gets its own config in a temp folder: one listener on 127.0.0.1, anonymous clients allowed (only this
host can reach it), no persistence, no limit on queued messages (a slow subscriber gets everything rather
than losing QoS 0 messages), logs to a file in that folder. `stop()` ends the process and removes the folder.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

MOSQUITTO = "mosquitto"


class MosquittoError(RuntimeError):
    """Mosquitto is not installed or did not start."""


def mosquitto_binary() -> str | None:
    """Where the `mosquitto` binary is (Debian installs it in /usr/sbin), or None."""
    return shutil.which(MOSQUITTO) or shutil.which(MOSQUITTO, path="/usr/sbin:/usr/local/sbin")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mosquitto:
    """One Mosquitto process listening on 127.0.0.1:`port`."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.folder: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> Mosquitto:
        binary = mosquitto_binary()
        if binary is None:
            raise MosquittoError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.folder = Path(tempfile.mkdtemp(prefix="provlab-mosquitto-"))
        config = self.folder / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "max_queued_messages 0\n"
            "max_queued_bytes 0\n"
            f"log_dest file {self.folder / 'mosquitto.log'}\n"
            "log_type error\nlog_type warning\n"
        )
        self.process = subprocess.Popen(
            [binary, "-c", str(config)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                self.stop()
                raise MosquittoError(f"mosquitto exited at start: {error.strip()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise MosquittoError(f"mosquitto did not listen on 127.0.0.1:{self.port} within {timeout:g} s")

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
            if self.process.stderr is not None:
                self.process.stderr.close()
            self.process = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
