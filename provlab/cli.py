"""The `provlab` command: the QA engineer's front door (click + rich)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
from rich.console import Console

import provlab
from provlab.cloud.credentials import DEFAULT_BEARER_TTL_S, DEFAULT_SESSION_TTL_S, CredentialLimits
from provlab.cloud.exposure import ADMIN_PASSWORD_ENV, exposure_warning
from provlab.cloud.mqtt_bridge import MqttBridgeError
from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, DEFAULT_TEMPLATE_ID, CloudStub
from provlab.drivers.farm.labgrid_place import Holding, since_text
from provlab.drivers.flashing import BadFirmwareFile, FirmwareFile
from provlab.emulator.defects import Defect, unknown_defect
from provlab.emulator.profile import PROFILES
from provlab.lab.board_specs import BoardSpecError, parse_boards
from provlab.lab.config import LabConfig
from provlab.lab.summary import NO_TESTS_RAN, RunSummary, step_table
from provlab.wifi.world import ADAPTERS, AIRS, air_problem

console = Console()
DEFAULT_RUN_TIME_SCALE = LabConfig.time_scale  # what `provlab run` and `provlab provision` use by default
SCENARIOS_DIR = Path(__file__).parent / "scenarios"


def defect_names() -> list[str]:
    return [defect.value for defect in Defect]


@click.group()
@click.version_option(provlab.__version__, prog_name="provlab")
def main() -> None:
    """provlab: a lab for testing Wi-Fi device provisioning on real and emulated boards."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("paths", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--boards",
    default=None,
    help="comma-separated: emu:N, inv:NAME, replay:FILE, labgrid:PLACE or a serial port (default: the config's "
    "boards, else emu:1); a run with no board exits 5",
)
@click.option(
    "--wifi",
    default=None,
    help=f"the lab's air: {' | '.join(AIRS.names())} (netns needs root), or a real adapter as the phone's radio: "
    f"{' | '.join(k + ':IFACE' for k in ADAPTERS.names())} (real boards, cloud.url; options in [phone_radio]); "
    "default: the config's wifi, else sim",
)
@click.option(
    "--clock",
    type=click.Choice(["auto", "virtual", "wall"]),
    default=None,
    help="the lab clock: virtual moves only when the whole lab waits (host load cannot change an outcome); "
    "auto picks it when every board is emulated here, else wall; default: the config's clock, else auto",
)
@click.option(
    "--time-scale",
    type=float,
    default=None,
    help=f"wall clock only: device seconds per wall second for emulated parts; default: the config's, else "
    f"{DEFAULT_RUN_TIME_SCALE}",
)
@click.option(
    "--defect",
    "defects",
    multiple=True,
    metavar="NAME",
    help=f"switch a firmware defect on in every emulated board (repeatable): {' | '.join(defect_names())}",
)
@click.option(
    "--inventory",
    type=click.Path(dir_okay=False),
    help="board inventory (YAML or TOML) that --boards inv:NAME is looked up in; default: the config's",
)
@click.option(
    "--cloud-url",
    metavar="URL",
    help="use this running `provlab cloud serve` (loopback http URL) instead of a stub per lab",
)
@click.option(
    "--provlab-config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="lab config file: provlab.toml or a pyproject.toml with [tool.provlab] (default: found from here up)",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False),
    help="write junit.xml and report.html here (default: into the run's evidence folder)",
)
@click.option(
    "--artifacts",
    type=click.Path(file_okay=False),
    help="evidence folder (default ./provlab-artifacts/<run>)",
)
@click.option(
    "--flash",
    "flash",
    type=click.Path(exists=True, dir_okay=False),
    help="ESP32 app image to test: written with esptool to each real board once before the run (the banner must "
    "then show its version) and booted by each emulated board",
)
@click.option(
    "--port-wait",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="wall seconds a test waits for an attached board's port that went away in an earlier test (USB "
    "re-enumeration, a port server restarting; default 10)",
)
@click.option(
    "--unmasked-pcap",
    is_flag=True,
    help="netns air: write wifi.pcap with Wi-Fi passwords and tokens as sent (masked by default)",
)
@click.option(
    "--profile",
    "profile",
    metavar="NAME[,NAME…]|all",
    help="firmware profile(s) of the emulated boards; 'all' runs every scenario once per registered profile "
    "(a profile matrix; a scenario needing what a board family lacks is skipped with the reason)",
)
def run(
    paths: tuple[str, ...],
    boards: str | None,
    wifi: str | None,
    clock: str | None,
    time_scale: float | None,
    defects: tuple[str, ...],
    inventory: str | None,
    cloud_url: str | None,
    config_file: str | None,
    report_dir: str | None,
    artifacts: str | None,
    flash: str | None,
    port_wait: float | None,
    unmasked_pcap: bool,
    profile: str | None,
) -> None:
    """Run scenario suites (the built-in ones when no PATH is given). Extra args go to pytest.

    The exit code is pytest's; a run that tests nothing (no board, every scenario skipped or deselected)
    exits 5, pytest's 'no tests ran', and says why.
    """
    if boards is not None:
        _require_a_board(boards)
    if flash is not None:
        try:
            FirmwareFile.load(flash)
        except BadFirmwareFile as exc:
            raise click.BadParameter(str(exc), param_hint="--flash") from None
    wifi_problem = air_problem(wifi) if wifi is not None else None
    if wifi_problem is not None:
        raise click.BadParameter(wifi_problem, param_hint="--wifi")
    _check_defects(defects)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    evidence = Path(artifacts) if artifacts else Path("provlab-artifacts") / stamp
    # pytest arguments pass through in order; with no existing path among them, run the built-in suites
    has_target = any(not p.startswith("-") and Path(p.split("::")[0]).exists() for p in paths)
    args = [*([] if has_target else [str(SCENARIOS_DIR)]), *paths]
    args += ["--boards", boards] if boards is not None else []
    args += ["--wifi", wifi] if wifi is not None else []
    args += ["--clock", clock] if clock is not None else []
    args += ["--time-scale", str(time_scale)] if time_scale is not None else []
    args += [arg for name in defects for arg in ("--defect", name)]
    args += ["--inventory", inventory] if inventory is not None else []
    args += ["--cloud-url", cloud_url] if cloud_url is not None else []
    args += ["--provlab-config", config_file] if config_file is not None else []
    args += ["--port-wait", str(port_wait)] if port_wait is not None else []
    args += ["--unmasked-pcap"] if unmasked_pcap else []
    args += ["--profile", profile] if profile is not None else []
    args += ["--flash", str(Path(flash).resolve())] if flash else []
    args += ["--artifacts", str(evidence.absolute())]  # JUnit's provlab_evidence property names it from anywhere
    args += ["-q", "-p", "no:cacheprovider", "-p", "no:labgrid", "--rootdir", str(Path.cwd())]
    reports = Path(report_dir) if report_dir else evidence
    if "--collect-only" not in paths and "--co" not in paths:
        reports.mkdir(parents=True, exist_ok=True)
        args += ["--junitxml", str(reports / "junit.xml")]
    given = sys.argv[sys.argv.index("run") + 1 :] if "run" in sys.argv else ["(called in process)", *args]
    summary = RunSummary(console, command=shlex.join(["provlab", "run", *given]))
    with _sigterm_as_ctrl_c():
        code = int(pytest.main(args, plugins=[summary]))
    if summary.collect_only:
        console.print(f"[bold]{summary.collected} scenarios collected[/]")
        sys.exit(code)
    if summary.results:
        console.print(summary.table())
    page = summary.write_html(reports / "report.html")
    console.print(f"report: {page} and {reports / 'junit.xml'}")
    counts = summary.counts()
    line = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no scenarios ran"
    console.print(f"[bold]{line}[/] — evidence in {evidence}")
    reason = summary.nothing_tested(code)
    if reason is not None:
        console.print(f"[bold red]nothing was tested[/]: {reason} (exit {NO_TESTS_RAN}, pytest's 'no tests ran')")
        code = NO_TESTS_RAN
    sys.exit(code)


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM interrupts like Ctrl-C, so pytest tears the lab down (and removes its private folder with the
    cloud database and flash images) instead of the process dying with them on disk. Ctrl-C itself interrupts
    too when the run was started with SIGINT ignored (a background job of a script, a CI runner's child): Python
    keeps an inherited SIG_IGN, and such a run could then only be killed, leaving a labgrid place held."""
    previous = {sig: signal.signal(sig, signal.default_int_handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_defects(defects: tuple[str, ...]) -> None:
    """A defect name that does not exist is a one-line usage error, before anything starts."""
    for name in defects:
        problem = unknown_defect(name)
        if problem is not None:
            raise click.BadParameter(problem, param_hint="--defect")


def _require_a_board(boards: str) -> None:
    """A run with no board tests nothing: exit 5 (pytest's 'no tests ran') before building any lab."""
    try:
        emulated, attached = parse_boards(boards)
    except BoardSpecError as exc:
        raise click.BadParameter(str(exc), param_hint="--boards") from None
    if emulated + len(attached) == 0:
        console.print(
            f"[bold red]nothing to test[/]: --boards {boards!r} names no board; give emu:N with N ≥ 1, inv:NAME, "
            f"replay:FILE or a serial port (exit {NO_TESTS_RAN}, pytest's 'no tests ran')"
        )
        sys.exit(NO_TESTS_RAN)


@main.command()
@click.option("--count", default=1, show_default=True, help="number of boards")
@click.option(
    "--profile", default="edgent-esp32", show_default=True, help=f"firmware profile: {' | '.join(PROFILES.names())}"
)
@click.option(
    "--network",
    default=f"{LabConfig().home.ssid}:{LabConfig().home.passphrase}",
    show_default=True,
    help="the home Wi-Fi network on the sim air, SSID[:PASS] (default: the lab's, as `provlab provision` sends)",
)
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="device seconds per wall second (standalone boards run on the wall clock, in real time by default)",
)
@click.option("--state-dir", type=click.Path(file_okay=False), help="flash files (default: a temp folder)")
@click.option(
    "--defect",
    "defects",
    multiple=True,
    metavar="NAME",
    help=f"switch a firmware defect on (repeatable): {' | '.join(defect_names())}",
)
@click.option(
    "--cloud-url",
    metavar="URL",
    help="a running `provlab cloud serve` (loopback): its device ports open on the boards' home network and "
    "the boards trust its CA (so TLS logins work)",
)
@click.option(
    "--ca",
    "ca_file",
    type=click.Path(exists=True, dir_okay=False),
    help="the lab CA the boards trust for TLS (default: the one --cloud-url serves)",
)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per board")
@click.option(
    "--workers",
    default="auto",
    show_default=True,
    help="processes the boards spread over, all on one air: a number, or auto (enough that no process runs out of "
    "descriptors, one per core for large fleets); with more than one, the phone's view of the air is AIR-DIR/air.json",
)
@click.option(
    "--serial",
    type=click.Choice(["pty", "memory"]),
    default="pty",
    show_default=True,
    help="each board's UART: a real pty (2 descriptors a board), or kept in memory for a fleet nobody watches",
)
@click.option(
    "--bridges/--no-bridges",
    default=True,
    show_default=True,
    help="a loopback port per board that reaches its SoftAP web server (`provlab provision --target`)",
)
@click.option(
    "--air-dir",
    type=click.Path(file_okay=False),
    help="with --workers: where the workers' air sockets and air.json go (default: a temp folder, removed at exit)",
)
@click.option("--worker", hidden=True, help="K/N: run as worker K of N (started by --workers)")
@click.option("--first-board", type=int, default=1, hidden=True, help="worker: the number of its first board")
@click.option("--mac-base", hidden=True, help="worker: the fleet's MAC prefix (hex), shared by every worker")
@click.option("--home-subnet", hidden=True, help="worker: the fleet's home network subnet, shared by every worker")
def emulate(
    count: int,
    profile: str,
    network: str | None,
    time_scale: float,
    state_dir: str | None,
    defects: tuple[str, ...],
    cloud_url: str | None,
    ca_file: str | None,
    as_json: bool,
    workers: str,
    serial: str,
    bridges: bool,
    air_dir: str | None,
    worker: str | None,
    first_board: int,
    mac_base: str | None,
    home_subnet: str | None,
) -> None:
    """Start emulated boards (sim air) and keep them running until Ctrl-C.

    Each board gets a pty, a SoftAP SSID of its own (a fresh MAC per run) and a SoftAP address on the host;
    `provlab provision --target SSID|PORT|URL` provisions one of them. `--cloud-url https://HOST:PORT --ca FILE`
    may name a `provlab cloud serve` on another machine: several fleets can share one stub.
    """
    from provlab.emulator.fleet import (
        HOME_SUBNET_LARGE,
        HOME_SUBNET_SMALL,
        Fleet,
        FleetBoardInfo,
        FleetError,
        print_fleet,
        run_fleet,
    )
    from provlab.emulator.fleet_workers import plan_workers, raise_descriptor_limit

    _check_defects(defects)
    raise_descriptor_limit()
    try:
        planned = plan_workers(count, workers, pty=serial == "pty", bridge=bridges) if worker is None else 1
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--workers") from None
    if worker is None and planned > 1:
        _emulate_workers(count, planned, air_dir, state_dir, as_json, click.get_current_context().params)
        return
    state = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="provlab-emulate-"))
    ports: tuple[int, ...] = ()
    address = "127.0.0.1"
    index, of = (int(part) for part in worker.split("/")) if worker else (0, 1)
    try:
        if cloud_url is not None:
            ports, served_ca, address = _cloud_device_ports(cloud_url, state, ca_file)
            ca_file = ca_file or served_ca
        fleet = Fleet(
            count,
            profile,
            network=network or None,
            time_scale=time_scale,
            state_dir=state,
            keep_state=state_dir is not None,  # a folder made here for the run goes when it ends
            defects=defects,
            cloud_ports=ports,
            tls_ca=ca_file,
            cloud_address=address,
            memory_serial=serial == "memory",
            bridges=bridges,
            worker=index,
            workers=of,
            first_board=first_board,
            mac_base=bytes.fromhex(mac_base) if mac_base else None,
            home_subnet=home_subnet or (HOME_SUBNET_SMALL if count <= 250 else HOME_SUBNET_LARGE),
            air_port=Path(air_dir) / f"w{index}.sock" if worker and air_dir else None,
        )
    except (FleetError, ValueError) as exc:
        _drop_made_state(state, state_dir)
        raise click.UsageError(str(exc)) from None
    except BaseException:  # a stub that cannot be reached, Ctrl-C: nothing was started, nothing is kept
        _drop_made_state(state, state_dir)
        raise

    def ready(boards: list[FleetBoardInfo]) -> None:
        print_fleet(boards, as_json, click.echo, footer=worker is None)
        if worker is not None:  # the parent waits for this line
            click.echo(json.dumps({"air_port": fleet.air_port_path, "pid": os.getpid()}))
        sys.stdout.flush()

    try:
        run_fleet(fleet, ready)
    finally:
        if worker is None:
            click.echo(fleet.remove_state(), err=True)


def _drop_made_state(state: Path, named: str | None) -> None:
    """Remove the flash folder `emulate` made for this run (its CA copy, flash files) when it stops early."""
    if named is None:
        shutil.rmtree(state, ignore_errors=True)


def _emulate_workers(
    count: int, planned: int, air_dir: str | None, state_dir: str | None, as_json: bool, params: dict[str, Any]
) -> None:
    """`provlab emulate --workers`: the same command in `planned` processes, each with its share of the boards."""
    from provlab.emulator.fleet import HOME_SUBNET_LARGE, HOME_SUBNET_SMALL, random_mac_base
    from provlab.emulator.fleet_workers import WorkerError, serve_workers

    air = Path(air_dir) if air_dir else Path(tempfile.mkdtemp(prefix="provlab-air-"))
    air.mkdir(parents=True, exist_ok=True)
    state = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="provlab-emulate-"))
    common = _worker_arguments(params)
    common += ["--mac-base", random_mac_base().hex()]
    common += ["--home-subnet", HOME_SUBNET_SMALL if count <= 250 else HOME_SUBNET_LARGE]

    def ready(started: list[Any], air_file: Path) -> None:
        for one in started:
            for board in one.boards:
                board["worker"] = one.name
                click.echo(json.dumps(board) if as_json else _board_line(board))
        listed = [{"name": w.name, "pid": w.pid, "boards": len(w.boards)} for w in started]
        note = {"air": str(air_file), "workers": listed}
        click.echo(json.dumps(note) if as_json else f"{planned} workers, one air: {air_file}. Ctrl-C stops the boards.")
        sys.stdout.flush()

    try:
        code = serve_workers(common, count, planned, air, state, ready)
    except WorkerError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if not air_dir:
            shutil.rmtree(air, ignore_errors=True)
        if not state_dir:
            shutil.rmtree(state, ignore_errors=True)
            click.echo(f"removed the temporary flash folder {state}", err=True)
        else:
            click.echo(f"flash files kept in {state} (--state-dir; mode 0600)", err=True)
    if code:
        sys.exit(code)


def _board_line(board: dict[str, Any]) -> str:
    return (
        f"{board['name']}  ssid={board['ssid']!r}  mac={board['mac']}  pty={board['pty']}  "
        f"softap_http={board['softap_http']}  worker={board.get('worker')}"
    )


def _worker_arguments(params: dict[str, Any]) -> list[str]:
    """The `provlab emulate` options a worker takes as the user gave them (its count, air and state folders, and
    the output format, are its own)."""
    args: list[str] = []
    for name in ("profile", "network", "time_scale", "cloud_url", "ca_file", "serial"):
        if params.get(name) is not None:
            flag = "--ca" if name == "ca_file" else "--" + name.replace("_", "-")
            args += [flag, str(params[name])]
    args += [arg for defect in params.get("defects") or () for arg in ("--defect", defect)]
    args += [] if params.get("bridges", True) else ["--no-bridges"]
    return args


def _cloud_device_ports(
    cloud_url: str, folder: Path, ca_file: str | None = None
) -> tuple[tuple[int, ...], str | None, str]:
    """The device ports of the stub at `cloud_url`, its CA (written into `folder`) and its address, from its
    lab info. The stub may run on another machine (several fleets, one stub): the boards' home network then
    routes to that address; over https it is checked against `ca_file` (the lab CA of that stub)."""
    import socket as socket_module

    import httpx

    parts = urlsplit(cloud_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"expected http(s)://HOST:PORT of `provlab cloud serve`, got {cloud_url!r}")
    try:
        address = socket_module.gethostbyname(parts.hostname)
    except OSError as exc:
        raise click.BadParameter(f"{parts.hostname}: {exc}", param_hint="--cloud-url") from None
    verify: Any = ca_file if ca_file else True
    try:
        info = (
            httpx.get(cloud_url.rstrip("/") + "/api/v1/lab/info", timeout=10.0, verify=verify).raise_for_status().json()
        )
    except (httpx.HTTPError, ValueError) as exc:
        raise click.ClickException(
            f"--cloud-url {cloud_url}: {exc} (is `provlab cloud serve` running there?)"
        ) from None
    keys = ("binaryPort", "tlsPort", "mqttPort", "mqttsPort")
    ports = tuple(int(info[key]) for key in keys if info.get(key) is not None)
    http_port = urlsplit(cloud_url).port  # the device HTTP API and OTA downloads
    ports += (http_port,) if http_port else ()
    ca = None
    if info.get("caPem"):
        ca_path = folder / "cloud-ca.pem"
        folder.mkdir(parents=True, exist_ok=True)
        ca_path.write_text(str(info["caPem"]))
        ca = str(ca_path)
    return ports, ca, address


@main.command()
def steps() -> None:
    """Every YAML scenario step: its arguments (types, defaults, which one a scalar fills), the same step
    in a Python scenario, and what it does."""
    from rich.table import Table

    from provlab.fixtures.yaml_scenarios import STATE_NAMES, STEPS, describe_arguments

    table = Table("YAML step", "arguments", "Python", "what it does", title="scenario steps", expand=True)
    for spec in STEPS.values():
        name = spec.name + (f"\n(also {', '.join(spec.aliases)})" if spec.aliases else "")
        table.add_row(name, "\n".join(describe_arguments(spec)) or "-", spec.python, spec.doc)
    console.print(table)
    console.print(f"states: {', '.join(STATE_NAMES)}. Timeouts and seconds are device seconds.")
    console.print("A step is `- name: scalar` or `- name: {option: value, ...}`; files are named scenario_*.yaml.")


@main.group()
def cloud() -> None:
    """The cloud stub."""


def _port(value: int) -> int | None:
    return None if value < 0 else value


@cloud.command("serve")
@click.option(
    "--db",
    metavar="PATH|URL",
    help="SQLite file (PATH or sqlite:PATH) or PostgreSQL (postgresql://user:pass@host:port/db[?schema=name]); "
    "default: a temp SQLite file",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="address every port listens on; anything but loopback prints what that exposes",
)
@click.option("--binary-port", default=8080, show_default=True, help="Blynk binary protocol, plain TCP (0 = any)")
@click.option("--tls-port", default=9443, show_default=True, help="Blynk binary protocol over TLS (-1 = off)")
@click.option("--http-port", default=8000, show_default=True, help="REST API and device HTTP API (0 = any)")
@click.option("--mqtt-port", default=1883, show_default=True, help="MQTT device API, plain (-1 = off)")
@click.option("--mqtts-port", default=8883, show_default=True, help="MQTT device API over TLS (-1 = off)")
@click.option(
    "--certs",
    "certs_dir",
    type=click.Path(file_okay=False),
    help="TLS folder (default: next to a SQLite --db; a temp folder with PostgreSQL)",
)
@click.option(
    "--mqtt-broker",
    metavar="URL",
    help="front this MQTT broker (mqtt://host:port on loopback, e.g. Mosquitto): devices still log in at the "
    "stub's MQTT port; their uplinks, presence and downlinks go through the broker as provlab/<device id>/…",
)
@click.option("--time-scale", type=float, default=1.0, show_default=True, help="device time factor")
@click.option(
    "--admin-password",
    envvar=ADMIN_PASSWORD_ENV,
    show_envvar=True,
    default=None,
    help=f"the seeded admin's password (default: the lab's fixed {DEFAULT_ADMIN_PASSWORD!r}, fine on loopback); "
    "applies when the database is new",
)
@click.option(
    "--session-ttl",
    type=click.FloatRange(min=1),
    default=DEFAULT_SESSION_TTL_S,
    show_default=True,
    help="seconds a password login's session lasts (Blynk: 7 days)",
)
@click.option(
    "--bearer-ttl",
    type=click.FloatRange(min=1),
    default=DEFAULT_BEARER_TTL_S,
    show_default=True,
    help="seconds an OAuth2 bearer lasts at most (Blynk: 24 h; a client may ask for less with expires_in)",
)
@click.option("--json", "as_json", is_flag=True, help="print the endpoints as one JSON line")
def cloud_serve(
    db: str | None,
    host: str,
    binary_port: int,
    tls_port: int,
    http_port: int,
    mqtt_port: int,
    mqtts_port: int,
    certs_dir: str | None,
    mqtt_broker: str | None,
    time_scale: float,
    admin_password: str | None,
    session_ttl: float,
    bearer_ttl: float,
    as_json: bool,
) -> None:
    """Run the cloud stub standalone until Ctrl-C or SIGTERM; seeds an admin, a root org and a template when
    new. Without --db the database (and the TLS folder next to it) lives in a temp folder removed at exit;
    with a PostgreSQL --db and no --certs, the TLS folder does."""
    from provlab.cloud.store import StoreError
    from provlab.cloud.store.backend import backend_name, sqlite_path

    on_postgres = db is not None and backend_name(db) != "sqlite"
    temp = None
    if db is None or (on_postgres and certs_dir is None):
        temp = Path(tempfile.mkdtemp(prefix="provlab-cloud-"))
    target: str | Path
    if on_postgres:
        target = str(db)
        certs_dir = certs_dir or str(Path(str(temp)) / "certs")
    else:
        target = Path(sqlite_path(db)) if db is not None else Path(str(temp)) / "cloud.db"
        target.parent.mkdir(parents=True, exist_ok=True)
    ports = {
        "binary_port": binary_port,
        "http_port": http_port,
        "tls_port": _port(tls_port),
        "mqtt_port": _port(mqtt_port),
        "mqtts_port": _port(mqtts_port),
    }
    warning = exposure_warning(host, admin_password is None, ports)
    if warning is not None:
        click.echo(warning, err=True)
    try:
        try:
            limits = CredentialLimits(session_ttl_s=session_ttl, bearer_ttl_s=bearer_ttl)
            stub = CloudStub(
                target,
                host=host,
                time_scale=time_scale,
                certs=certs_dir,
                mqtt_broker=mqtt_broker,
                credential_limits=limits,
            )
        except MqttBridgeError as exc:
            raise click.BadParameter(str(exc), param_hint="--mqtt-broker") from None
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
        asyncio.run(_serve(stub, ports, as_json, admin_password))
        where = stub.store.path
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
            what = "TLS" if on_postgres else "database"
            click.echo(f"removed the temporary {what} folder {temp}", err=True)
    if on_postgres:
        click.echo(f"data kept in {where} (--db)", err=True)
    elif db is not None:
        click.echo(f"database kept at {where} (--db; mode 0600)", err=True)


async def _serve(stub: CloudStub, ports: dict[str, int | None], as_json: bool, admin_password: str | None) -> None:
    admin = stub.seed(admin_password=admin_password or DEFAULT_ADMIN_PASSWORD)
    try:
        endpoints = await stub.start(
            ports["binary_port"] or 0,
            ports["http_port"] or 0,
            tls_port=ports["tls_port"],
            mqtt_port=ports["mqtt_port"],
            mqtts_port=ports["mqtts_port"],
        )
    except OSError as exc:
        await stub.stop()
        raise click.ClickException(f"cannot open the stub's ports: {exc}") from None
    except MqttBridgeError as exc:
        await stub.stop()
        raise click.ClickException(str(exc)) from None
    tls = endpoints.tls_port is not None or endpoints.mqtts_port is not None
    ca = str(stub.certs.ca_file) if tls else None
    if as_json:
        summary = {
            "database": stub.store.path,
            "host": endpoints.host,
            "binary_port": endpoints.binary_port,
            "tls_port": endpoints.tls_port,
            "http_url": endpoints.http_url,
            "mqtt_port": endpoints.mqtt_port,
            "mqtts_port": endpoints.mqtts_port,
            "mqtt_url": endpoints.mqtt_url,
            "mqtt_broker": endpoints.mqtt_broker,
            "ca_file": ca,
            "admin": admin.email,
            "template": DEFAULT_TEMPLATE_ID,
            "console_url": f"{endpoints.http_url}/console#key={stub.console_key}",
        }
        click.echo(json.dumps(summary))
    else:
        console.print(f"[bold]provlab cloud stub[/] — database {stub.store.path}")
        console.print(f"  binary protocol  tcp://{endpoints.host}:{endpoints.binary_port}")
        if endpoints.tls_port is not None:
            console.print(f"  binary over TLS  tls://{endpoints.host}:{endpoints.tls_port}")
        console.print(f"  HTTP API         {endpoints.http_url}")
        if endpoints.mqtt_url:
            console.print(f"  MQTT             {endpoints.mqtt_url}")
        if endpoints.mqtts_port is not None:
            console.print(f"  MQTT over TLS    mqtts://{endpoints.host}:{endpoints.mqtts_port}")
        if endpoints.mqtt_broker:
            console.print(f"  MQTT relayed via {endpoints.mqtt_broker} (provlab/<device id>/up/#, …/online, …/down/…)")
        if ca:
            console.print(f"  lab CA           {ca}")
        shown = DEFAULT_ADMIN_PASSWORD if admin_password is None else f"(from --admin-password / {ADMIN_PASSWORD_ENV})"
        console.print(f"  admin            {admin.email} / {shown}")
        console.print(f"  template         {DEFAULT_TEMPLATE_ID}")
        console.print(f"  console          {endpoints.http_url}/console#key={stub.console_key} (read-only)")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await stub.stop()


@cloud.command("token")
@click.option("--db", metavar="PATH|URL", required=True, help="the stub's database: SQLite file or postgresql:// URL")
@click.option("--user", default=DEFAULT_ADMIN_EMAIL, show_default=True, help="email of the user who asks for it")
@click.option(
    "--template", "template_id", default=DEFAULT_TEMPLATE_ID, show_default=True, help="template the device is of"
)
@click.option("--ttl-days", type=float, default=7.0, show_default=True, help="unactivated token lifetime")
def cloud_token(db: str, user: str, template_id: str, ttl_days: float) -> None:
    """Issue a dynamic token as USER (what the phone does); prints the token."""
    from provlab.cloud.store import Store, StoreError
    from provlab.cloud.store.backend import backend_name, sqlite_path

    if backend_name(db) == "sqlite" and not Path(sqlite_path(db)).is_file():
        raise click.BadParameter(f"no database file {db!r}", param_hint="--db")
    try:
        store = Store(db)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        account = store.users.by_email(user)
        if account is None:
            raise click.ClickException(f"no user {user!r} in {db}")
        try:
            issued = store.tokens.issue(account, template_id, ttl_days * 86400)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(issued.token)
    finally:
        store.close()


@cloud.command("certs")
@click.option("--dir", "folder", type=click.Path(file_okay=False), required=True, help="certificate folder")
@click.option("--host", "hosts", multiple=True, help="server name or IP (repeatable; default: the stub's names)")
@click.option("--rotate-server", is_flag=True, help="new server certificate from the same CA")
@click.option("--rotate-ca", is_flag=True, help="new CA and server certificate (old trust breaks)")
@click.option("--expired", is_flag=True, help="install a server certificate that expired yesterday (C7)")
def cloud_certs(folder: str, hosts: tuple[str, ...], rotate_server: bool, rotate_ca: bool, expired: bool) -> None:
    """Create the lab CA and the stub's server certificate (or rotate / expire them)."""
    from provlab.cloud.certs import DEFAULT_HOSTS, CertificateError, LabCertificates

    if sum((rotate_server, rotate_ca, expired)) > 1:
        raise click.UsageError("choose at most one of --rotate-server, --rotate-ca, --expired")
    certs = LabCertificates(folder, hosts or DEFAULT_HOSTS)
    try:
        if rotate_ca or not certs.exists():
            certs.rotate_ca()
        elif rotate_server:
            certs.rotate_server()
        if expired:
            certs.expire_server()
        server = certs.server_certificate()
    except CertificateError as exc:
        raise click.ClickException(str(exc)) from None
    validity = f"{server.not_valid_before_utc:%Y-%m-%d} .. {server.not_valid_after_utc:%Y-%m-%d}"
    console.print(f"lab CA (trust this)  {certs.ca_file}")
    console.print(f"server certificate   {certs.cert_file}")
    console.print(f"server key           {certs.key_file}")
    console.print(f"valid                {validity}")
    console.print(f"names                {', '.join(certs.hosts)}")


@main.command()
@click.option(
    "--time-scale",
    type=float,
    default=DEFAULT_RUN_TIME_SCALE,
    show_default=True,
    help="device time factor of the lab's own board (as in `provlab run`)",
)
@click.option("--wifi-ssid", default=None, help="home network to provision onto (default: the lab's)")
@click.option("--wifi-pass", default=None, help="its passphrase (default: the lab's)")
@click.option("--save", is_flag=True, help="send save=1 (the board stores the config before connecting)")
@click.option(
    "--defect",
    "defects",
    multiple=True,
    metavar="NAME",
    help=f"switch a firmware defect on in the lab's board (repeatable): {' | '.join(defect_names())}",
)
@click.option(
    "--target",
    metavar="SSID|PORT|URL",
    help="provision a board `provlab emulate` runs (its SSID, its softap_http port or URL) instead of starting "
    "one; needs --cloud-url, the stub that emulate was given",
)
@click.option("--cloud-url", metavar="URL", help="with --target: the running `provlab cloud serve`")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="with --target: seconds to wait online")
@click.option("--artifacts", type=click.Path(file_okay=False), help="evidence folder (default ./provlab-artifacts/…)")
def provision(
    time_scale: float,
    wifi_ssid: str | None,
    wifi_pass: str | None,
    save: bool,
    defects: tuple[str, ...],
    target: str | None,
    cloud_url: str | None,
    timeout: float,
    artifacts: str | None,
) -> None:
    """One phone run against one board, with a step-by-step report: the lab's own emulated board, or
    (--target) one that `provlab emulate` runs."""
    from provlab.lab.enrollment import ProvisioningFailed
    from provlab.lab.lab import Lab

    _check_defects(defects)
    if target is not None:
        _provision_target(target, cloud_url, wifi_ssid, wifi_pass, save, timeout)
        return
    if cloud_url is not None:
        raise click.UsageError("--cloud-url goes with --target (the lab's own board uses the lab's own stub)")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    evidence = Path(artifacts) if artifacts else Path("provlab-artifacts") / f"provision-{stamp}"
    config = LabConfig(boards=1, time_scale=time_scale, defects=tuple(d.replace("_", "-").lower() for d in defects))
    with Lab(config, artifacts=evidence) as lab:
        board = lab.boards[0]
        kw: dict[str, object] = {"save": save, "check": False}
        if wifi_ssid is not None:
            kw["wifi_ssid"] = wifi_ssid
        if wifi_pass is not None:
            kw["wifi_pass"] = wifi_pass
        try:
            enrollment = lab.phone().provision(board, **kw)
        except ProvisioningFailed as exc:  # pragma: no cover - check=False returns instead
            enrollment = exc.enrollment
    console.print(step_table(enrollment))
    verdict = (
        "[green]online[/]"
        if enrollment.ok
        else f"[red]failed ({enrollment.failure.name if enrollment.failure else '?'})[/]"
    )
    console.print(f"{enrollment.board_ssid}: {verdict}, token {enrollment.masked_token}, device {enrollment.device_id}")
    console.print(f"evidence: {evidence}")
    sys.exit(0 if enrollment.ok else 1)


def _provision_target(
    target: str, cloud_url: str | None, wifi_ssid: str | None, wifi_pass: str | None, save: bool, timeout: float
) -> None:
    from rich.table import Table

    from provlab.lab.direct_provision import TargetError, provision_direct, resolve_target
    from provlab.lab.remote_cloud import check_cloud_url

    if cloud_url is None:
        raise click.UsageError("--target needs --cloud-url: the `provlab cloud serve` the emulated board logs in to")
    problem = check_cloud_url(cloud_url)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="--cloud-url")
    try:
        softap = resolve_target(target)
    except TargetError as exc:
        raise click.BadParameter(str(exc), param_hint="--target") from None
    home = LabConfig().home
    result = provision_direct(
        softap,
        cloud_url,
        email=DEFAULT_ADMIN_EMAIL,
        password=DEFAULT_ADMIN_PASSWORD,
        wifi_ssid=wifi_ssid or home.ssid,
        wifi_pass=wifi_pass if wifi_pass is not None else home.passphrase,
        save=save,
        timeout=timeout,
    )
    table = Table("step", "outcome", "seconds", "detail", title=f"provision {result.board_ssid or softap}")
    for step in result.steps:
        outcome = "[green]ok[/]" if step.ok else "[red]failed[/]"
        table.add_row(step.name, outcome, f"{step.seconds:.2f}", step.detail)
    console.print(table)
    verdict = "[green]online[/]" if result.online else "[red]failed[/]"
    console.print(f"{result.board_ssid or softap}: {verdict}, token {result.masked_token}, device {result.device_id}")
    sys.exit(0 if result.online else 1)


@main.command()
@click.option("--probe", "probe_ports", is_flag=True, help="ask each port's console for devinfo")
@click.option("--all", "include_all", is_flag=True, help="list every serial port, not only ESP USB bridges")
@click.option("--inventory", type=click.Path(exists=True, dir_okay=False), help="board inventory (YAML or TOML)")
@click.option("--timeout", default=3.0, show_default=True, help="seconds to wait for each devinfo reply")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per board instead of the table")
@click.option("--labgrid", "farm", is_flag=True, help="also the labgrid places at LG_COORDINATOR and their holders")
def boards(
    probe_ports: bool, include_all: bool, inventory: str | None, timeout: float, as_json: bool, farm: bool
) -> None:
    """List boards: port, kind, MAC, firmware, state (with --probe), capabilities and who holds each port."""
    from provlab.drivers.boards_report import boards_json, boards_table, collect_boards
    from provlab.drivers.inventory import Inventory, InventoryError

    try:
        stock = Inventory.load(inventory) if inventory else None
    except InventoryError as exc:
        raise click.ClickException(str(exc)) from None
    rows = collect_boards(include_all=include_all, probe_ports=probe_ports, inventory=stock, timeout=timeout)
    places = _labgrid_places(timeout) if farm else None
    if as_json:
        for line in boards_json(rows):
            click.echo(line)
        for name, held in (places or {}).items():
            click.echo(json.dumps({"labgrid_place": name, "holder": held.holder, "since": since_text(held.since)}))
        return
    console.print(boards_table(rows, probed=probe_ports))
    for name, held in (places or {}).items():
        holder = f"[yellow]{held.holder}[/] since {since_text(held.since)}" if held.holder else "[green]free[/]"
        console.print(f"labgrid:{name}  {holder}")


def _labgrid_places(timeout: float) -> dict[str, Holding]:
    from provlab.drivers.farm.labgrid_place import FarmError, list_places

    try:
        return list_places(timeout=max(timeout, 5.0))
    except FarmError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--cleanup", is_flag=True, help="remove namespaces, processes and records left by crashed netns runs")
@click.option(
    "--wifi",
    default=None,
    help="also check this real adapter as the phone's radio (wpa:IFACE, nm:IFACE): the interface, the permissions "
    "and the backend's daemon; default: the config's wifi when it names one",
)
def doctor(cleanup: bool, wifi: str | None) -> None:
    """Check the host: serial permissions, Wi-Fi tools, namespace rights, leftovers of crashed runs, and the
    real Wi-Fi adapter the phone would use."""
    from provlab.lab import doctor as checks
    from provlab.lab.config import LabConfigError, find_config_file, load_config
    from provlab.wifi.world import air_problem, is_adapter

    options: dict[str, object] = {}
    try:
        config = load_config(find_config_file(Path.cwd()))
    except (LabConfigError, ValueError) as exc:
        console.print(f"[yellow]warn[/] config    {exc}")
        config = None
    if config is not None and is_adapter(config.wifi) and wifi in (None, config.wifi):
        wifi, options = config.wifi, dict(config.phone_radio)
    if wifi is not None:
        problem = air_problem(wifi)
        if problem is not None or not is_adapter(wifi):
            problem = problem or f"{wifi!r} is not a real adapter (wpa:IFACE, nm:IFACE)"
            raise click.BadParameter(problem, param_hint="--wifi")

    if cleanup:
        removed = checks.cleanup()
        for line in removed:
            console.print(f"removed {line}")
        console.print(f"[green]cleanup done[/]: {len(removed)} item(s) removed")
    colors = {checks.Status.OK: "green", checks.Status.WARN: "yellow", checks.Status.FAIL: "red"}
    found = checks.findings()
    if wifi is not None:
        from provlab.lab.radio_doctor import adapter_findings

        found += adapter_findings(wifi, options)
    for item in found:
        hint = f" — {item.hint}" if item.hint else ""
        console.print(f"[{colors[item.status]}]{item.status.value:>4}[/] {item.area:<9} {item.detail}{hint}")
    sys.exit(1 if any(item.status is checks.Status.FAIL for item in found) else 0)


def _not_built(command: str, where: str) -> None:
    console.print(f"[yellow]provlab {command}[/]: not built yet (comes with {where}).")
    sys.exit(2)


# the acceptance station's commands live with it (provlab/station/commands.py)
from provlab.station.commands import accept, line  # noqa: E402

main.add_command(accept)
main.add_command(line)
