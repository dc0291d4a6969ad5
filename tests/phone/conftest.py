"""Phone tests run on every air this host allows: `sim` always, `netns` where namespaces may be made."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from phone_world import AIRS, skip_without_netns


@pytest.fixture(params=AIRS)
def air_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    skip_without_netns(str(request.param))
    yield str(request.param)
