"""The `provlab` command: the QA engineer's front door (click + rich)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import signal
import sys
import tempfile
from pathlib import Path

import click
import pytest
from rich.console import Console

import provlab
from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, DEFAULT_TEMPLATE_ID, CloudStub
from provlab.lab.summary import RunSummary, step_table

console = Console()
SCENARIOS_DIR = Path(__file__).parent / "scenarios"


@click.group()
@click.version_option(provlab.__version__, prog_name="provlab")
def main() -> None:
    """provlab: a lab for testing Wi-Fi device provisioning on real and emulated boards."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("paths", nargs=-1, type=click.UNPROCESSED)
@click.option("--boards", default="emu:1", show_default=True, help="emu:N, or serial ports PORT,… (later)")
@click.option("--wifi", default="sim", show_default=True, help="sim | netns | wpa:IFACE | nm:IFACE")
@click.option("--time-scale", type=float, default=0.01, show_default=True, help="device time factor")
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
    time_scale: float,
    report_dir: str | None,
    artifacts: str | None,
) -> None:
    """Run scenario suites (the built-in ones when no PATH is given). Extra args go to pytest."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    evidence = Path(artifacts) if artifacts else Path("provlab-artifacts") / stamp
    targets = [p for p in paths if not p.startswith("-")]
    passthrough = [p for p in paths if p.startswith("-") or p not in targets]
    args = [*(targets or [str(SCENARIOS_DIR)]), *passthrough]
    args += [
        "--boards",
        boards,
        "--wifi",
        wifi,
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
    code = pytest.main(args, plugins=[summary])
    console.print(summary.table())
    if report_dir:
        page = summary.write_html(Path(report_dir) / "report.html")
        console.print(f"report: {page} and {Path(report_dir) / 'junit.xml'}")
    counts = summary.counts()
    line = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no scenarios ran"
    console.print(f"[bold]{line}[/] — evidence in {evidence}")
    sys.exit(int(code))


@main.command()
@click.option("--count", default=1, show_default=True)
@click.option("--profile", default="edgent-esp32", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def emulate(count: int, profile: str, as_json: bool) -> None:
    """Start emulated boards and keep them running (not built yet)."""
    _not_built("emulate", "the emulated-board issue")


@main.group()
def cloud() -> None:
    """The cloud stub."""


@cloud.command("serve")
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite file (default: a temp file)")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--binary-port", default=8080, show_default=True, help="Blynk binary protocol (plain TCP)")
@click.option("--http-port", default=8000, show_default=True, help="REST API and device HTTP API")
def cloud_serve(db: str | None, host: str, binary_port: int, http_port: int) -> None:
    """Run the cloud stub standalone until Ctrl-C."""
    db_path = Path(db) if db else Path(tempfile.mkdtemp(prefix="provlab-cloud-")) / "cloud.db"
    asyncio.run(_serve(db_path, host, binary_port, http_port))


async def _serve(db_path: Path, host: str, binary_port: int, http_port: int) -> None:
    stub = CloudStub(db_path, host=host)
    admin = stub.seed()
    endpoints = await stub.start(binary_port, http_port)
    console.print(f"[bold]provlab cloud stub[/] — database {db_path}")
    console.print(f"  binary protocol  tcp://{endpoints.host}:{endpoints.binary_port}")
    console.print(f"  HTTP API         {endpoints.http_url}")
    console.print(f"  admin            {admin.email} / {DEFAULT_ADMIN_PASSWORD}")
    console.print(f"  template         {DEFAULT_TEMPLATE_ID}")
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
def cloud_token(db: str, user: str, template_id: str) -> None:
    """Issue a dynamic token as USER (what the phone does)."""
    from provlab.cloud.store import Store, StoreError

    store = Store(db)
    try:
        account = store.user_by_email(user)
        if account is None:
            raise click.ClickException(f"no user {user!r} in {db}")
        try:
            issued = store.issue_token(account, template_id)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(issued.token)
    finally:
        store.close()


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
def boards() -> None:
    """List serial ports that look like boards (not built yet)."""
    _not_built("boards", "the serial-board issue")


@main.command()
def doctor() -> None:
    """Check the host: serial permissions, Wi-Fi tools, namespace rights, leftovers (not built yet)."""
    _not_built("doctor", "the Wi-Fi backends issue")


def _not_built(command: str, where: str) -> None:
    console.print(f"[yellow]provlab {command}[/]: not built yet (comes with {where}).")
    sys.exit(2)
