"""Sidebands from configuration: the `sideband:` entries of a board inventory turned into objects.

Kinds: `dtr-rts` (keys `auto_reset`, `reset_line`, `button`, `gpio`, `reset_pulse_s`), `command` (keys
`power_on`, `power_off`, `reset`, `button_press`, `button_release`, `led`, `timeout`), `operator` (key `can`: a list
of `reset`, `power`, `button`), `none`. Several entries make a `CombinedSideband`, first entries first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provlab.drivers.capabilities import WIRED, Capability
from provlab.drivers.sideband.base import CombinedSideband, NoSideband, Sideband
from provlab.drivers.sideband.command import ACTIONS, CommandSideband
from provlab.drivers.sideband.esp_lines import DtrRtsSideband, EspWiring, ModemLines, SysfsGpio
from provlab.drivers.sideband.operator import OperatorSideband

KINDS = ("dtr-rts", "command", "operator", "none")


class SidebandConfigError(ValueError):
    """A sideband entry cannot be built; the message says which and why."""


def uses_modem_lines(specs: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the port must be opened with DTR/RTS released (boot-mode avoidance)."""
    return any(spec.get("kind") == "dtr-rts" for spec in specs)


def build_sideband(
    specs: Sequence[Mapping[str, Any]],
    *,
    lines: ModemLines | None = None,
    name: str = "board",
    port: str = "",
    time_scale: float = 1.0,
) -> Sideband:
    parts = [_part(spec, lines=lines, name=name, port=port, time_scale=time_scale) for spec in specs]
    parts = [part for part in parts if not isinstance(part, NoSideband)]
    if not parts:
        return NoSideband(time_scale=time_scale)
    return parts[0] if len(parts) == 1 else CombinedSideband(parts, time_scale=time_scale)


def _part(spec: Mapping[str, Any], *, lines: ModemLines | None, name: str, port: str, time_scale: float) -> Sideband:
    kind = spec.get("kind")
    where = f"{name}: sideband kind {kind!r}"
    try:
        if kind == "dtr-rts":
            if lines is None:
                raise SidebandConfigError(f"{where} needs the board's serial port for its modem lines")
            wiring = EspWiring(
                auto_reset=bool(spec.get("auto_reset", True)),
                reset_line=spec.get("reset_line"),
                button=spec.get("button"),
                reset_pulse_s=float(spec.get("reset_pulse_s", 0.1)),
            )
            gpio = SysfsGpio(int(spec["gpio"])) if wiring.button == "gpio" else None
            return DtrRtsSideband(lines, wiring, gpio=gpio, time_scale=time_scale)
        if kind == "command":
            commands = {action: spec[action] for action in ACTIONS if action in spec}
            timeout = float(spec.get("timeout", 30.0))
            return CommandSideband(commands, name=name, port=port, timeout=timeout, time_scale=time_scale)
        if kind == "operator":
            can = [Capability(value) for value in spec.get("can", sorted(c.value for c in WIRED))]
            return OperatorSideband(can, name=name, time_scale=time_scale)
        if kind == "none":
            return NoSideband(time_scale=time_scale)
    except (KeyError, ValueError) as exc:
        if isinstance(exc, SidebandConfigError):
            raise
        raise SidebandConfigError(f"{where}: {exc}") from exc
    raise SidebandConfigError(f"{name}: unknown sideband kind {kind!r}; known: {', '.join(KINDS)}")
