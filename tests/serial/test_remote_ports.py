"""Boards behind remote port servers (ser2net style) on 127.0.0.1: `socket://` and `rfc2217://` URLs (issue 7 §1, §4).

The RFC 2217 test also proves the DTR/RTS sideband end to end: the client's modem-line changes travel as
RFC 2217 SET-CONTROL commands to the server, whose port feeds them to a model of the ESP auto-reset circuit
wired to the emulated board (EN low = held in reset, IO0 low = BOOT/config button pressed).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from portservers import RawTcpBridge, Rfc2217Server
from serialrig import EmulatedRig

from provlab.drivers.capabilities import WIRED, Capability
from provlab.drivers.inventory import Inventory
from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.serial_errors import PortLost, UnexpectedOutput
from provlab.drivers.sideband.esp_lines import DOWNLOAD_MODE_PATTERNS, DtrRtsSideband, EspWiring, auto_reset_levels
from provlab.drivers.station import open_inventory_board
from provlab.protocol.serial_log import ResettingConfig

ROM_DOWNLOAD = (
    b"rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n"
)


class AutoResetCircuit:
    """The dev board's two transistors between the bridge's DTR/RTS and the chip's EN/IO0.

    EN has an RC delay: the chip leaves reset a moment after EN rises and samples IO0 then (high: the app
    boots; low: the ROM serial downloader); here the moment is counted from the lines' last change. That delay
    is why esptool can enter the downloader with two single-line steps, and why a careless line sequence can
    do it by accident.
    """

    SETTLE_S = 0.2  # wall seconds from the lines' last change with EN up to the chip sampling IO0

    def __init__(self, rig: EmulatedRig) -> None:
        self.rig = rig
        self.en_high = True
        self.io0_high = True
        self.events: list[str] = []
        self._lock = threading.Lock()
        self._boot: threading.Timer | None = None  # pending while EN is up and the chip not out of reset

    def __call__(self, dtr: bool, rts: bool) -> None:
        en_high, io0_high = auto_reset_levels(dtr, rts)
        board = self.rig.board
        was_en_high, was_io0_high = self.en_high, self.io0_high
        with self._lock:
            self.en_high, self.io0_high = en_high, io0_high
            rising = self._boot is not None or (en_high and not was_en_high)
            if was_en_high and not en_high:
                self._disarm()
            elif en_high and rising:
                # The RC delay, counted from the last line change: a sequence sent one RFC 2217 ack at a time
                # (50 ms apart, more on a busy host) reaches the chip as one move, as on the bench's wires.
                self._disarm()
                self._boot = threading.Timer(self.SETTLE_S, self._leave_reset)
                self._boot.start()
                return
        if was_en_high and not en_high:
            self.events.append("EN low")
            self.rig.run(board.power_off())
        elif en_high and io0_high != was_io0_high and board.powered:
            self.events.append("IO0 " + ("high" if io0_high else "low"))
            self.rig.run(self._button(pressed=not io0_high))

    def _disarm(self) -> None:
        if self._boot is not None:
            self._boot.cancel()
            self._boot = None

    def _leave_reset(self) -> None:
        with self._lock:
            if self._boot is not threading.current_thread():
                return  # re-armed by a later line change
            self._boot = None
            io0_high = self.io0_high
        if io0_high:
            self.events.append("boot: app")
            self.rig.run(self.rig.board.power_on())
        else:
            self.events.append("boot: ROM download mode")
            self.rig.board.serial.write(ROM_DOWNLOAD)

    async def _button(self, *, pressed: bool) -> None:
        if pressed:
            self.rig.board.press_button()
        else:
            self.rig.board.release_button()


@pytest.fixture
def powered(rig: EmulatedRig) -> EmulatedRig:
    rig.power_on()
    return rig


@pytest.fixture
def bridge(powered: EmulatedRig) -> Iterator[RawTcpBridge]:
    server = RawTcpBridge(powered.path).start()
    yield server
    server.stop()


def test_a_board_behind_a_raw_tcp_port_server(powered: EmulatedRig, bridge: RawTcpBridge, tmp_path: Path) -> None:
    url = f"socket://127.0.0.1:{bridge.port}"
    with SerialBoard(url, name="remote", log_path=tmp_path / "remote.log", time_scale=powered.scale) as board:
        assert board.console("devinfo").name == powered.board.ssid
        mark = board.mark()
        powered.run(powered.board.power_off())
        powered.run(powered.board.power_on())
        board.expect_state("WAIT_CONFIG", timeout=400, since=mark)
    assert f"opened {url}" in (tmp_path / "remote.log").read_text()


def test_a_board_behind_an_rfc2217_server(powered: EmulatedRig, tmp_path: Path) -> None:
    server = Rfc2217Server(powered.path).start()
    try:
        url = f"rfc2217://127.0.0.1:{server.port}"
        with SerialBoard(url, name="remote", time_scale=powered.scale) as board:
            assert board.console("devinfo").tmpl_id == "TMPL0PROVLAB"
            mark = board.mark()
            board.console("config erase")
            board.expect_state("RESET_CONFIG", timeout=400, since=mark)
            board.expect_event(ResettingConfig, timeout=400, since=mark)
            board.expect_state("WAIT_CONFIG", timeout=400, since=mark)
    finally:
        server.stop()


def test_dtr_rts_sideband_resets_and_presses_through_the_auto_reset_circuit(rig: EmulatedRig) -> None:
    circuit = AutoResetCircuit(rig)
    server = Rfc2217Server(rig.path, on_lines=circuit).start()
    try:
        url = f"rfc2217://127.0.0.1:{server.port}"
        # Opening releases both lines RTS first: never RTS alone (EN low), so opening cannot reset the chip.
        with SerialBoard(url, name="bench", time_scale=rig.scale, dtr=False, rts=False) as board:
            assert "EN low" not in circuit.events
            circuit.events.clear()
            board.attach_sideband(DtrRtsSideband(board, EspWiring(button="io0"), time_scale=rig.scale))
            assert board.capabilities & WIRED == {Capability.RESET, Capability.BUTTON}
            rig.power_on()
            board.expect_state("WAIT_CONFIG", timeout=400)
            assert rig.board.boots == 1

            mark = board.mark()
            board.reset()
            board.expect(r"/___/ v1\.4\.0", timeout=400, since=mark, not_matching=DOWNLOAD_MODE_PATTERNS)
            board.expect_state("WAIT_CONFIG", timeout=400, since=mark)
            assert rig.board.boots == 2
            assert circuit.events == ["EN low", "boot: app"]

            mark = board.mark()
            board.hold_button(10.5)
            board.expect_state("RESET_CONFIG", timeout=400, since=mark)
            board.expect_state("WAIT_CONFIG", timeout=400, since=mark)
            assert circuit.events[-2:] == ["IO0 low", "IO0 high"]

            # What boot-mode avoidance avoids: IO0 pulled low before the chip leaves reset starts the ROM
            # downloader (esptool's classic sequence, here by hand): the wait fails at once, saying so.
            mark = board.mark()
            board.set_rts(True)  # EN low
            board.set_dtr(True)  # both asserted: EN rises (slowly) ...
            board.set_rts(False)  # ... and IO0 is low when the chip samples it
            with pytest.raises(UnexpectedOutput, match="DOWNLOAD"):
                board.expect_state("WAIT_CONFIG", timeout=400, since=mark, not_matching=DOWNLOAD_MODE_PATTERNS)
            assert circuit.events[-1] == "boot: ROM download mode"
        assert server.serial_port is not None
        # The sideband's own moves (everything before the hand-made sequence) never had IO0 low with EN low.
        sideband_moves = server.serial_port.history[:-3]
        assert all(any(auto_reset_levels(dtr, rts)) for dtr, rts in sideband_moves)
    finally:
        server.stop()


def test_an_inventory_board_on_a_remote_bench_resets_through_its_lines(rig: EmulatedRig, tmp_path: Path) -> None:
    """Inventory + remote port + DTR/RTS sideband: what a station file describes is what gets driven."""
    circuit = AutoResetCircuit(rig)
    server = Rfc2217Server(rig.path, on_lines=circuit).start()
    try:
        stock = Inventory.from_data(
            {
                "boards": {
                    "remote-c": {
                        "port": f"rfc2217://127.0.0.1:{server.port}",
                        "tags": {"chip": "esp32", "wiring": "auto-reset"},
                        "sideband": {"kind": "dtr-rts", "button": "io0", "reset_pulse_s": 0.05},
                    }
                }
            }
        )
        (found,) = stock.locate([], stock.select(wiring="auto-reset"))
        with open_inventory_board(found, time_scale=rig.scale, log_path=tmp_path / "remote-c.log") as board:
            assert board.capabilities & WIRED == {Capability.RESET, Capability.BUTTON}
            rig.power_on()
            board.expect_state("WAIT_CONFIG", timeout=400)
            mark = board.mark()
            board.reset()
            board.expect_state("WAIT_CONFIG", timeout=400, since=mark, not_matching=DOWNLOAD_MODE_PATTERNS)
        assert circuit.events == ["EN low", "boot: app"] and rig.board.boots == 2
    finally:
        server.stop()


def test_a_board_whose_rfc2217_server_goes_away_mid_expect_fails_that_wait_and_works_once_it_is_back(
    powered: EmulatedRig, tmp_path: Path
) -> None:
    """Issue 14 §6: the wait running when the port goes fails saying which board went away, when, and what it
    printed last; the log keeps it; once the server is back the same driver reopens it and the next expect passes."""
    server = Rfc2217Server(powered.path).start()
    url = f"rfc2217://127.0.0.1:{server.port}"
    log = tmp_path / "bench-7.log"
    try:
        with SerialBoard(url, name="bench-7", log_path=log, time_scale=powered.scale, reconnect_interval=0.05) as board:
            last = "[99] secret token abcdefghijklmnopqrstuvwxyz012345 is set"
            powered.board.serial.write(f"{last}\r\n".encode())
            board.expect_exact("[99] secret token", timeout=400)
            last = board.stream.tail()[-1]  # masked as the log shows it
            assert "abcdefghijklmnopqrstuvwxyz012345" not in last
            gone = threading.Timer(0.3, server.stop)  # the bench host's ser2net dies while the test waits
            gone.start()
            with pytest.raises(PortLost) as failure:
                board.expect_state("RUNNING", timeout=100_000)
            gone.join()
            message = str(failure.value)
            assert re.match(rf"board bench-7 went away at \d\d:\d\d:\d\d \(last line: {re.escape(last)}\)\n", message)
            assert f"port: {url}: " in message and f"full log: {log}" in message
            with pytest.raises(PortLost, match="board bench-7 went away at"):  # a later call says the same
                board.console("devinfo")

            server = Rfc2217Server(powered.path, port=server.port).start()
            assert board.wait_for_port(400)
            assert board.console("devinfo").tmpl_id == "TMPL0PROVLAB"
            mark = board.mark()
            board.console("config erase")
            board.expect_state("WAIT_CONFIG", timeout=400, since=mark)
    finally:
        server.stop()
    notes = [line.split(" ", 1)[1] for line in log.read_text().splitlines() if " ## provlab: port " in line]
    assert notes[0].startswith("## provlab: port lost: ") and "board bench-7 went away at" in notes[0]
    assert notes[-1] == f"## provlab: port back: {url}"
