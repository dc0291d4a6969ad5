"""Several fleets, one stub on another machine (issue 17, point 6), with network namespaces as the machines.

The test makes three namespaces: `cloud` runs `provlab cloud serve`, `fleet-a` and `fleet-b` each run a fleet
(`provlab emulate --workers 2 --cloud-url http://<cloud's address>:PORT --ca <lab CA>`) and its phones
(`benchmarks/bench_fleet.py --cloud-url … --tls`). Each fleet namespace reaches the cloud's over its own veth
pair; nothing leaves the namespaces the test made, and they are removed at the end, also on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2 for network namespaces"
)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def machines() -> Iterator[dict[str, str]]:
    """Namespaces `cloud`, `fleet-a`, `fleet-b` (unique names); fleet-X reaches cloud at 10.77.N.1."""
    tag = f"{os.getpid() % 100000}"
    names = {"cloud": f"plc-{tag}", "a": f"pla-{tag}", "b": f"plb-{tag}"}
    made: list[str] = []
    try:
        for name in names.values():
            ip("netns", "add", name)
            made.append(name)
            ip("-n", name, "link", "set", "lo", "up")
        for n, side in ((1, "a"), (2, "b")):
            outer, inner = f"plv{side}{tag}c", f"plv{side}{tag}f"
            ip(
                "link",
                "add",
                outer,
                "netns",
                names["cloud"],
                "type",
                "veth",
                "peer",
                "name",
                inner,
                "netns",
                names[side],
            )
            ip("-n", names["cloud"], "addr", "add", f"10.77.{n}.1/24", "dev", outer)
            ip("-n", names[side], "addr", "add", f"10.77.{n}.2/24", "dev", inner)
            ip("-n", names["cloud"], "link", "set", outer, "up")
            ip("-n", names[side], "link", "set", inner, "up")
        yield names
    finally:
        for name in made:  # deleting a namespace deletes its veth ends
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def in_namespace(namespace: str, *command: str) -> list[str]:
    env = ["env", f"PYTHONPATH={ROOT}"]
    return ["ip", "netns", "exec", namespace, *env, sys.executable, *command]


def test_two_fleets_on_two_machines_enroll_against_one_stub_over_tls(machines: dict[str, str], tmp_path: Path) -> None:
    stub = subprocess.Popen(
        in_namespace(
            machines["cloud"],
            "-m", "provlab", "cloud", "serve", "--db", str(tmp_path / "cloud.db"), "--json", "--host", "0.0.0.0",
            "--binary-port", "0", "--http-port", "0", "--tls-port", "0", "--mqtt-port", "-1", "--mqtts-port", "-1",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert stub.stdout is not None
        endpoints = json.loads(stub.stdout.readline())
        http_port = endpoints["http_url"].rsplit(":", 1)[1]
        ca = str(endpoints["ca_file"])  # the lab CA, handed to each fleet machine (here: the same file system)
        fleets = []
        for n, side in ((1, "a"), (2, "b")):
            bench = [str(ROOT / "benchmarks" / "bench_fleet.py"), "--count", "12", "--workers", "2", "--phones", "6"]
            bench += ["--cloud-url", f"http://10.77.{n}.1:{http_port}", "--ca", ca, "--tls", "--time-scale", "0.1"]
            bench += ["--idle-s", "0.5"]
            fleets.append(subprocess.Popen(in_namespace(machines[side], *bench), stdout=subprocess.PIPE, text=True))
        outputs = [fleet.communicate(timeout=300)[0] for fleet in fleets]
        for output in outputs:
            assert "enrolled end to end: 12/12" in output, output
            assert "target 0 boards lost: PASS (0 lost" in output, output
    finally:
        stub.send_signal(signal.SIGTERM)
        try:
            stub.wait(30)
        except subprocess.TimeoutExpired:
            stub.kill()
            stub.wait()
    assert stub.stderr is not None
    warning = stub.stderr.read().decode()  # a bind beyond loopback says what it exposes, before serving
    assert "WARNING: the cloud stub listens on every interface of this host" in warning, warning
    assert "the REST API" in warning and "the lab API" in warning and "--admin-password" in warning, warning
    with sqlite3.connect(tmp_path / "cloud.db") as db:  # the stub's own record, read after it stopped
        rows = db.execute("SELECT device_id, detail FROM events WHERE kind = 'device_online'").fetchall()
    peers = {json.loads(detail)["peer"].rsplit(":", 1)[0] for _, detail in rows}
    assert len({device for device, _ in rows}) == 24
    assert peers == {"10.77.1.2", "10.77.2.2"}  # each fleet's router, as a home network's NAT shows it
    assert {json.loads(detail)["transport"] for _, detail in rows} == {"tls"}
