"""The netns backend's housekeeping: run-id names, teardown after success and failure, crash cleanup,
and the traffic guard's view of namespace sockets. Skipped (with the reason) where namespaces are not allowed."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from provlab.wifi.guard import TrafficGuard, TrafficViolation
from provlab.wifi.netns.namespace import unavailable_reason

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"netns backend unavailable here: {REASON}")


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def test_everything_carries_the_run_id_and_goes_away_at_close() -> None:
    from provlab.wifi.netns.air import NetnsAir
    from provlab.wifi.netns.runs import RUNS_DIR

    links_before = _host_links()
    air = NetnsAir()
    try:
        air.add_network("ProvlabHome", passphrase="pw-pw-pw-pw")
        air.station("phone-1")
        air.board_radio("board-1")

        async def join() -> None:
            await air.station("phone-2").join("ProvlabHome", "pw-pw-pw-pw")

        asyncio.run(join())
        names = set(air.namespaces())
        assert names == {f"provlab-{air.run_id}-{role}" for role in ("net1", "phone-1", "board-1", "phone-2")}
        assert names <= _namespaces()
        assert (RUNS_DIR / f"{air.run_id}.json").is_file()
        assert _host_links() == links_before  # nothing at all in the host namespace: no veth, no bridge
    finally:
        air.close()
    assert not {n for n in _namespaces() if air.run_id in n}
    assert not (RUNS_DIR / f"{air.run_id}.json").exists()


def test_teardown_also_after_a_failure() -> None:
    from provlab.wifi.netns.air import NetnsAir

    run_id = ""
    with pytest.raises(RuntimeError, match="scenario blew up"), NetnsAir() as air:
        run_id = air.run_id
        air.add_network("ProvlabHome")
        raise RuntimeError("scenario blew up")
    assert run_id and not {n for n in _namespaces() if run_id in n}


CRASHING_RUN = textwrap.dedent(
    """
    import os, sys, time
    from provlab.wifi.netns.air import NetnsAir
    air = NetnsAir()
    air.add_network("ProvlabHome")
    air.station("phone-1")
    print(air.run_id, flush=True)
    time.sleep(60)
    """
)


@pytest.fixture
def killed_run() -> Iterator[str]:
    """A run that built namespaces and was killed with SIGKILL; whatever the test does, its traces go."""
    from provlab.wifi.netns.runs import RunRecord, find_leftovers, remove_leftover

    proc = subprocess.Popen([sys.executable, "-c", CRASHING_RUN], stdout=subprocess.PIPE, text=True)
    run_id = ""
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert run_id, "the crashing run did not start"
        assert run_id not in [left.run_id for left in find_leftovers()]  # alive: not a leftover, never touched
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    try:
        yield run_id
    finally:
        for left in find_leftovers():
            if left.run_id == run_id:
                remove_leftover(left)
        for name in _namespaces():
            if run_id and run_id in name:
                subprocess.run(["ip", "netns", "del", name], check=False)
        record = RunRecord.load(run_id)
        if record is not None:
            record.remove()


def test_doctor_cleanup_removes_what_a_killed_run_left(killed_run: str) -> None:
    from provlab.wifi.netns.runs import find_leftovers, remove_leftover

    run_id = killed_run
    leftovers = {left.run_id: left for left in find_leftovers()}
    assert run_id in leftovers
    left = leftovers[run_id]
    assert sorted(left.namespaces) == [f"provlab-{run_id}-net1", f"provlab-{run_id}-phone-1"]
    removed = remove_leftover(left)
    assert any("namespace" in line for line in removed) and any("run record" in line for line in removed)
    assert not {n for n in _namespaces() if run_id in n}
    assert run_id not in {left.run_id for left in find_leftovers()}


def test_provlab_doctor_cleanup_command(killed_run: str) -> None:
    from click.testing import CliRunner

    from provlab.cli import main

    run_id = killed_run
    report = CliRunner().invoke(main, ["doctor"])
    assert f"run {run_id}" in report.output and "--cleanup" in report.output
    cleaned = CliRunner().invoke(main, ["doctor", "--cleanup"])
    assert cleaned.exit_code == 0, cleaned.output
    assert f"provlab-{run_id}-net1" in cleaned.output
    assert not {n for n in _namespaces() if run_id in n}


def test_guard_lets_namespace_sockets_reach_their_peers_only() -> None:
    from provlab.wifi.netns.air import NetnsAir

    with NetnsAir() as air:
        home = air.add_network("ProvlabHome")
        phone = air.station("phone-1")

        async def scenario() -> None:
            link = await phone.join("ProvlabHome")
            # a socket made inside the phone's namespace, used from the host's loop: judged by where it lives
            sock = await phone.namespace.run(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            with sock:
                sock.sendto(b"peer", (home.gateway, 9))  # its own network: allowed
                with pytest.raises(TrafficViolation, match=r"8\.8\.8\.8"):
                    sock.sendto(b"x", ("8.8.8.8", 53))  # not a lab network: refused even in a namespace
            assert link.is_up

        with TrafficGuard.enforce():
            asyncio.run(scenario())
            with socket.socket() as host_sock, pytest.raises(TrafficViolation, match=r"192\.168\.1\.1"):
                host_sock.connect((home.gateway, 80))  # the host namespace stays loopback-only


def test_sockets_made_in_a_namespace_report_it() -> None:
    from provlab.wifi.guard import namespace_inode, socket_namespace_inode
    from provlab.wifi.netns.air import NetnsAir

    with NetnsAir() as air:
        station = air.station("phone-1")
        inner = station.namespace.call(lambda: socket.socket())
        with inner, socket.socket() as outer:
            assert socket_namespace_inode(inner) == station.namespace.inode
            assert socket_namespace_inode(outer) == namespace_inode("/proc/self/ns/net") != station.namespace.inode


def test_air_close_is_idempotent_and_fast() -> None:
    from provlab.wifi.netns.air import NetnsAir

    air = NetnsAir()
    air.add_network("ProvlabHome")
    started = time.monotonic()
    air.close()
    air.close()
    assert os.path.exists("/run/netns") and time.monotonic() - started < 30
