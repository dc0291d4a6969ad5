"""The `provlab` command: the QA engineer's front door (click + rich)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import signal
import sys
import tempfile
from pathlib import Path

import click
import pytest
from rich.console import Console

import provlab
from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, DEFAULT_TEMPLATE_ID, CloudStub
from provlab.drivers.farm.labgrid_place import Holding, since_text
from provlab.emulator.profile import PROFILES
from provlab.lab.board_specs import BoardSpecError, parse_boards
from provlab.lab.summary import NO_TESTS_RAN, RunSummary, step_table
from provlab.wifi.world import AIRS, air_problem

console = Console()
SCENARIOS_DIR = Path(__file__).parent / "scenarios"


@click.group()
@click.version_option(provlab.__version__, prog_name="provlab")
def main() -> None:
    """provlab: a lab for testing Wi-Fi device provisioning on real and emulated boards."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("paths", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--boards",
    default="emu:1",
    show_default=True,
    help="comma-separated: emu:N, inv:NAME, replay:FILE, labgrid:PLACE or a serial port; a run with no board exits 5",
)
@click.option(
    "--wifi",
    default="sim",
    show_default=True,
    help=f"the lab's air: {' | '.join(AIRS.names())} (netns needs root). The wpa/nm real-adapter backends are "
    "not an air the lab can build (Python API only: provlab.wifi.world.phone_radio)",
)
@click.option(
    "--clock",
    type=click.Choice(["auto", "virtual", "wall"]),
    default="auto",
    show_default=True,
    help="the lab clock: virtual moves only when the whole lab waits (host load cannot change an outcome); "
    "auto picks it when every board is emulated here, else wall",
)
@click.option(
    "--time-scale", type=float, default=0.01, show_default=True, help="wall clock only: device time factor"
)
@click.option("--report", "report_dir", type=click.Path(file_okay=False), help="write JUnit XML here")
@click.option(
    "--artifacts",
    type=click.Path(file_okay=False),
    help="evidence folder (default ./provlab-artifacts/<run>)",
)
def run(
    paths: tuple[str, ...],
    boards: str,
    wifi: str,
    clock: str,
    time_scale: float,
    report_dir: str | None,
    artifacts: str | None,
) -> None:
    """Run scenario suites (the built-in ones when no PATH is given). Extra args go to pytest.

    The exit code is pytest's; a run that tests nothing (no board, every scenario skipped or deselected)
    exits 5, pytest's 'no tests ran', and says why.
    """
    _require_a_board(boards)
    wifi_problem = air_problem(wifi)
    if wifi_problem is not None:
        raise click.BadParameter(wifi_problem, param_hint="--wifi")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    evidence = Path(artifacts) if artifacts else Path("provlab-artifacts") / stamp
    # pytest arguments pass through in order; with no existing path among them, run the built-in suites
    has_target = any(not p.startswith("-") and Path(p.split("::")[0]).exists() for p in paths)
    args = [*([] if has_target else [str(SCENARIOS_DIR)]), *paths]
    args += [
        "--boards",
        boards,
        "--wifi",
        wifi,
        "--clock",
        clock,
        "--time-scale",
        str(time_scale),
        "--artifacts",
        str(evidence),
    ]
    args += ["-q", "-p", "no:cacheprovider", "--rootdir", str(Path.cwd())]
    if report_dir:
        Path(report_dir).mkdir(parents=True, exist_ok=True)
        args += ["--junitxml", str(Path(report_dir) / "junit.xml")]
    summary = RunSummary(console)
    code = int(pytest.main(args, plugins=[summary]))
    if summary.collect_only:
        console.print(f"[bold]{summary.collected} scenarios collected[/]")
        sys.exit(code)
    if summary.results:
        console.print(summary.table())
    if report_dir:
        page = summary.write_html(Path(report_dir) / "report.html")
        console.print(f"report: {page} and {Path(report_dir) / 'junit.xml'}")
    counts = summary.counts()
    line = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no scenarios ran"
    console.print(f"[bold]{line}[/] — evidence in {evidence}")
    reason = summary.nothing_tested(code)
    if reason is not None:
        console.print(f"[bold red]nothing was tested[/]: {reason} (exit {NO_TESTS_RAN}, pytest's 'no tests ran')")
        code = NO_TESTS_RAN
    sys.exit(code)


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
@click.option("--network", help="a home Wi-Fi network on the sim air, SSID[:PASS]")
@click.option("--time-scale", type=float, default=1.0, show_default=True, help="device time factor")
@click.option("--state-dir", type=click.Path(file_okay=False), help="flash files (default: a temp folder)")
@click.option("--defect", "defects", multiple=True, help="switch on a named firmware defect (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per board")
def emulate(
    count: int,
    profile: str,
    network: str | None,
    time_scale: float,
    state_dir: str | None,
    defects: tuple[str, ...],
    as_json: bool,
) -> None:
    """Start emulated boards (sim air) and keep them running until Ctrl-C."""
    from provlab.emulator.fleet import Fleet, FleetError, print_fleet, run_fleet

    try:
        fleet = Fleet(
            count, profile, network=network, time_scale=time_scale, state_dir=state_dir, defects=defects
        )
    except (FleetError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    run_fleet(fleet, lambda boards: print_fleet(boards, as_json, click.echo))


@main.group()
def cloud() -> None:
    """The cloud stub."""


def _port(value: int) -> int | None:
    return None if value < 0 else value


@cloud.command("serve")
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite file (default: a temp file)")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--binary-port", default=8080, show_default=True, help="Blynk binary protocol, plain TCP (0 = any)")
@click.option("--tls-port", default=9443, show_default=True, help="Blynk binary protocol over TLS (-1 = off)")
@click.option("--http-port", default=8000, show_default=True, help="REST API and device HTTP API (0 = any)")
@click.option("--mqtt-port", default=1883, show_default=True, help="MQTT device API, plain (-1 = off)")
@click.option("--mqtts-port", default=8883, show_default=True, help="MQTT device API over TLS (-1 = off)")
@click.option("--certs", "certs_dir", type=click.Path(file_okay=False), help="TLS folder (default: next to --db)")
@click.option("--external-mqtt", metavar="URL", help="use this broker (mqtt://host:port); no embedded one")
@click.option("--time-scale", type=float, default=1.0, show_default=True, help="device time factor")
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
    external_mqtt: str | None,
    time_scale: float,
    as_json: bool,
) -> None:
    """Run the cloud stub standalone until Ctrl-C; seeds an admin, a root org and a template when new."""
    db_path = Path(db) if db else Path(tempfile.mkdtemp(prefix="provlab-cloud-")) / "cloud.db"
    stub = CloudStub(db_path, host=host, time_scale=time_scale, certs=certs_dir, external_mqtt=external_mqtt)
    ports = {
        "binary_port": binary_port,
        "http_port": http_port,
        "tls_port": _port(tls_port),
        "mqtt_port": _port(mqtt_port),
        "mqtts_port": _port(mqtts_port),
    }
    asyncio.run(_serve(stub, db_path, ports, as_json))


async def _serve(stub: CloudStub, db_path: Path, ports: dict[str, int | None], as_json: bool) -> None:
    admin = stub.seed()
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
    tls = endpoints.tls_port is not None or endpoints.mqtts_port is not None
    ca = str(stub.certs.ca_file) if tls else None
    if as_json:
        summary = {
            "database": str(db_path),
            "host": endpoints.host,
            "binary_port": endpoints.binary_port,
            "tls_port": endpoints.tls_port,
            "http_url": endpoints.http_url,
            "mqtt_port": endpoints.mqtt_port,
            "mqtts_port": endpoints.mqtts_port,
            "mqtt_url": endpoints.mqtt_url,
            "ca_file": ca,
            "admin": admin.email,
            "template": DEFAULT_TEMPLATE_ID,
        }
        click.echo(json.dumps(summary))
    else:
        console.print(f"[bold]provlab cloud stub[/] — database {db_path}")
        console.print(f"  binary protocol  tcp://{endpoints.host}:{endpoints.binary_port}")
        if endpoints.tls_port is not None:
            console.print(f"  binary over TLS  tls://{endpoints.host}:{endpoints.tls_port}")
        console.print(f"  HTTP API         {endpoints.http_url}")
        if endpoints.mqtt_url:
            console.print(f"  MQTT             {endpoints.mqtt_url}")
        if endpoints.mqtts_port is not None:
            console.print(f"  MQTT over TLS    mqtts://{endpoints.host}:{endpoints.mqtts_port}")
        if ca:
            console.print(f"  lab CA           {ca}")
        console.print(f"  admin            {admin.email} / {DEFAULT_ADMIN_PASSWORD}")
        console.print(f"  template         {DEFAULT_TEMPLATE_ID}")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await stub.stop()


@cloud.command("token")
@click.option("--db", type=click.Path(dir_okay=False, exists=True), required=True)
@click.option("--user", default=DEFAULT_ADMIN_EMAIL, show_default=True)
@click.option("--template", "template_id", default=DEFAULT_TEMPLATE_ID, show_default=True)
@click.option("--ttl-days", type=float, default=7.0, show_default=True, help="unactivated token lifetime")
def cloud_token(db: str, user: str, template_id: str, ttl_days: float) -> None:
    """Issue a dynamic token as USER (what the phone does); prints the token."""
    from provlab.cloud.store import Store, StoreError

    store = Store(db)
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
@click.option("--time-scale", type=float, default=0.01, show_default=True, help="device time factor")
@click.option("--wifi-ssid", default=None, help="home network to provision onto (default: the lab's)")
@click.option("--wifi-pass", default=None, help="its passphrase (default: the lab's)")
@click.option("--save", is_flag=True, help="send save=1 (the board stores the config before connecting)")
@click.option("--artifacts", type=click.Path(file_okay=False), help="evidence folder (default ./provlab-artifacts/…)")
def provision(
    time_scale: float, wifi_ssid: str | None, wifi_pass: str | None, save: bool, artifacts: str | None
) -> None:
    """One phone run against one emulated board, with a step-by-step report."""
    from provlab.lab.config import LabConfig
    from provlab.lab.enrollment import ProvisioningFailed
    from provlab.lab.lab import Lab

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    evidence = Path(artifacts) if artifacts else Path("provlab-artifacts") / f"provision-{stamp}"
    with Lab(LabConfig(boards=1, time_scale=time_scale), artifacts=evidence) as lab:
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
def doctor(cleanup: bool) -> None:
    """Check the host: serial permissions, Wi-Fi tools, namespace rights, leftovers of crashed runs."""
    from provlab.lab import doctor as checks

    if cleanup:
        removed = checks.cleanup()
        for line in removed:
            console.print(f"removed {line}")
        console.print(f"[green]cleanup done[/]: {len(removed)} item(s) removed")
    colors = {checks.Status.OK: "green", checks.Status.WARN: "yellow", checks.Status.FAIL: "red"}
    found = checks.findings()
    for item in found:
        hint = f" — {item.hint}" if item.hint else ""
        console.print(f"[{colors[item.status]}]{item.status.value:>4}[/] {item.area:<9} {item.detail}{hint}")
    sys.exit(1 if any(item.status is checks.Status.FAIL for item in found) else 0)


def _not_built(command: str, where: str) -> None:
    console.print(f"[yellow]provlab {command}[/]: not built yet (comes with {where}).")
    sys.exit(2)
