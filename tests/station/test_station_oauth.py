"""The station provisions as factory automation does: with OAuth2 client credentials, never with a password."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from provlab.lab.config import LabConfig
from provlab.lab.lab import Lab
from provlab.lab.lab_board import LabBoard
from provlab.lab.phone import OAuthClient
from provlab.station import automation
from provlab.station.automation import AutomationError
from provlab.station.operator_view import PlainView
from provlab.station.plan import DEFAULT_PLAN, load_plan
from provlab.station.record import UnitOutcome
from provlab.station.runner import Station


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


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
