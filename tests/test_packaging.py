"""A normal install is complete: the wheel holds every file of the package, not only its modules.

The wheel is built from a copy of the sources (the package, pyproject.toml, README.md), so the build's
`build/` and `*.egg-info` folders never land in the worktree; pip builds it as `pip install .` would (in an
isolated build environment from the registry, cached after the first run). `.ci/run` goes further: it installs the
wheel in a fresh venv and compares the scenarios `provlab run --collect-only` finds there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "provlab"


def _package_files(root: Path) -> set[str]:
    return {
        path.relative_to(root.parent).as_posix()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_wheel_ships_every_file_of_the_package(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    shutil.copytree(PACKAGE, source / "provlab", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"),
            *("--wheel-dir", str(tmp_path / "dist"), str(source)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "dist").glob("provlab-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = _package_files(PACKAGE)
    assert any(name.endswith(".yaml") for name in expected), "the package has YAML scenarios to check"
    assert sorted(expected - shipped) == []
    assert [name for name in shipped if "__pycache__" in name or name.endswith(".pyc")] == []
