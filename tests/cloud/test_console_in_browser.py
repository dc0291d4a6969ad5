"""The stub's read-only web console as a QA engineer sees it in headless Chromium, while a device comes
online and goes again: `provlab cloud serve` in a child process, a device logging in over the binary port."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import open_browser, screenshot, script_errors
from child_process import provlab_child

from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, DEFAULT_TEMPLATE_ID
from provlab.lab.raw_client import RawDeviceClient

WAIT_S = 20.0
"""How long the page may take to show what the stub knows (it polls every second)."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from open_browser()


@pytest.fixture
def stub(browser: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`provlab cloud serve` for one test; the browser leaves its page before the stub stops."""
    ports = ["--binary-port", "0", "--http-port", "0", "--tls-port", "-1", "--mqtt-port", "-1", "--mqtts-port", "-1"]
    with provlab_child("cloud", "serve", "--db", str(tmp_path / "cloud.db"), *ports, "--json") as info:
        try:
            yield info
        finally:
            browser.get("about:blank")  # each stub is its own origin: no key carries over to the next
            script_errors(browser)  # drained: the next test sees only its own


def _wait_text(browser: Any, css: str, text: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    shown = expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, css), text)
    WebDriverWait(browser, WAIT_S).until(shown)
    return browser.find_element(By.CSS_SELECTOR, css)


def _issue_token(http_url: str) -> str:
    """A sub-org with a user of its own (the lab API's seed), then a token issued as the admin."""
    with httpx.Client(base_url=http_url, timeout=10) as client:
        admin = {"email": DEFAULT_ADMIN_EMAIL, "password": DEFAULT_ADMIN_PASSWORD}
        login = client.post("/api/v1/auth/login", json=admin)
        bearer = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        qa = {"email": "qa@acme.test", "password": "pw-acme-1", "org": "Acme"}
        seed = {"orgs": [{"name": "Acme"}], "users": [qa]}
        assert client.post("/api/v1/lab/seed", json=seed, headers=bearer).status_code == 200
        issued = client.post("/api/v1/provisioning/tokens", json={"templateId": DEFAULT_TEMPLATE_ID}, headers=bearer)
        assert issued.status_code == 200, issued.text
        return str(issued.json()["token"])


def test_the_console_shows_devices_tokens_and_the_journal_live_masked(
    browser: Any, stub: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(stub["console_url"])
    assert "#key=" not in browser.current_url  # the key leaves the address bar
    _wait_text(browser, "#orgs", "(#1)")
    _wait_text(browser, "#users", DEFAULT_ADMIN_EMAIL)

    token = _issue_token(stub["http_url"])
    acme = _wait_text(browser, "#orgs li li", "Acme")  # a sub-org sits under the root in the tree
    assert acme.find_element(By.XPATH, "../..").get_attribute("data-org") == "1"
    assert "qa@acme.test Acme Admin" in _wait_text(browser, "#users", "qa@acme.test").text
    assert "pw-acme-1" not in browser.page_source
    tokens = _wait_text(browser, "#tokens", "waiting")
    assert token[:4] in tokens.text and token not in browser.page_source  # masked, never whole

    with RawDeviceClient(stub["binary_port"]) as device:
        assert device.login(token) == 200
        devices = _wait_text(browser, "#devices", "online")
        assert DEFAULT_ADMIN_EMAIL in devices.text and token[:4] in devices.text
        row = browser.find_element(By.CSS_SELECTOR, "#devices tbody tr")
        assert row.find_element(By.CSS_SELECTOR, ".online").is_displayed()
        last_login = row.find_elements(By.TAG_NAME, "td")[5].text
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", last_login), last_login
        _wait_text(browser, "#tokens", "activated")
        _wait_text(browser, "#events", "device_online")
        screenshot(browser, request, tmp_path / "console.png")
    _wait_text(browser, "#devices", "offline")
    _wait_text(browser, "#events", "device_offline")
    assert token not in browser.page_source
    assert script_errors(browser) == []


def test_the_console_needs_the_admin_or_its_key_and_changes_nothing(
    browser: Any, stub: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from selenium.webdriver.common.by import By

    url = stub["http_url"]
    assert httpx.get(f"{url}/api/v1/lab/console/state", timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer not-the-key"}
    assert httpx.get(f"{url}/api/v1/lab/console/events", headers=wrong, timeout=10).status_code == 401
    assert httpx.post(f"{url}/api/v1/lab/console/state", timeout=10).status_code == 405  # read-only

    browser.get(f"{url}/console")
    form = browser.find_element(By.ID, "login")
    assert form.is_displayed() and browser.find_element(By.ID, "orgs").text == ""
    browser.find_element(By.ID, "email").send_keys(DEFAULT_ADMIN_EMAIL)
    browser.find_element(By.ID, "password").send_keys("wrong password")
    form.find_element(By.TAG_NAME, "button").click()
    _wait_text(browser, "#login-error", "login refused (HTTP 401)")
    refused = script_errors(browser)  # the refused login is the one failed load the page may log
    assert all("/api/v1/auth/login" in line and "401" in line for line in refused), refused

    browser.find_element(By.ID, "password").clear()
    browser.find_element(By.ID, "password").send_keys(DEFAULT_ADMIN_PASSWORD)
    form.find_element(By.TAG_NAME, "button").click()
    _wait_text(browser, "#users", DEFAULT_ADMIN_EMAIL)
    assert not form.is_displayed() and DEFAULT_ADMIN_PASSWORD not in browser.page_source
    screenshot(browser, request, tmp_path / "console-login.png")
    assert script_errors(browser) == []
