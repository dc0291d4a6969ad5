"""What `provlab boards` shows per board: port, kind, MAC, firmware version, state, capabilities, holder.

`collect_boards` does the work (enumerate, match the inventory, look at the port's lock, probe); `boards_table`
renders a rich table and `boards_json` the same facts, one object per row. Inventory boards with a fixed port
(a remote `rfc2217://` URL, a pty) are listed too, and inventory boards that are not attached get a row saying
so, so a station check shows what is missing. MAC, firmware and state come from probing (`devinfo`,
`wifi show`, the banner and state lines printed meanwhile); capabilities from the inventory entry's sideband
plus the console and serial log every serial board has; the holder from the port's lock file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from provlab.drivers.capabilities import Capability
from provlab.drivers.discovery import ProbeResult, SerialPortInfo, find_ports, probe
from provlab.drivers.inventory import Inventory, InventoryBoard
from provlab.drivers.port_lock import holder_of, lockable
from provlab.drivers.serial_board import is_pty
from provlab.drivers.sideband.config import build_sideband

SERIAL_CAPABILITIES = (Capability.CONSOLE, Capability.SERIAL_LOG)
"""What any board on a serial port offers, wiring or not."""


class _Unwired:
    """Modem lines of a port the report does not open: a DTR/RTS sideband is built only to say what it can do."""

    def set_dtr(self, active: bool) -> None:
        pass

    def set_rts(self, active: bool) -> None:
        pass


@dataclass(frozen=True)
class BoardRow:
    """One line of the report."""

    port: SerialPortInfo | None
    """None: an inventory board that is not attached."""
    inventory: InventoryBoard | None = None
    probe: ProbeResult | None = None
    holder: str | None = None
    """Who holds the port's lock (pid, host, run), None: free."""

    @property
    def kind(self) -> str:
        """USB bridge (which one), pty, rfc2217, socket, another serial port, or an inventory entry not attached."""
        if self.port is None:
            return "inventory entry (not attached)"
        scheme = self.port.device.split("://", 1)[0].lower() if "://" in self.port.device else None
        if scheme is not None:
            return scheme
        if self.port.bridge is not None:
            return f"USB bridge ({self.port.bridge})"
        if is_pty(self.port.device):
            return "pty"
        return "serial port"

    @property
    def capabilities(self) -> list[Capability]:
        """Console and serial log when attached, plus what the inventory entry's sideband wiring gives."""
        found: set[Capability] = set(SERIAL_CAPABILITIES) if self.port is not None else set()
        if self.inventory is not None and self.inventory.sideband:
            sideband = build_sideband(
                self.inventory.sideband, lines=_Unwired(), name=self.inventory.name, port=self.inventory.port or ""
            )
            found |= sideband.capabilities
            sideband.close()
        return [capability for capability in Capability if capability in found]

    def as_dict(self) -> dict[str, Any]:
        """The row's facts for `--json` (the same as the table's columns)."""
        probed = self.probe
        return {
            "port": self.port.device if self.port is not None else None,
            "kind": self.kind,
            "name": self.inventory.name if self.inventory is not None else None,
            "vid_pid": self.port.vid_pid if self.port is not None else "",
            "mac": probed.mac if probed else None,
            "firmware": probed.firmware if probed else None,
            "state": probed.state if probed else None,
            "devinfo_name": probed.devinfo.name if probed and probed.devinfo else None,
            "template": probed.devinfo.tmpl_id if probed and probed.devinfo else None,
            "probe_error": probed.error if probed else None,
            "capabilities": [capability.value for capability in self.capabilities],
            "holder": self.holder,
        }


def collect_boards(
    *,
    include_all: bool = False,
    probe_ports: bool = False,
    inventory: Inventory | None = None,
    timeout: float = 3.0,
    source: Callable[[], Iterable[Any]] | None = None,
) -> list[BoardRow]:
    ports = find_ports(include_all=include_all, source=source)
    if inventory is not None:  # an inventoried port counts even when its bridge is not a known one
        every = find_ports(include_all=True, source=source)
        known = {port.device for port in ports}
        ports += [p for p in every if p.device not in known and inventory.board_for(p) is not None]
        ports += [
            SerialPortInfo(device=b.port, description="fixed port (inventory)") for b in inventory.boards if b.port
        ]
    rows = []
    for port in ports:
        named = inventory.board_for(port) if inventory is not None else None
        holder = holder_of(port.device) if lockable(port.device) else None  # before the probe takes the lock
        result = (
            probe(port.device, timeout=timeout, baudrate=named.baudrate if named else 115200)
            if probe_ports and holder is None
            else None
        )
        rows.append(BoardRow(port, named, result, holder))
    if inventory is not None:
        present = {row.inventory.name for row in rows if row.inventory is not None}
        rows += [BoardRow(None, board) for board in inventory.boards if board.name not in present]
    return rows


def _inventory_cell(board: InventoryBoard | None) -> str:
    if board is None:
        return ""
    tags = " ".join(f"{key}={value}" for key, value in sorted(board.tags.items()))
    return f"[bold]{board.name}[/]" + (f"\n[dim]{tags}[/]" if tags else "")


def _probe_cells(result: ProbeResult | None) -> list[str]:
    """MAC, firmware, state, devinfo name, template."""
    if result is None:
        return ["", "", "", "", ""]
    if result.devinfo is not None:
        info = result.devinfo
        return [result.mac or "?", result.firmware or "", result.state or "?", f"[green]{info.name}[/]", info.tmpl_id]
    return ["", "", f"[red]no answer[/]: {result.error}", "", ""]


def _holder_cell(row: BoardRow) -> str:
    if row.port is None:
        return ""
    return f"[yellow]{row.holder}[/]" if row.holder else "[green]free[/]"


def boards_table(rows: list[BoardRow], *, probed: bool = False) -> Table:
    table = Table(title="Serial ports that look like boards", show_lines=probed)
    for column in ("Port", "Kind", "VID:PID", "Serial", "USB location", "Inventory"):
        table.add_column(column, overflow="fold")
    if probed:
        for column in ("MAC", "Firmware", "State", "devinfo name", "Template"):
            table.add_column(column, overflow="fold")
    for column in ("Capabilities", "Holder"):
        table.add_column(column, overflow="fold")
    for row in rows:
        if row.port is None:
            board = row.inventory
            assert board is not None
            cells = ["[red]not attached[/]", row.kind, "", board.serial_number or "", board.location or ""]
            cells.append(_inventory_cell(board))
        else:
            port = row.port
            cells = [
                port.device,
                row.kind,
                port.vid_pid,
                port.serial_number or "",
                port.location or "",
                _inventory_cell(row.inventory),
            ]
        if probed:
            cells += _probe_cells(row.probe) if row.holder is None else ["", "", "[yellow]in use[/]", "", ""]
        cells += [", ".join(capability.value for capability in row.capabilities), _holder_cell(row)]
        table.add_row(*cells)
    if not rows:
        table.caption = "no ESP USB bridge found (use --all to list every serial port)"
    return table


def boards_json(rows: list[BoardRow]) -> list[str]:
    """One JSON object per row, the table's facts."""
    return [json.dumps(row.as_dict()) for row in rows]
