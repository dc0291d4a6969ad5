"""Seed orgs and users from the lab config: present before the first test step, usable by phone and REST."""

from __future__ import annotations

from pathlib import Path

import pytest

from provlab.lab.config import LabConfig, SeedOrg, SeedUser
from provlab.lab.lab import Lab


def test_a_seeded_client_provisions_into_its_seeded_org(tmp_path: Path) -> None:
    config = LabConfig(
        boards=1,
        seed_orgs=(SeedOrg("Acme Corp"), SeedOrg("Acme East", parent="Acme Corp")),
        seed_users=(
            SeedUser("owner@acme.test", "acme-owner-pw", org="Acme East"),
            SeedUser("viewer@provlab.test", "viewer-pw", role="User"),
        ),
    )
    with Lab(config, artifacts=tmp_path) as lab:
        east = lab.cloud_call(lambda cloud: cloud.tree.org_by_name("Acme East"))
        acme = lab.cloud_call(lambda cloud: cloud.tree.org_by_name("Acme Corp"))
        assert east is not None and acme is not None and east.parent_id == acme.id
        assert lab.user("viewer@provlab.test").role == "User"
        assert lab.user("viewer@provlab.test").org_id == lab.user("admin@provlab.test").org_id
        enrollment = lab.phone("owner@acme.test", "acme-owner-pw").provision(lab.boards[0])  # template enabled
        device = lab.device_for(enrollment)
        assert device is not None and device.org_id == east.id
        assert device.id in lab.rest("owner@acme.test", "acme-owner-pw").device_ids()
        assert device.id not in lab.rest("viewer@provlab.test", "viewer-pw").device_ids()
    assert "acme-owner-pw" not in "".join(p.read_text("utf-8", "replace") for p in tmp_path.glob("*.jsonl"))


def test_a_seed_the_cloud_refuses_stops_the_lab_with_the_reason(tmp_path: Path) -> None:
    deep = tuple(SeedOrg(f"L{i}", parent=f"L{i - 1}" if i > 1 else None) for i in range(1, 5))
    with pytest.raises(Exception, match="limited to 4 levels"):
        Lab(LabConfig(boards=0, seed_orgs=deep), artifacts=tmp_path)
