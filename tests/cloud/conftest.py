"""The cloud tests' database: every test that takes `cloud_db` runs on SQLite and on PostgreSQL (skipped, with
the reason, when PROVLAB_TEST_POSTGRES is unset; `.ci/run` sets it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_backends import BACKENDS, NO_POSTGRES, POSTGRES_URL, CloudDb, fresh_database


@pytest.fixture(
    params=[
        pytest.param(kind, marks=pytest.mark.skipif(kind == "postgresql" and not POSTGRES_URL, reason=NO_POSTGRES))
        for kind in BACKENDS
    ]
)
def cloud_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CloudDb]:
    """An empty database for the cloud store: a SQLite file in the test's folder, or a fresh PostgreSQL schema."""
    with fresh_database(request.param, tmp_path) as db:
        yield db
