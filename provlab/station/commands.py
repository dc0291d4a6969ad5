"""`provlab accept` and `provlab line report`: the station's commands (registered by `provlab/cli.py`)."""

from __future__ import annotations

import getpass
import socket
import sys
from dataclasses import replace
from pathlib import Path

import click

from provlab.lab.board_specs import BoardSpecError, parse_boards
from provlab.lab.config import LabConfig
from provlab.station.line_db import LineDatabaseError, open_line_database
from provlab.station.line_report import report_for, write_html
from provlab.station.operator_view import PlainView, view_for
from provlab.station.plan import DEFAULT_PLAN, DutIdSource, PlanError, load_plan
from provlab.station.runner import MAX_SLOTS, Station, StationError

PLAN_ERROR = 2


@click.command("accept")
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False), help="acceptance plan (default: the shipped one)")
@click.option("--boards", default="emu:1", show_default=True, help=f"the slots: emu:N and/or ports (1-{MAX_SLOTS})")
@click.option("--units", type=int, help="emulated slots: units to test in all (default: one per slot)")
@click.option("--out", default="provlab-line", show_default=True, type=click.Path(file_okay=False), help="outputs")
@click.option("--db", "db_url", help="line database: a SQLite file (default OUT/line.sqlite) or postgresql://…")
@click.option("--station", "station_id", default=socket.gethostname(), show_default=True, help="station id")
@click.option("--operator", default=getpass.getuser(), show_default=True, help="operator name on the records")
@click.option("--scan", is_flag=True, help="read a serial number per unit on stdin (as the plan's dut_id: scanner)")
@click.option("--plain", is_flag=True, help="plain lines instead of the live tiles")
def accept(
    plan_path: str | None,
    boards: str,
    units: int | None,
    out: str,
    db_url: str | None,
    station_id: str,
    operator: str,
    scan: bool,
    plain: bool,
) -> None:
    """Run the acceptance plan on every slot in parallel; one record per unit (JSON, CSV, JUnit, database).

    Exit 0 when every unit passed (its last test), 1 when one did not, 2 when the plan cannot run.
    """
    try:
        plan = load_plan(plan_path or DEFAULT_PLAN)
    except PlanError as exc:
        click.echo(f"plan refused, no unit tested: {exc}", err=True)
        sys.exit(PLAN_ERROR)
    try:
        emulated, attached = parse_boards(boards)
    except BoardSpecError as exc:
        raise click.BadParameter(str(exc), param_hint="--boards") from None
    if scan:
        plan = replace(plan, dut_id=DutIdSource.SCANNER)
    view = PlainView() if plain else view_for()
    try:
        station = Station(
            plan,
            out=Path(out),
            lab_config=LabConfig(boards=emulated, attached=attached),
            station_id=station_id,
            operator=operator,
            db_url=db_url,
            units=units,
            scanner=sys.stdin if plan.dut_id is DutIdSource.SCANNER else None,
            view=view,
        )
        result = station.run()
    except (StationError, LineDatabaseError) as exc:
        click.echo(str(exc), err=True)
        sys.exit(PLAN_ERROR)
    sys.exit(0 if result.ok else 1)


@click.group("line")
def line() -> None:
    """The line's records: yield, failures, cycle times."""


@line.command("report")
@click.option("--db", "db_url", default="provlab-line/line.sqlite", show_default=True, help="SQLite file or URL")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="write the charts here (HTML)")
def line_report(db_url: str, html_path: str | None) -> None:
    """First-pass and final yield, the failure Pareto and cycle-time percentiles from the line database."""
    if not db_url.startswith(("postgresql://", "postgres://")) and not Path(db_url.removeprefix("sqlite:")).exists():
        raise click.BadParameter(f"no line database at {db_url}", param_hint="--db")
    try:
        db = open_line_database(db_url)
    except LineDatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        report = report_for(db)
    finally:
        db.close()
    for text in report.lines():
        click.echo(text)
    if html_path:
        click.echo(f"charts: {write_html(report, Path(html_path))}")


__all__ = ["accept", "line"]
