"""The layering rules of DESIGN.md hold: a layer imports only the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "provlab"

# layer -> provlab sub-packages it may import (besides itself)
ALLOWED = {
    "protocol": set(),
    "wifi": {"protocol"},
    "devices": {"protocol", "wifi"},
    "cloud": {"protocol"},
    "lab": {"protocol", "wifi", "devices", "cloud"},
    "fixtures": {"protocol", "wifi", "devices", "cloud", "lab"},
    "scenarios": {"fixtures"},  # scenarios see the lab only through the plugin
}


def _provlab_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "provlab" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_layers_below(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"layer {layer} has no modules"
    violations = []
    for path in files:
        for imported in _provlab_imports(path) - {layer}:
            if imported not in ALLOWED[layer] and not imported.startswith("__"):
                violations.append(f"{path.relative_to(PACKAGE)} imports provlab.{imported}")
    assert violations == []


def test_the_rule_checker_sees_imports() -> None:
    """Guard against a vacuous pass: the lab layer really imports the layers below it."""
    imports = set().union(*(_provlab_imports(p) for p in (PACKAGE / "lab").rglob("*.py")))
    assert {"cloud", "devices", "wifi", "protocol"} <= imports
