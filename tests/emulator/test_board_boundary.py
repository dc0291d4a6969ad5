"""The emulated board's inner boundaries hold: hardware apart from firmware, console and portal on narrow APIs.

* `hardware.py` imports nothing of the firmware (no state, no transition table, no defects, no console).
* `console.py` and `portal.py` never store into the firmware (no `fw.x = ...`, not through an alias, no
  `setattr`), import neither the board nor the firmware, and use exactly the members their `Protocol`
  names, no more and no fewer.
* The board's face shows the firmware's state read-only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from provlab.emulator.board import EmulatedBoard

EMULATOR = Path(__file__).resolve().parents[2] / "provlab" / "emulator"
# what a console or portal may hold the firmware as (`board` was the name before the split)
FIRMWARE_ATTRS = {"firmware", "board"}
# the one protocol each front-end is written against
FRONT_ENDS = {"console.py": "ConsoleFirmware", "portal.py": "PortalFirmware"}


def _is_self_firmware(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        and node.attr in FIRMWARE_ATTRS
    )


def _rooted_at_firmware(node: ast.expr, aliases: set[str]) -> bool:
    """Whether `node` is the firmware or something reached through it (attribute, item, call result)."""
    while True:
        if _is_self_firmware(node):
            return True
        if isinstance(node, ast.Name):
            return node.id in aliases
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Await):
            node = node.value
        else:
            return False


def _pairs(target: ast.expr, value: ast.expr | None) -> list[tuple[ast.expr, ast.expr | None]]:
    """`a, b = x, y` -> [(a, x), (b, y)]; an unpacking of anything else pairs each name with None."""
    if isinstance(target, (ast.Tuple, ast.List)):
        if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
            return [p for t, v in zip(target.elts, value.elts, strict=True) for p in _pairs(t, v)]
        return [p for t in target.elts for p in _pairs(t, value)]
    return [(target, value)]


def _assignments(func: ast.AST) -> list[tuple[ast.expr, ast.expr | None]]:
    found: list[tuple[ast.expr, ast.expr | None]] = []
    for node in ast.walk(func):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                found += _pairs(target, node.value)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            found.append((node.target, node.value))
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            found += _pairs(node.target, node.iter)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            found += _pairs(node.optional_vars, node.context_expr)
        elif isinstance(node, ast.NamedExpr):
            found.append((node.target, node.value))
    return found


def _aliases(func: ast.AST) -> tuple[set[str], set[str]]:
    """Local names bound to the firmware itself, and names bound to anything reached through it."""
    itself: set[str] = set()
    reached: set[str] = set()
    pairs = _assignments(func)
    changed = True
    while changed:
        changed = False
        for target, value in pairs:
            if not isinstance(target, ast.Name) or value is None:
                continue
            if (_is_self_firmware(value) or (isinstance(value, ast.Name) and value.id in itself)) and (
                target.id not in itself
            ):
                itself.add(target.id)
                changed = True
            if _rooted_at_firmware(value, itself | reached) and target.id not in reached:
                reached.add(target.id)
                changed = True
    return itself, reached


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _is_setattr(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("setattr", "delattr")
        and bool(node.args)
    )


def firmware_stores(source: str) -> list[str]:
    """Every place `source` writes into the firmware: `line: code`."""
    tree = ast.parse(source)
    found = []
    for func in _functions(tree):
        itself, reached = _aliases(func)
        tainted = itself | reached
        for node in ast.walk(func):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = [p[0] for t in node.targets for p in _pairs(t, None)]
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            elif isinstance(node, ast.Delete):
                targets = node.targets
            elif _is_setattr(node):
                assert isinstance(node, ast.Call)
                targets = [ast.Attribute(value=node.args[0], attr="?", ctx=ast.Store(), lineno=node.lineno)]
            for target in targets:
                if isinstance(target, (ast.Attribute, ast.Subscript)) and _rooted_at_firmware(target.value, tainted):
                    found.append(f"{target.lineno}: {ast.unparse(target)}")
    return found


def firmware_members_used(source: str) -> set[str]:
    """The names the module reads or calls on the firmware itself (`self.firmware.x`, `fw.x`)."""
    used: set[str] = set()
    for func in _functions(ast.parse(source)):
        itself, _ = _aliases(func)
        for node in ast.walk(func):
            if isinstance(node, ast.Attribute) and (
                _is_self_firmware(node.value) or (isinstance(node.value, ast.Name) and node.value.id in itself)
            ):
                used.add(node.attr)
    return used


def protocol_members(source: str, name: str) -> set[str]:
    cls = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ClassDef) and n.name == name)
    return {n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def provlab_imports(source: str) -> dict[str, set[str]]:
    """provlab module -> names imported from it (every import, TYPE_CHECKING ones included)."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("provlab"):
            found.setdefault(node.module, set()).update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("provlab"):
                    found.setdefault(alias.name, set())
    return found


@pytest.mark.parametrize("module", sorted(FRONT_ENDS))
def test_console_and_portal_never_write_into_the_firmware(module: str) -> None:
    assert firmware_stores((EMULATOR / module).read_text(encoding="utf-8")) == []


def test_the_store_check_sees_direct_aliased_and_setattr_writes() -> None:
    """The checker itself: the writes the console and portal made before the split are all caught."""
    source = """
class Portal:
    def __init__(self, board):
        self.board = board          # allowed: the front-end's own field
    def handle(self, config):
        board = self.board
        board.serving = False
        board.config = config
        board.config.flags |= 1
        board.net_retries = board.cloud_retries = 1
        self.board.state = None
        c = board.config
        c.last_error = 3
        setattr(board, "powered", False)
        local = make(board.profile)
        local.wifi_ssid = "fine: a fresh object built here"
"""
    assert [line.split(":")[0] for line in firmware_stores(source)] == ["7", "8", "9", "10", "10", "11", "13", "14"]


@pytest.mark.parametrize(("module", "protocol"), sorted(FRONT_ENDS.items()))
def test_each_front_end_uses_exactly_what_its_protocol_names(module: str, protocol: str) -> None:
    source = (EMULATOR / module).read_text(encoding="utf-8")
    assert firmware_members_used(source) == protocol_members(source, protocol)


@pytest.mark.parametrize("module", sorted(FRONT_ENDS))
def test_console_and_portal_know_the_firmware_only_by_their_protocol(module: str) -> None:
    imported = provlab_imports((EMULATOR / module).read_text(encoding="utf-8"))
    forbidden = {f"provlab.emulator.{name}" for name in ("board", "firmware", "hardware")}
    assert forbidden & set(imported) == set()


def test_the_hardware_imports_nothing_of_the_firmware() -> None:
    source = (EMULATOR / "hardware.py").read_text(encoding="utf-8")
    imported = provlab_imports(source)
    allowed = {
        "provlab.emulator.clock",
        "provlab.emulator.flash",
        "provlab.emulator.indicator",  # the LED and its pattern type; the state -> pattern map is the firmware's
        "provlab.emulator.rom_loader",  # the chip's mask ROM (serial downloader): silicon, not the app
        "provlab.emulator.serial_port",
        "provlab.protocol.ssid",
        "provlab.wifi.backend",
    }
    assert set(imported) - allowed == set()
    assert imported.get("provlab.emulator.indicator", set()) <= {"StatusLed", "LedPattern", "LED_OFF"}
    names = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Attribute)}
    assert {n for n in names if any(word in n for word in ("Edgent", "State", "Trigger", "config"))} == set()


@pytest.mark.parametrize(
    "name", ["state", "config", "history", "listeners", "boots", "net_retries", "cloud_retries", "profile", "ssid"]
)
def test_the_board_face_shows_firmware_state_read_only(name: str) -> None:
    face = getattr(EmulatedBoard, name)
    assert isinstance(face, property) and face.fset is None, f"EmulatedBoard.{name} must not be assignable"
