"""Fixtures of the Wi-Fi tests: the contract worlds (see `wifi_worlds`) and a fake nmcli on PATH."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from wifi_worlds import HERE, AirWorld, ContractWorld, NmWorld, WpaWorld

from provlab.wifi.netns.namespace import unavailable_reason

BACKENDS = ["sim", "netns", "wpa", "nm"]


@pytest.fixture
def fake_nmcli_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nmcli").symlink_to(HERE / "fake_nmcli.py")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PROVLAB_FAKE_NMCLI_STATE", str(tmp_path / "nmcli.json"))
    return bin_dir


WorldBody = Callable[[ContractWorld], Awaitable[None]]


@pytest.fixture(params=BACKENDS)
def in_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[WorldBody], None]]:
    """`in_world(body)`: build the backend's world, run `await body(world)`, tear it down whatever happens."""
    kind = str(request.param)
    if kind == "netns" and (reason := unavailable_reason()) is not None:
        pytest.skip(f"netns backend unavailable here: {reason}")
    if kind == "nm":
        request.getfixturevalue("fake_nmcli_on_path")

    def run(body: WorldBody) -> None:
        async def main() -> None:
            world: Any
            if kind in ("sim", "netns"):
                world = AirWorld(kind)
            elif kind == "wpa":
                world = WpaWorld(tmp_path)
            else:
                world = NmWorld(tmp_path)
            try:
                await world.start()
                await body(world)
            finally:
                await world.close()

        asyncio.run(main())

    yield run
