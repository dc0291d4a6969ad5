"""A lab on a cloud stub that runs in another process (`cloud.url` -> `provlab cloud serve`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from child_process import provlab_child

from provlab.lab.capabilities import NeedsEmbeddedCloud
from provlab.lab.config import LabConfig, LabConfigError, SeedOrg, SeedUser
from provlab.lab.lab import Lab


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """`provlab cloud serve` on free loopback ports; its --json summary."""
    folder = tmp_path_factory.mktemp("served")
    with provlab_child(
        "cloud", "serve", "--db", str(folder / "cloud.db"), "--json", "--binary-port", "0", "--tls-port", "0",
        "--http-port", "0", "--mqtt-port", "0", "--mqtts-port", "0", "--time-scale", "0.01",
    ) as summary:  # fmt: skip
        yield summary


def test_a_lab_provisions_through_a_running_stub(served: dict[str, object], tmp_path: Path) -> None:
    config = LabConfig(
        boards=1,
        cloud_url=str(served["http_url"]),
        seed_orgs=(SeedOrg("Remote Corp"),),
        seed_users=(SeedUser("owner@remote.test", "remote-owner-pw", org="Remote Corp"),),
    )
    with Lab(config, artifacts=tmp_path) as lab:
        assert lab.endpoints.tls_port == served["tls_port"]  # boards go to the running stub's ports
        enrollment = lab.phone("owner@remote.test", "remote-owner-pw").provision(lab.boards[0])
        lab.boards[0].expect_state("RUNNING", timeout=60)
        assert lab.boards[0].serial.expect(r"Certificate OK", timeout=5)  # trusts the running stub's CA
        device = lab.device_for(enrollment)
        assert device is not None and lab.is_online(device.id)
        assert device.org_id == lab.user("owner@remote.test").org_id
        kinds = [e["kind"] for e in lab.cloud_events()]
        assert kinds[0] == "org_created"  # the seeding: this run's journal starts when the lab does
        assert [k for k in kinds if k.startswith(("token_", "device_"))][:3] == [
            "token_issued",
            "token_activated",
            "device_online",
        ]
        with pytest.raises(NeedsEmbeddedCloud, match="needs the stub in this process"):
            lab.cloud_call(lambda cloud: cloud.drop_connections())
        with pytest.raises(NeedsEmbeddedCloud):
            _ = lab.cloud
    journal = [json.loads(line) for line in (tmp_path / "cloud.jsonl").read_text().splitlines()]
    assert journal and enrollment.token not in (tmp_path / "cloud.jsonl").read_text()


def test_a_second_lab_on_the_same_stub_sees_only_its_own_journal(served: dict[str, object], tmp_path: Path) -> None:
    with Lab(LabConfig(boards=0, cloud_url=str(served["http_url"])), artifacts=tmp_path) as lab:
        assert lab.cloud_events("device_online") == []
        robot = lab.rest().create_oauth_client()  # the stub's admin, from the config's default credentials
        assert robot.client_id
        station = lab.oauth_client()  # made for the admin session the lab holds: no login of its own
        form = {"grant_type": "client_credentials", "client_id": station.client_id,
                "client_secret": station.client_secret}  # fmt: skip
        bearer = httpx.post(f"{served['http_url']}/oauth2/token", data=form, timeout=10)
        assert bearer.status_code == 200 and bearer.json()["user"] == "admin@provlab.test"


def test_the_lab_api_is_for_the_root_admin_only(served: dict[str, object]) -> None:
    base = str(served["http_url"])
    with httpx.Client(base_url=base, timeout=10) as http:
        info = http.get("/api/v1/lab/info").json()
        assert info["binaryPort"] == served["binary_port"] and "BEGIN CERTIFICATE" in info["caPem"]
        anonymous = http.get("/api/v1/lab/events")
        assert anonymous.status_code == 401 and anonymous.json() == {"error": {"message": "Login required."}}
        admin = http.post("/api/v1/auth/login", json={"email": "admin@provlab.test", "password": "provlab-admin"})
        headers = {"Authorization": f"Bearer {admin.json()['accessToken']}"}
        seed = {
            "orgs": [{"name": "Side Corp"}],
            "users": [{"email": "side@corp.test", "password": "pw-side", "org": "Side Corp"}],
        }
        assert http.post("/api/v1/lab/seed", headers=headers, json=seed).status_code == 200
        side = http.post("/api/v1/auth/login", json={"email": "side@corp.test", "password": "pw-side"})
        side_headers = {"Authorization": f"Bearer {side.json()['accessToken']}"}
        refused = http.get("/api/v1/lab/events", headers=side_headers)  # an Admin, but of a sub-org
        assert refused.status_code == 403 and "root org's Admins" in refused.json()["error"]["message"]
        page = http.get("/api/v1/lab/events", headers=headers, params={"kind": "org_created"}).json()
        assert [e["name"] for e in page["events"]][-1] == "Side Corp" and page["last"] >= page["events"][-1]["id"]


def test_cloud_url_must_be_loopback() -> None:
    with pytest.raises(LabConfigError, match=r"cloud\.url: '10\.0\.0\.5' is not a loopback address"):
        LabConfig(cloud_url="http://10.0.0.5:8000")
    with pytest.raises(LabConfigError, match="expected http://HOST:PORT"):
        LabConfig(cloud_url="tcp://127.0.0.1:8080")


def test_scenarios_on_a_running_stub_skip_the_steps_that_need_it_in_process(
    served: dict[str, object], pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(
        test_remote="""
def test_enrolls(lab, board, phone):
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    assert lab.is_online(lab.device_for(enrollment).id)

def test_drops(lab, board):
    lab.cloud_call(lambda cloud: cloud.drop_connections())

def test_store(cloud):
    assert cloud.store is not None
"""
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs", "--cloud-url", str(served["http_url"]))
    result.assert_outcomes(passed=1, skipped=2)
    assert result.stdout.str().count("needs the stub in this process") == 2
