"""The station provisions as factory automation does: with OAuth2 client credentials, never with a password."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from child_process import provlab_child

from provlab.lab.config import LabConfig
from provlab.lab.lab import Lab
from provlab.lab.lab_board import LabBoard
from provlab.lab.lab_cloud import EmbeddedCloud
from provlab.lab.phone import OAuthClient
from provlab.station import automation
from provlab.station.automation import AutomationError
from provlab.station.operator_view import PlainView
from provlab.station.plan import DEFAULT_PLAN, load_plan, parse_plan
from provlab.station.record import UnitOutcome
from provlab.station.runner import Station


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _keep_station_credentials(monkeypatch: pytest.MonkeyPatch) -> tuple[list[OAuthClient], list[str]]:
    """The OAuth2 clients the station's runs make and the bearers its automation client gets, as they happen."""
    robots: list[OAuthClient] = []
    bearers: list[str] = []
    made, token = Lab.oauth_client, automation.AutomationClient._token

    def kept_client(lab: Lab) -> OAuthClient:
        robots.append(made(lab))
        return robots[-1]

    def kept_bearer(client: automation.AutomationClient) -> str:
        bearers.append(token(client))
        return bearers[-1]

    monkeypatch.setattr(Lab, "oauth_client", kept_client)
    monkeypatch.setattr(automation.AutomationClient, "_token", kept_bearer)
    return robots, bearers


def test_units_get_their_tokens_through_an_oauth2_bearer_and_no_one_logs_in_with_a_password(tmp_path: Path) -> None:
    """While the second unit is in its last phase, the cloud's bearer keys all belong to one OAuth2 client: a
    password login would have left a session of its own (the station ends none). Every provisioning token the
    cloud journaled was issued to a bearer of that client, and the phones never called the password login."""
    sessions: list[dict[str, int]] = []

    def at_factory_reset(slot: int, phase: str, board: LabBoard, lab: Lab) -> None:
        if phase == "factory_reset":
            held = lab.cloud_call(lambda cloud: cloud.store.sessions.by_client())
            sessions.append({str(client): count for client, count in held.items()})

    station = Station(load_plan(DEFAULT_PLAN), out=tmp_path, lab_config=LabConfig(boards=1), units=2,
                      view=PlainView(io.StringIO()), before_phase=at_factory_reset)  # fmt: skip
    result = station.run()
    assert [r.outcome for r in result.records] == [UnitOutcome.PASS] * 2
    assert len(sessions) == 2 and "None" not in sessions[-1], sessions  # no password session, ever
    (client,) = sessions[-1]  # one client: the station's phone and its automation client hold its bearers
    evidence = tmp_path / "runs" / station.run_id / "lab"
    journal = _jsonl(evidence / "cloud.jsonl")
    issued = [e for e in journal if e["kind"] == "token_issued"]
    assert len(issued) == 2 and {e["client_id"] for e in issued} == {client}
    assert {e["client_id"] for e in journal if e["kind"] == "oauth_token"} == {client}
    calls = [e for e in _jsonl(evidence / "phone.jsonl") if e["kind"] == "cloud_http"]
    assert not [c for c in calls if c["path"] == "/api/v1/auth/login"]
    (login,) = [c for c in calls if c["path"] == "/oauth2/token"]  # the phone logs in once, for both units
    assert login["request"]["grant_type"] == "client_credentials" and login["request"]["client_id"] == client
    assert [e["client_id"] for e in journal if e["kind"] == "oauth_client_revoked"] == [client]  # as the run ended


def test_a_refused_automation_client_closes_its_http_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The station's OAuth2 client is refused its token (here: a wrong secret): the station stops with the cloud's
    answer, and the HTTP client the automation client opened for the request is closed, not left to the GC."""
    opened: list[httpx.Client] = []

    def client(**kw: Any) -> httpx.Client:
        opened.append(httpx.Client(**kw))
        return opened[-1]

    made = Lab.oauth_client

    def wrong_secret(lab: Lab) -> OAuthClient:
        return OAuthClient(made(lab).client_id, "not-the-secret")

    monkeypatch.setattr(automation, "httpx", SimpleNamespace(Client=client))
    monkeypatch.setattr(Lab, "oauth_client", wrong_secret)
    station = Station(load_plan(DEFAULT_PLAN), out=tmp_path, lab_config=LabConfig(boards=1), units=1,
                      view=PlainView(io.StringIO()))  # fmt: skip
    with pytest.raises(AutomationError, match="expected a token, got 401"):
        station.run()
    assert len(opened) == 1 and opened[0].is_closed


def test_the_stations_oauth2_client_and_its_bearers_end_with_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a cloud that outlives the run (`provlab cloud serve`), the OAuth2 client the run made for the station is
    revoked as the run ends: its credentials get no new bearer, and the bearer the station worked with answers 401.
    Without it every run would leave one more working credential of the line's Admin behind."""
    robots, bearers = _keep_station_credentials(monkeypatch)
    with provlab_child(
        "cloud", "serve", "--db", str(tmp_path / "cloud.db"), "--json", "--binary-port", "0", "--tls-port", "0",
        "--http-port", "0", "--mqtt-port", "0", "--mqtts-port", "0", "--time-scale", "0.01",
    ) as served:  # fmt: skip
        url = str(served["http_url"])
        config = LabConfig(boards=1, cloud_url=url)
        plan = parse_plan("name: r\nversion: '1'\nretest: {max_attempts: 1}\nphases: [boot, provision]\n", "r.yaml")
        result = Station(plan, out=tmp_path / "line", lab_config=config, view=PlainView(io.StringIO())).run()
        assert [r.outcome for r in result.records] == [UnitOutcome.PASS], result.records[0].failure_detail
        (robot,), (bearer,) = robots, bearers
        with httpx.Client(base_url=url, timeout=10) as http:
            form = {"grant_type": "client_credentials", "client_id": robot.client_id,
                    "client_secret": robot.client_secret}  # fmt: skip
            refused = http.post("/oauth2/token", data=form)
            assert refused.status_code == 401 and refused.json()["error"] == "invalid_client", refused.text
            ended = http.get("/api/v1/organizations", headers={"Authorization": f"Bearer {bearer}"})
            assert ended.status_code == 401, ended.text


def test_a_client_the_cloud_would_not_revoke_is_told_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused revocation does not turn a good run into an error: the operator is told which client to revoke."""

    def refused(cloud: EmbeddedCloud, client_id: str) -> None:
        raise RuntimeError("503 from the console")

    monkeypatch.setattr(EmbeddedCloud, "revoke_oauth_client", refused)
    shown = io.StringIO()
    plan = parse_plan("name: r\nversion: '1'\nretest: {max_attempts: 1}\nphases: [boot]\n", "r.yaml")
    result = Station(plan, out=tmp_path, lab_config=LabConfig(boards=1), view=PlainView(shown)).run()
    assert result.ok
    assert "could not revoke the station's OAuth2 client provlab-" in shown.getvalue()
    assert "(RuntimeError: 503 from the console); revoke it in the cloud's console" in shown.getvalue()


def test_the_client_secret_and_the_stations_bearer_appear_in_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit that fails its last phase keeps the most evidence (its phone's exchanges, the /oauth2/token login
    among them, its steps, its board log, its record): not one file the station leaves under its output folder —
    records, CSV, the SQLite line database byte for byte, evidence, the lab's cloud.jsonl/phone.jsonl/steps.jsonl,
    JUnit — holds the station's OAuth2 client secret or the bearer its automation client worked with."""
    robots, bearers = _keep_station_credentials(monkeypatch)
    plan = parse_plan(
        "name: leak\nversion: '1'\nfirmware: {version: 0.1.0}\nretest: {max_attempts: 1}\n"
        "phases: [flash, boot, provision, cloud_login, data_round_trip,\n"
        "         factory_reset: {back_in_config_mode: {equals: false}}]\n",  # fails last: the most evidence
        "leak.yaml",
    )
    station = Station(plan, out=tmp_path, lab_config=LabConfig(boards=1), units=1, view=PlainView(io.StringIO()))
    result = station.run()
    (record,) = result.records
    assert record.outcome is UnitOutcome.FAIL and record.first_failure == "factory_reset.back_in_config_mode"
    (robot,), (bearer,) = robots, bearers
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    names = {path.relative_to(tmp_path).as_posix() for path in files}
    lab = f"runs/{station.run_id}/lab"
    evidence = f"evidence/{record.unit_uid}"
    expected = {
        f"records/{record.unit_uid}.json", "line.csv", "line.sqlite", f"runs/{station.run_id}/junit.xml",
        f"{evidence}/phone.jsonl", f"{evidence}/steps.jsonl", f"{evidence}/board.log", f"{evidence}/record.json",
        f"{lab}/cloud.jsonl", f"{lab}/phone.jsonl", f"{lab}/steps.jsonl",
    }  # fmt: skip
    assert expected <= names, sorted(names)
    exchanges = _jsonl(tmp_path / evidence / "phone.jsonl")
    assert [e for e in exchanges if e.get("path") == "/oauth2/token"]  # the login that carried the secret is there
    assert robot.client_id.encode() in (tmp_path / lab / "cloud.jsonl").read_bytes()  # the search finds what is there
    leaks = {
        name: [what for what, secret in (("client secret", robot.client_secret), ("bearer", bearer))
               if secret.encode() in (tmp_path / name).read_bytes()]
        for name in sorted(names)
    }  # fmt: skip
    assert {name: found for name, found in leaks.items() if found} == {}
