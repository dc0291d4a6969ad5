"""Password logins are throttled per account and per source address; `cloud serve` takes the admin password
from an option or the environment and warns before exposing itself (issue 13, point 5)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cloud_helpers import WAIT_S, running_cloud
from lab_time_helpers import run_virtual
from store_backends import CloudDb

from provlab.cloud.credentials import CredentialLimits
from provlab.cloud.exposure import ADMIN_PASSWORD_ENV, exposure_warning, is_loopback
from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD

PASSWORD = "right-pw"
PORTS = {"binary": 8080, "tls": 9443, "http": 8000, "mqtt": 1883, "mqtts": None}


def client(base: str, source: str) -> httpx.AsyncClient:
    """An HTTP client whose connections come from `source` (a loopback address)."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(base_url=base, transport=transport, timeout=WAIT_S)


async def attempt(http: httpx.AsyncClient, email: str, password: str) -> int:
    return (await http.post("/api/v1/auth/login", json={"email": email, "password": password})).status_code


def test_failed_logins_throttle_the_account_then_the_window_refills(cloud_db: CloudDb) -> None:
    limits = CredentialLimits(failures_per_account=3, failures_per_source=1000, login_window_s=60)

    async def body() -> None:
        async with running_cloud(cloud_db, credential_limits=limits) as cloud:
            cloud.stub.seed_user("victim@x.test", PASSWORD)
            cloud.stub.seed_user("bystander@x.test", PASSWORD)
            async with client(cloud.endpoints.http_url, "127.0.0.1") as http:
                assert [await attempt(http, "victim@x.test", "guess") for _ in range(3)] == [401] * 3
                throttled = await http.post("/api/v1/auth/login", json={"email": "victim@x.test", "password": PASSWORD})
                assert throttled.status_code == 429, throttled.text
                assert "victim@x.test" in throttled.json()["error"]["message"]
                assert await attempt(http, "VICTIM@x.test", PASSWORD) == 429  # one account, any spelling
                assert await attempt(http, "bystander@x.test", PASSWORD) == 200
                await asyncio.sleep(21)  # a third of the window gives one attempt back
                assert await attempt(http, "victim@x.test", PASSWORD) == 200

    run_virtual(body())


def test_failed_logins_throttle_the_source_address(cloud_db: CloudDb) -> None:
    limits = CredentialLimits(failures_per_account=1000, failures_per_source=3, login_window_s=60)

    async def body() -> None:
        async with running_cloud(cloud_db, credential_limits=limits) as cloud:
            cloud.stub.seed_user("someone@x.test", PASSWORD)
            url = cloud.endpoints.http_url
            async with client(url, "127.0.0.1") as attacker, client(url, "127.0.0.2") as other:
                statuses = [await attempt(attacker, f"u{n}@x.test", "guess") for n in range(3)]
                assert statuses == [401] * 3
                answer = await attacker.post(
                    "/api/v1/auth/login", json={"email": "someone@x.test", "password": PASSWORD}
                )
                assert answer.status_code == 429 and "127.0.0.1" in answer.json()["error"]["message"]
                assert await attempt(other, "someone@x.test", PASSWORD) == 200

    run_virtual(body())


def test_wrong_client_secrets_are_throttled_too(cloud_db: CloudDb) -> None:
    limits = CredentialLimits(failures_per_account=2, failures_per_source=1000)

    async def body() -> None:
        async with (
            running_cloud(cloud_db, credential_limits=limits) as cloud,
            client(cloud.endpoints.http_url, "127.0.0.1") as http,
        ):
            login = await http.post(
                "/api/v1/auth/login", json={"email": DEFAULT_ADMIN_EMAIL, "password": DEFAULT_ADMIN_PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
            creds = (await http.post("/api/v1/oauth/clients", headers=headers)).json()
            form = {"grant_type": "client_credentials", "client_id": creds["clientId"]}
            for _ in range(2):
                assert (await http.post("/oauth2/token", data={**form, "client_secret": "x"})).status_code == 401
            right = await http.post("/oauth2/token", data={**form, "client_secret": creds["clientSecret"]})
            assert right.status_code == 429

    run_virtual(body())


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "::1", "[::1]"])
def test_loopback_binds_need_no_warning(host: str) -> None:
    assert is_loopback(host)
    assert exposure_warning(host, True, PORTS) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "lab-box.example"])
def test_a_non_loopback_bind_names_what_becomes_reachable(host: str) -> None:
    warning = exposure_warning(host, True, PORTS)
    assert warning is not None and warning.startswith("WARNING")
    for reachable in ("REST API", "lab API", "device token", "http 8000", "mqtt 1883"):
        assert reachable in warning
    assert ADMIN_PASSWORD_ENV in warning  # the default password is called out
    custom = exposure_warning(host, False, PORTS)
    assert custom is not None and ADMIN_PASSWORD_ENV not in custom


def test_serve_takes_the_admin_password_from_the_environment_and_removes_its_temp_folder_on_sigterm(
    tmp_path: Path,
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), ADMIN_PASSWORD_ENV: "from-the-env-1"}
    ports = ["--binary-port", "0", "--http-port", "0", "--tls-port", "-1", "--mqtt-port", "-1", "--mqtts-port", "-1"]
    serve = subprocess.Popen(
        [sys.executable, "-m", "provlab", "cloud", "serve", *ports, "--session-ttl", "120", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert serve.stdout is not None
        endpoints = json.loads(serve.stdout.readline())
        database = Path(endpoints["database"])
        assert database.parent.parent == temp and database.exists()
        assert database.stat().st_mode & 0o777 == 0o600
        with httpx.Client(base_url=endpoints["http_url"], timeout=WAIT_S) as http:
            wrong = http.post(
                "/api/v1/auth/login", json={"email": DEFAULT_ADMIN_EMAIL, "password": DEFAULT_ADMIN_PASSWORD}
            )
            assert wrong.status_code == 401
            right = http.post("/api/v1/auth/login", json={"email": DEFAULT_ADMIN_EMAIL, "password": "from-the-env-1"})
            assert right.status_code == 200
            assert right.json()["expiresIn"] == 120  # --session-ttl
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=WAIT_S)
    assert serve.returncode == 0, err
    assert "WARNING" not in err  # loopback
    assert list(temp.iterdir()) == [], "the temporary database folder is gone"
    assert "removed the temporary database folder" in err


def test_serve_keeps_a_named_database_private_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "kept.db"
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provlab",
            "cloud",
            "serve",
            "--db",
            str(db),
            "--binary-port",
            "0",
            "--http-port",
            "0",
            "--tls-port",
            "-1",
            "--mqtt-port",
            "-1",
            "--mqtts-port",
            "-1",
            "--admin-password",
            "opt-pw-123",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        endpoints = json.loads(serve.stdout.readline())
        with httpx.Client(base_url=endpoints["http_url"], timeout=WAIT_S) as http:
            right = http.post("/api/v1/auth/login", json={"email": DEFAULT_ADMIN_EMAIL, "password": "opt-pw-123"})
            assert right.status_code == 200
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=WAIT_S)
    assert serve.returncode == 0, err
    assert db.exists() and db.stat().st_mode & 0o777 == 0o600
    assert f"database kept at {db}" in err
