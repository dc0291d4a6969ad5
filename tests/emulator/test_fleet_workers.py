"""`provlab emulate --workers`: a fleet over processes on one air, enrolled end to end by phones of another process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
from provlab.emulator.fleet_workers import plan_workers, shares
from provlab.lab.phone import Phone
from provlab.wifi.sim_shared import SharedAir

ROOT = Path(__file__).resolve().parents[2]
HOME = ("FleetHome", "fleet-home-pass")
SCALE = 0.1


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def json_lines(stream: IO[bytes] | None, count: int) -> list[dict[str, Any]]:
    assert stream is not None
    lines = []
    while len(lines) < count:
        raw = stream.readline()
        assert raw, f"the process ended after {len(lines)} of {count} lines"
        lines.append(json.loads(raw))
    return lines


@contextmanager
def running(command: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, env=env())
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def stub_command(folder: Path) -> list[str]:
    command = [sys.executable, "-m", "provlab", "cloud", "serve", "--db", str(folder / "cloud.db"), "--json"]
    ports = ["--binary-port", "0", "--http-port", "0", "--tls-port", "-1", "--mqtt-port", "-1", "--mqtts-port", "-1"]
    return [*command, *ports]


async def enroll(air_file: str, boards: list[dict[str, Any]], cloud_url: str, port: int) -> list[Any]:
    air = SharedAir.from_file(air_file)
    todo = list(boards)
    done = []

    async def phone_at_work(n: int) -> None:
        station = air.station(f"phone-{n}")
        phone = Phone(station, cloud_url, email=DEFAULT_ADMIN_EMAIL, password=DEFAULT_ADMIN_PASSWORD, time_scale=SCALE)
        try:
            while todo:
                board = todo.pop()
                station.move_to(board["place"])
                heard = {ap.ssid for ap in await station.scan()}
                assert heard <= {b["ssid"] for b in boards if b["place"] == board["place"]}  # enrolled ones are off
                done.append(await phone.provision(board["ssid"], *HOME, cloud_host="blynk.cloud", cloud_port=port))
        finally:
            await phone.close()

    surveyor = air.station("surveyor")
    for place in (boards[24]["place"], boards[200]["place"]):  # every AP of a bench, none of another bench or worker
        surveyor.move_to(place)
        bench = {b["ssid"] for b in boards if b["place"] == place}
        for _ in range(200):  # the boards are still booting: their APs come up within 2.6 device s
            heard = {ap.ssid for ap in await surveyor.scan()}
            if heard == bench:
                break
            await asyncio.sleep(0.05)
        assert heard == bench and len(bench) == 8
    try:
        await asyncio.gather(*(phone_at_work(n) for n in range(30)))
    finally:
        await air.close()
    return done


def test_300_boards_on_two_workers_enroll_end_to_end_on_one_air(tmp_path: Path) -> None:
    with running(stub_command(tmp_path)) as stub:
        endpoints = json_lines(stub.stdout, 1)[0]
        cloud_url = str(endpoints["http_url"])
        fleet_command = [sys.executable, "-m", "provlab", "emulate", "--count", "300", "--workers", "2", "--json"]
        fleet_command += ["--serial", "memory", "--no-bridges", "--cloud-url", cloud_url, "--time-scale", str(SCALE)]
        fleet_command += ["--network", ":".join(HOME), "--air-dir", str(tmp_path / "air")]
        with running(fleet_command) as fleet:
            lines = json_lines(fleet.stdout, 301)
            boards, note = lines[:300], lines[300]
            assert [w["boards"] for w in note["workers"]] == [150, 150]
            assert {b["worker"] for b in boards} == {"w0", "w1"} and len({b["ssid"] for b in boards}) == 300
            assert len({b["mac"] for b in boards}) == 300
            enrollments = asyncio.run(enroll(note["air"], boards, cloud_url, int(endpoints["binary_port"])))
            assert len(enrollments) == 300 and all(e.ok for e in enrollments)
            with httpx.Client(base_url=cloud_url, timeout=30) as http:
                login = http.post(
                    "/api/v1/auth/login", json={"email": DEFAULT_ADMIN_EMAIL, "password": DEFAULT_ADMIN_PASSWORD}
                )
                http.headers["Authorization"] = f"Bearer {login.json()['accessToken']}"
                online = [http.get(f"/api/v1/lab/devices/{e.device_id}").json()["online"] for e in enrollments]
            assert online == [True] * 300
            assert len({e.device_id for e in enrollments}) == 300
            fleet.send_signal(signal.SIGINT)
            assert fleet.wait(60) == 0
    assert not (tmp_path / "air" / "w0.sock").exists()


def test_auto_spreads_the_fleet_when_descriptors_or_cores_run_out() -> None:
    cores = os.cpu_count() or 1
    assert plan_workers(100, "auto", pty=True, bridge=True, limit=20_000) == 1
    # 10,000 online boards at 4 descriptors each need 3 processes under a limit of 20,000 (512 kept free)
    assert plan_workers(10_000, "auto", pty=False, bridge=False, limit=20_000) == max(3, min(cores, 10))
    # with a pty (2) and a bridge (1) each board needs 7: a 4,096 limit holds 512 boards a process
    assert plan_workers(1_200, "auto", pty=True, bridge=True, limit=4_096) == max(3, min(cores, 2))
    assert plan_workers(10, "4", pty=True, bridge=True) == 4 and plan_workers(3, "8", pty=True, bridge=True) == 3
    assert shares(301, 2) == [151, 150]
    with pytest.raises(ValueError, match="ulimit -n"):  # beyond 16 processes: a clear answer, not a broken air
        plan_workers(100_000, "auto", pty=False, bridge=False, limit=4_096)
    with pytest.raises(ValueError, match=r"1\.\.16"):
        plan_workers(100, "17", pty=False, bridge=False)
