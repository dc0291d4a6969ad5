"""A lab whose embedded cloud stub keeps its store on PostgreSQL (lab config `cloud.db`): a schema of the
lab's own, the same enrollment as on SQLite, the schema gone when the lab closes. `.ci/run` sets
PROVLAB_TEST_POSTGRES; without it this is skipped with that reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provlab.lab.config import LabConfig, config_from_mapping
from provlab.lab.lab import Lab

URL = os.environ.get("PROVLAB_TEST_POSTGRES", "")


def test_cloud_db_is_read_from_the_config_and_kept_out_of_reprs() -> None:
    config = config_from_mapping({"cloud": {"db": "postgresql://lab:s3cret@127.0.0.1/provlab"}}, "x")
    assert config.cloud_db == "postgresql://lab:s3cret@127.0.0.1/provlab" and "s3cret" not in repr(config)


@pytest.mark.skipif(not URL, reason="no PostgreSQL: PROVLAB_TEST_POSTGRES is unset (.ci/run sets it)")
def test_a_lab_on_postgresql_enrolls_a_board_in_a_schema_of_its_own_and_drops_it(tmp_path: Path) -> None:
    psycopg = pytest.importorskip("psycopg")
    with Lab(LabConfig(boards=1, cloud_db=URL), artifacts=tmp_path) as lab:
        where = lab.cloud_call(lambda cloud: cloud.store.path)
        schema = where.rpartition("schema=")[2]
        assert where.startswith(URL.split("://")[0]) and schema.startswith("provlab_lab_")
        enrollment = lab.phone().provision(lab.boards[0])
        device = lab.device_for(enrollment)
        assert device is not None and device.token == enrollment.token
        with psycopg.connect(URL) as other:  # the device row is in the lab's schema, committed
            count = other.execute(f'SELECT COUNT(*) FROM "{schema}".devices WHERE id = %s', (device.id,)).fetchone()
        assert count == (1,)
    assert not (tmp_path / "cloud.db").exists()
    assert "token_activated" in (tmp_path / "cloud.jsonl").read_text("utf-8")  # the journal outlives the schema
    with psycopg.connect(URL) as other:
        left = other.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)).fetchone()
    assert left is None
