"""The layering rules hold: a layer imports only the layers below it (see README "Layout").

Relative imports are resolved before checking, and `cli.py` is a layer of its own, so neither can slip past.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "provlab"

# layer -> provlab sub-packages it may import (besides itself)
ALLOWED = {
    "protocol": set(),
    "clock": set(),
    "wifi": {"protocol", "clock"},
    # how the lab reaches any board; never the emulated firmware it may be talking to
    "drivers": {"protocol", "clock"},
    # the emulated firmware and its simulated hardware; it implements the drivers' capability protocols
    "emulator": {"protocol", "clock", "wifi", "drivers"},
    "cloud": {"protocol", "clock"},
    "lab": {"protocol", "clock", "wifi", "drivers", "emulator", "cloud"},
    "fixtures": {"protocol", "clock", "wifi", "drivers", "emulator", "cloud", "lab"},
    "scenarios": {"fixtures"},  # scenarios see the lab only through the plugin
    # the acceptance station: runs plans on the lab's boards, records units; above lab, below cli
    "station": {"protocol", "clock", "wifi", "drivers", "emulator", "cloud", "lab"},
    # the front door: it runs pytest with the plugin, `provlab steps` explains the plugin's YAML steps, and
    # `provlab accept` runs the station
    "cli": {"protocol", "clock", "wifi", "drivers", "emulator", "cloud", "lab", "fixtures", "station"},
}


def _layer_files(layer: str) -> list[Path]:
    single = PACKAGE / f"{layer}.py"
    return [single] if single.exists() else sorted((PACKAGE / layer).rglob("*.py"))


def _module_parts(path: Path, root: Path) -> list[str]:
    """`provlab/lab/lab.py` -> ['provlab', 'lab', 'lab']; a package's `__init__` names the package."""
    parts = ["provlab", *path.relative_to(root).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _provlab_imports(path: Path, root: Path = PACKAGE) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_parts(path, root)
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                names = [node.module]
            elif node.level > 0:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                module = [*base, *(node.module.split(".") if node.module else [])]
                names = [".".join(module)] if node.module else [".".join([*base, a.name]) for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "provlab" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_layers_below(layer: str) -> None:
    files = _layer_files(layer)
    assert files, f"layer {layer} has no modules"
    violations = []
    for path in files:
        for imported in _provlab_imports(path) - {layer}:
            if imported not in ALLOWED[layer] and not imported.startswith("__"):
                violations.append(f"{path.relative_to(PACKAGE)} imports provlab.{imported}")
    assert violations == []


def test_every_package_is_a_known_layer() -> None:
    """A new sub-package must be placed in the layering before it can be used."""
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(ALLOWED), f"unplaced packages: {sorted(packages - set(ALLOWED))}"


def test_the_rule_checker_sees_imports() -> None:
    """Guard against a vacuous pass: the lab layer really imports the layers below it."""
    imports = set().union(*(_provlab_imports(p) for p in (PACKAGE / "lab").rglob("*.py")))
    assert {"cloud", "emulator", "drivers", "wifi", "protocol"} <= imports
    assert {"lab", "cloud"} <= _provlab_imports(PACKAGE / "cli.py")


def test_the_rule_checker_resolves_relative_imports(tmp_path: Path) -> None:
    """`from ..lab import x` inside provlab/drivers would be a violation: the checker must see it."""
    root = tmp_path / "provlab"
    module = root / "drivers" / "probe.py"
    module.parent.mkdir(parents=True)
    source = "from ..lab import lab\nfrom . import line_stream\nfrom .sideband import base\n"
    module.write_text(source, encoding="utf-8")
    assert _provlab_imports(module, root) == {"lab", "drivers"}
