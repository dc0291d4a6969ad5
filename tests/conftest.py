"""Shared test setup: every test of provlab runs with the traffic guard on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provlab.wifi.guard import TrafficGuard

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _traffic_guard() -> Iterator[None]:
    with TrafficGuard.enforce():
        yield
