"""A provlab command run as a child process for a test: started, its first JSON line read, stopped with Ctrl-C."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def provlab_child(*args: str, limit_s: float = 30.0) -> Iterator[dict[str, Any]]:
    """Run `python -m provlab ARGS` (which prints one JSON line when ready); yield that line, parsed."""
    proc = subprocess.Popen([sys.executable, "-m", "provlab", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout.fileno(), selectors.EVENT_READ)
        data, deadline = b"", time.monotonic() + limit_s
        while b"\n" not in data:
            assert time.monotonic() < deadline, f"provlab {args[0]} printed only {data!r}"
            if selector.select(0.2):
                chunk = os.read(proc.stdout.fileno(), 65536)
                assert chunk, f"provlab {args[0]} exited: {proc.stderr.read() if proc.stderr else b''!r}"
                data += chunk
        yield json.loads(data.splitlines()[0])
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
