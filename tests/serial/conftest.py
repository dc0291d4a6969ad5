"""Fixtures of the serial-driver tests (helpers live in serialrig.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serialrig import EmulatedRig, RawPty


@pytest.fixture(autouse=True)
def _private_lock_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Port locks of these tests live in their own folder (still real files, still fcntl)."""
    monkeypatch.setenv("PROVLAB_LOCK_DIR", str(tmp_path_factory.mktemp("locks")))


@pytest.fixture
def raw_pty() -> Iterator[RawPty]:
    pty = RawPty()
    yield pty
    pty.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[EmulatedRig]:
    """An emulated board on a pty, not yet powered (open the SerialBoard first to see its boot)."""
    made = EmulatedRig(tmp_path)
    yield made
    made.close()
