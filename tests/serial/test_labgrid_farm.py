"""`--boards labgrid:PLACE`: a board farm's place, acquired through a real labgrid coordinator and exporter.

The farm runs on loopback (`labgrid_farm.py`): `labgrid-coordinator` and `labgrid-exporter` as processes, the
exporter exporting an emulated board's pty behind an RFC 2217 server, and an HTTP relay box for its power
(labgrid's `simplerest` backend), reset line and button (`HttpDigitalOutput`). The lab reaches the board only
through what the place holds. The emulated board runs 100x faster than the wall clock (`SCALE`), while the
lab treats it as a real board on the wall clock.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from labgrid_farm import LabgridFarm, RelayBox, exporter_config
from portservers import Rfc2217Server
from serialrig import EmulatedRig, RawPty

from provlab.lab.board_specs import AttachedBoard, BoardSource, parse_boards

pytest.importorskip("labgrid", reason="labgrid is not installed (python3 -m pip install 'provlab[farm]')")

from provlab.drivers.farm.labgrid_board import open_labgrid_board
from provlab.drivers.farm.labgrid_place import (
    LabgridMissing,
    LabgridPlace,
    PlaceHeld,
    PlaceResource,
    PlaceUnavailable,
    serial_url,
)

PLACE = "esp32-a"


@dataclass
class Bench:
    farm: LabgridFarm
    relay: RelayBox
    rig: EmulatedRig

    def holder(self, place: str = PLACE) -> str | None:
        with_place = LabgridPlace(place, coordinator=self.farm.address)
        try:
            return with_place.holding().holder
        finally:
            with_place.close()


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    """The farm, once per module: an emulated board exported as place `esp32-a`."""
    rig = EmulatedRig(tmp_path_factory.mktemp("farm-board"))
    side = rig.sideband()
    relay = RelayBox(
        power=lambda on: side.power_on() if on else side.power_off(),
        reset=lambda held: side.power_off() if held else side.power_on(),  # EN low holds the chip in reset
        button=lambda pressed: side.press_button() if pressed else side.release_button(),
    )
    server = Rfc2217Server(rig.path).start()
    farm: LabgridFarm | None = None
    try:
        rig.power_on()
        farm = LabgridFarm()
        farm.export(exporter_config(PLACE, server.port, relay.port))
        farm.create_place(PLACE)
        farm.client("-p", PLACE, "set-tags", "profile=edgent-esp32")
        with pytest.MonkeyPatch.context() as env:
            env.setenv("LG_COORDINATOR", farm.address)
            env.setenv("LG_USERNAME", "ci-job-1")
            env.delenv("PROVLAB_LABGRID_WAIT", raising=False)
            yield Bench(farm, relay, rig)
    finally:
        if farm is not None:
            farm.close()
        server.stop()
        relay.close()
        rig.close()


SCENARIOS = """
import pytest

def test_the_board_through_its_place(board):
    assert board.name == "esp32-a" and str(board.attached) == "labgrid:esp32-a"
    assert board.profile_name == "edgent-esp32"  # the place's `profile` tag
    assert board.serial.url.startswith("rfc2217://127.0.0.1:")
    assert board.describe_wiring().startswith("labgrid place esp32-a (power NetworkPowerPort")
    assert board.ssid.startswith("Blynk Device-")  # `devinfo` over the place's serial port
    mark = board.mark()
    board.power_cycle(0.2)
    board.expect_exact("on ESP32", timeout=20, since=mark)  # the boot banner again
    mark = board.mark()
    board.reset()
    board.expect_exact("on ESP32", timeout=20, since=mark)
    mark = board.mark()
    board.hold_button(0.15)  # 15 s for the board, which runs 100x the wall clock: past the 10 s reset
    board.expect_exact("Resetting configuration!", timeout=20, since=mark)
    board.expect_state("WAIT_CONFIG", timeout=20, since=mark)

def test_phone_steps_need_the_air(board, phone):
    phone.provision(board)

@pytest.mark.board_state("off")
def test_the_strategy_switches_it_off_through_the_place(board):  # last: the board stays off after it
    with pytest.raises(AssertionError):  # no echo, no prompt: nothing answers on the console
        board.console("devinfo", timeout=0.5)
"""


def test_a_run_on_a_place_drives_the_board_through_the_place_and_releases_it(
    pytester: pytest.Pytester, bench: Bench
) -> None:
    bench.relay.actions.clear()
    pytester.makepyfile(test_farm=SCENARIOS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs", "--boards", f"labgrid:{PLACE}")
    result.assert_outcomes(passed=2, skipped=1)
    assert "the phone cannot provision it" in result.stdout.str()
    actions = bench.relay.actions
    for expected in ("power off", "power on", "reset asserted", "reset released", "button asserted", "button released"):
        assert expected in actions, f"{expected!r} did not reach the relay box: {actions}"
    assert actions.count("power off") >= 2  # the power cycle, and the strategy's `off`
    assert bench.holder() is None
    bench.rig.power_on()  # the strategy left it off


def test_a_failing_test_still_releases_the_place(pytester: pytest.Pytester, bench: Bench) -> None:
    pytester.makepyfile(test_fails="def test_fails(board):\n    raise AssertionError('broken on purpose')\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--boards", f"labgrid:{PLACE}")
    result.assert_outcomes(failed=1)
    assert bench.holder() is None


def test_a_second_run_fails_naming_the_holder(
    pytester: pytest.Pytester, bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench.farm.client("-p", PLACE, "acquire", user="ci-job-1")  # another CI job, in another process
    try:
        monkeypatch.setenv("LG_USERNAME", "ci-job-2")
        pytester.makepyfile(test_one="def test_one(board):\n    pass\n")
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--boards", f"labgrid:{PLACE}")
        assert result.ret != 0
        text = result.stdout.str() + result.stderr.str()
        assert f"PlaceHeld: place {PLACE} is held by {socket.gethostname()}/ci-job-1 since " in text
    finally:
        bench.farm.client("-p", PLACE, "release", user="ci-job-1")
    assert bench.holder() is None


def test_two_clients_of_one_process_each_have_their_own_session(bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    holder = LabgridPlace(PLACE).acquire()  # as ci-job-1
    try:
        monkeypatch.setenv("LG_USERNAME", "ci-job-2")
        held = rf"held by {socket.gethostname()}/ci-job-1 since .*\(waited 0.5 s\)"
        with pytest.raises(PlaceHeld, match=held), LabgridPlace(PLACE, wait=0.5):
            pass
        assert holder.holding().holder == f"{socket.gethostname()}/ci-job-1"
    finally:
        holder.close()
    assert bench.holder() is None


def test_a_second_run_waits_for_the_holder_when_told_to(
    pytester: pytest.Pytester, bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench.farm.client("-p", PLACE, "acquire", user="ci-job-1")
    releaser = threading.Timer(1.0, bench.farm.client, args=("-p", PLACE, "release"), kwargs={"user": "ci-job-1"})
    try:
        monkeypatch.setenv("LG_USERNAME", "ci-job-2")
        monkeypatch.setenv("PROVLAB_LABGRID_WAIT", "60")
        pytester.makepyfile(test_one="def test_one(board):\n    assert board.ssid.startswith('Blynk Device-')\n")
        releaser.start()
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--boards", f"labgrid:{PLACE}")
        result.assert_outcomes(passed=1)
    finally:
        releaser.join()
        if bench.holder() is not None:
            bench.farm.client("-p", PLACE, "release", "--kick", check=False)
    assert bench.holder() is None


def test_a_place_without_a_serial_port_is_released_when_it_cannot_be_opened(bench: Bench, tmp_path: Path) -> None:
    if "bare" not in bench.farm.client("places"):
        bench.farm.client("-p", "bare", "create")
    with pytest.raises(PlaceUnavailable, match="place bare has no serial port"):
        open_labgrid_board("bare", log_path=tmp_path / "bare.log")
    assert bench.holder("bare") is None


def test_an_unknown_place_says_how_to_create_it(bench: Bench) -> None:
    unknown = r"no place 'nowhere' \(places: .*esp32-a.*\).*labgrid-client -p nowhere"
    with pytest.raises(PlaceUnavailable, match=unknown), LabgridPlace("nowhere"):
        pass


def test_no_coordinator_is_a_clear_error(bench: Bench) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(PlaceUnavailable, match=f"labgrid coordinator at {address}|coordinator {address}"):
        LabgridPlace(PLACE, coordinator=address, timeout=5)


def test_without_labgrid_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "labgrid.remote.client", None)  # as if labgrid were not installed
    with pytest.raises(LabgridMissing, match=r"provlab\[farm\]"):
        LabgridPlace(PLACE)


def test_labgrid_items_parse(tmp_path: Path) -> None:
    assert parse_boards("emu:1,labgrid:esp32-a") == (1, (AttachedBoard(BoardSource.LABGRID, "esp32-a"),))
    assert str(AttachedBoard(BoardSource.LABGRID, "esp32-a")) == "labgrid:esp32-a"


def test_a_serial_resource_becomes_a_url_the_board_driver_opens() -> None:
    """ser2net's port on another host is RFC 2217; a raw TCP port is `socket://`; the exporter's own device,
    when the exporter is this host, is opened directly."""
    remote = PlaceResource("NetworkSerialPort", "NetworkSerialPort", {"host": "bench-2", "port": 4001}, {})
    assert serial_url(remote) == "rfc2217://bench-2:4001"
    raw = PlaceResource("NetworkSerialPort", "NetworkSerialPort", {"host": "bench-2", "port": 4001, "protocol": "raw"})
    assert serial_url(raw) == "socket://bench-2:4001"
    pty = RawPty()
    try:
        here = {"host": socket.gethostname(), "port": 4001}
        local = PlaceResource("NetworkSerialPort", "NetworkSerialPort", here, {"path": pty.path})
        assert serial_url(local) == pty.path
        elsewhere = PlaceResource(
            "NetworkSerialPort", "NetworkSerialPort", {**here, "host": "bench-2"}, {"path": pty.path}
        )
        assert serial_url(elsewhere) == "rfc2217://bench-2:4001"
    finally:
        pty.close()


def test_provlab_run_on_a_place_releases_it_on_ctrl_c(bench: Bench, tmp_path: Path) -> None:
    """`provlab run --boards labgrid:PLACE` in its own process, interrupted mid-test: the place is free after."""
    scenario = tmp_path / "test_waits.py"
    scenario.write_text("def test_waits(board):\n    board.expect_exact('a line no board prints', timeout=600)\n")
    evidence = tmp_path / "evidence"
    argv = [sys.executable, "-m", "provlab", "run", str(scenario), "--boards", f"labgrid:{PLACE}"]
    proc = subprocess.Popen(
        [*argv, "--artifacts", str(evidence)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not any("opened rfc2217://" in log.read_text() for log in evidence.glob("**/*.log")):
            assert proc.poll() is None and time.monotonic() < deadline, "the run did not open the place's port"
            time.sleep(0.1)
        assert bench.holder() == f"{socket.gethostname()}/ci-job-1"
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            logs = {log.name: log.read_text()[-1500:] for log in evidence.glob("**/*.log")}
            printed = f"it printed:\n{out[-4000:]}\nits logs: {logs}"
            raise AssertionError(f"provlab run still ran 60 s after Ctrl-C; {printed}") from None
        holder_after = bench.holder()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if bench.holder() is not None:  # a failure here must not leave the place held for the tests after it
            bench.farm.client("-p", PLACE, "release", "--kick")
    assert proc.returncode != 0 and "KeyboardInterrupt" in out
    assert holder_after is None, f"the place is still held by {holder_after} after the run stopped"


def test_provlab_boards_lists_the_places_and_their_holders(bench: Bench) -> None:
    if "bare" not in bench.farm.client("places"):  # a free place of its own (another test may have made it)
        bench.farm.client("-p", "bare", "create")
    bench.farm.client("-p", PLACE, "acquire", user="ci-job-7")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "provlab", "boards", "--labgrid", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        bench.farm.client("-p", PLACE, "release", user="ci-job-7")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines() if "labgrid_place" in line]
    holders = {row["labgrid_place"]: row["holder"] for row in rows}
    assert holders[PLACE] == f"{socket.gethostname()}/ci-job-7" and holders["bare"] is None
