"""Port discovery, probing, the board inventory and `provlab boards` (issue 7 §6).

No USB hardware here: enumeration is fed pyserial's own `ListPortInfo` objects; probing opens real ptys with
an emulated board (or silence) behind them.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from serial.tools.list_ports_common import ListPortInfo
from serialrig import EmulatedRig, RawPty

from provlab import cli
from provlab.cli import main
from provlab.drivers import discovery
from provlab.drivers.capabilities import WIRED, Capability
from provlab.drivers.discovery import KNOWN_BRIDGES, SerialPortInfo, find_ports, probe
from provlab.drivers.inventory import Inventory, InventoryError
from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.serial_errors import PortUnavailable
from provlab.drivers.station import open_inventory_board


def port_info(device: str, vid: int | None = None, pid: int | None = None, **kw: str) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid = vid, pid
    info.serial_number = kw.get("serial_number")
    info.location = kw.get("location")
    info.description = kw.get("description", "n/a")
    info.manufacturer = kw.get("manufacturer")
    return info


BENCH = [
    port_info("/dev/ttyUSB1", 0x1A86, 0x7523, location="1-1.3:1.0", description="USB Serial"),
    port_info("/dev/ttyUSB0", 0x10C4, 0xEA60, serial_number="0001A2B3", location="1-1.4:1.0", description="CP2102"),
    port_info("/dev/ttyACM0", 0x303A, 0x1001, serial_number="F4:12:FA:00:11:22", location="1-1.2:1.0"),
    port_info("/dev/ttyUSB2", 0x0403, 0x6015, serial_number="DN04ABCD", location="1-1.5:1.0"),
    port_info("/dev/ttyACM1", 0x2341, 0x0043, serial_number="ARDUINO1", description="Arduino Uno"),
    port_info("/dev/ttyS0", description="n/a"),
]

YAML = """\
boards:
  bench-a:
    serial_number: "0001A2B3"
    tags: {chip: esp32, profile: edgent-esp32, wiring: auto-reset}
    sideband: {kind: dtr-rts, button: io0}
  bench-b:
    location: "1-1.3:1.0"
    tags: {chip: esp8266, profile: edgent-esp8266}
    sideband:
      - {kind: command, power_on: "usbrelay R1_1=1", power_off: "usbrelay R1_1=0"}
      - {kind: operator, can: [button]}
  remote-c:
    port: rfc2217://127.0.0.1:4001
    tags: {chip: esp32}
  spare-d:
    serial_number: "NOT-PLUGGED"
    tags: {chip: esp32-c3}
"""

TOML = """\
[boards.bench-a]
serial_number = "0001A2B3"
tags = { chip = "esp32", profile = "edgent-esp32", wiring = "auto-reset" }
sideband = { kind = "dtr-rts", button = "io0" }

[boards.bench-b]
location = "1-1.3:1.0"
tags = { chip = "esp8266", profile = "edgent-esp8266" }
sideband = [
  { kind = "command", power_on = "usbrelay R1_1=1", power_off = "usbrelay R1_1=0" },
  { kind = "operator", can = ["button"] },
]

[boards.remote-c]
port = "rfc2217://127.0.0.1:4001"
tags = { chip = "esp32" }

[boards.spare-d]
serial_number = "NOT-PLUGGED"
tags = { chip = "esp32-c3" }
"""


def test_esp_usb_bridges_are_recognised_by_vid_pid() -> None:
    ports = find_ports(source=lambda: BENCH)
    assert [(p.device, p.vid_pid, p.bridge) for p in ports] == [
        ("/dev/ttyACM0", "303A:1001", "Espressif USB-Serial/JTAG (native USB)"),
        ("/dev/ttyUSB0", "10C4:EA60", "Silicon Labs CP210x"),
        ("/dev/ttyUSB1", "1A86:7523", "WCH CH340"),
        ("/dev/ttyUSB2", "0403:6015", "FTDI FT-X (FT231X)"),
    ]
    assert ports[1].serial_number == "0001A2B3" and ports[1].location == "1-1.4:1.0"
    every = find_ports(include_all=True, source=lambda: BENCH)
    assert {p.device for p in every} - {p.device for p in ports} == {"/dev/ttyACM1", "/dev/ttyS0"}
    assert {f"{v:04X}:{p:04X}" for v, p in KNOWN_BRIDGES} >= {"1A86:55D4", "0403:6001"}


def test_probe_asks_a_real_port_for_devinfo(rig: EmulatedRig, raw_pty: RawPty) -> None:
    rig.power_on()
    result = probe(rig.path, timeout=60 * rig.scale + 2)
    assert result.devinfo is not None and result.devinfo.name == rig.board.ssid and result.error is None

    silent = probe(raw_pty.path, timeout=0.3)
    assert silent.devinfo is None and "no devinfo reply within 0.3 s" in (silent.error or "")

    with SerialBoard(rig.path, name="held-by-a-run"):
        busy = probe(rig.path, timeout=0.3)
    assert busy.busy and "is in use by pid" in (busy.error or "")
    assert "cannot open" in (probe("/dev/ttyUSB-provlab-absent").error or "")


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_the_inventory_names_boards_by_serial_location_or_port(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"station{suffix}"
    path.write_text(YAML if suffix == ".yaml" else TOML)
    stock = Inventory.load(path)
    assert stock.names() == ["bench-a", "bench-b", "remote-c", "spare-d"]
    assert [b.name for b in stock.select(chip="esp32")] == ["bench-a", "remote-c"]
    assert [b.name for b in stock.select(chip="esp32", wiring="auto-reset")] == ["bench-a"]
    assert stock.get("bench-b").sideband[1] == {"kind": "operator", "can": ["button"]}
    ports = find_ports(include_all=True, source=lambda: BENCH)
    located = {found.board.name: found.url for found in stock.locate(ports)}
    assert located == {
        "bench-a": "/dev/ttyUSB0",
        "bench-b": "/dev/ttyUSB1",
        "remote-c": "rfc2217://127.0.0.1:4001",
        "spare-d": None,
    }


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("boards:\n  a: {serial_number: X, location: '1-1'}\n", "exactly one of serial_number, location, port"),
        ("boards:\n  a: {port: /dev/ttyUSB0, colour: red}\n", "unknown setting(s) ['colour']"),
        ("boards:\n  a: {port: /dev/ttyUSB0, tags: [esp32]}\n", "tags are a table"),
        ("boards:\n  a: {port: /dev/ttyUSB0, sideband: {button: io0}}\n", "with a `kind`"),
        ("boards: [a, b]\n", "expected a `boards` table"),
        ("boards: {a: {port: [}\n", "not valid YAML"),
    ],
)
def test_inventory_mistakes_are_named(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(text)
    with pytest.raises(InventoryError) as failure:
        Inventory.load(path)
    assert error in str(failure.value) and str(path) in str(failure.value)


def test_an_inventory_board_opens_with_its_sideband(rig: EmulatedRig, tmp_path: Path) -> None:
    journal = tmp_path / "relay.txt"
    path = tmp_path / "station.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            boards:
              bench-a:
                serial_number: "0001A2B3"
                tags: {{chip: esp32}}
                sideband:
                  kind: command
                  power_on: ["sh", "-c", "echo {{name}} on >> {journal}"]
                  power_off: ["sh", "-c", "echo {{name}} off >> {journal}"]
            """
        )
    )
    stock = Inventory.load(path)
    plugged = [port_info(rig.path, 0x10C4, 0xEA60, serial_number="0001A2B3")]
    (found,) = stock.locate(find_ports(source=lambda: plugged))
    rig.power_on()
    with open_inventory_board(found, time_scale=rig.scale) as board:
        assert board.name == "bench-a" and board.capabilities & WIRED == {Capability.POWER, Capability.RESET}
        board.power_cycle(off_seconds=0)
        assert board.console("devinfo").name == rig.board.ssid
    assert journal.read_text() == "bench-a off\nbench-a on\n"

    (missing,) = stock.locate([])
    with pytest.raises(PortUnavailable, match="bench-a: not attached"):
        open_inventory_board(missing)


def test_provlab_boards_lists_and_probes(rig: EmulatedRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.power_on()
    fake = [
        port_info(rig.path, 0x10C4, 0xEA60, serial_number="0001A2B3", location="1-1.4:1.0"),
        port_info("/dev/ttyS0"),
    ]
    monkeypatch.setattr(discovery, "comports", lambda: fake)
    inventory = tmp_path / "station.yaml"
    inventory.write_text(YAML)
    monkeypatch.setattr(cli.console, "width", 300)  # the table is not folded to the runner's 80 columns
    runner = CliRunner()

    listed = runner.invoke(main, ["boards", "--inventory", str(inventory)])
    assert listed.exit_code == 0, listed.output
    assert rig.path in listed.output and "10C4:EA60" in listed.output and "Silicon Labs CP210x" in listed.output
    assert "bench-a" in listed.output and "chip=esp32" in listed.output and "not attached" in listed.output
    assert "/dev/ttyS0" not in listed.output

    as_json = runner.invoke(main, ["boards", "--inventory", str(inventory), "--json"])
    assert as_json.exit_code == 0, as_json.output
    rows = {row["name"]: row for row in map(json.loads, as_json.output.splitlines())}
    assert rows["bench-a"]["kind"] == "USB bridge (Silicon Labs CP210x)" and rows["bench-a"]["port"] == rig.path
    assert rows["bench-a"]["capabilities"] == ["reset", "button", "console", "serial log"]  # dtr-rts, io0 wired
    assert rows["bench-a"]["holder"] is None
    assert rows["remote-c"]["kind"] == "rfc2217" and rows["remote-c"]["capabilities"] == ["console", "serial log"]
    assert rows["spare-d"]["kind"] == "inventory entry (not attached)" and rows["spare-d"]["capabilities"] == []

    probed = runner.invoke(main, ["boards", "--probe", "--timeout", str(60 * rig.scale + 2)])
    assert probed.exit_code == 0, probed.output
    assert rig.board.ssid in probed.output and "TMPL0PROVLAB" in probed.output and "devinfo name" in probed.output

    broken = tmp_path / "broken.yaml"
    broken.write_text("boards: [a]\n")
    failed = runner.invoke(main, ["boards", "--inventory", str(broken)])
    assert failed.exit_code != 0 and "expected a `boards` table" in failed.output


def test_port_info_reads_what_pyserial_reports() -> None:
    info = SerialPortInfo.from_pyserial(BENCH[1])
    assert (info.device, info.vid_pid, info.serial_number, info.description) == (
        "/dev/ttyUSB0",
        "10C4:EA60",
        "0001A2B3",
        "CP2102",
    )
