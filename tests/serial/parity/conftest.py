"""Parity fixtures: every test here runs twice, on a `direct` and on a `serial` board (issue 7 §5).

This is the fixture support the provlab plugin should offer: a `board` fixture parametrized over the board
kinds of the run, and capability markers turned into skips through `provlab.drivers.capabilities.skip_reason`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from parityworld import KINDS, ParityWorld

from provlab.drivers.capabilities import skip_reason
from provlab.drivers.driver import BoardDriver


@pytest.fixture(params=KINDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ParityWorld]:
    made = ParityWorld(request.param, tmp_path / "evidence")
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def board(world: ParityWorld, request: pytest.FixtureRequest) -> BoardDriver:
    reason = skip_reason(world.board.name, world.board, [m.name for m in request.node.iter_markers()])
    if reason:
        pytest.skip(reason)
    return world.board
