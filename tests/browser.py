"""Headless Chromium for the tests that check what a user sees (Debian's `chromium` and `chromium-driver`,
driven by Selenium). `.ci/run` installs them; without them the browser tests skip and say so."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser")
QUIET = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
    "--no-first-run",
    "--disable-background-networking",  # no network: the pages are self-contained
    # Everything but loopback goes to a proxy that is not there, so a request that would leave the host fails
    # instead, as a SEVERE log entry `script_errors` reports (ERR_PROXY_CONNECTION_FAILED). `<-loopback>` drops
    # Chromium's implicit bypass (which also lets link-local 169.254/16 and fe80::/10 go direct); loopback is then
    # named again. Names are not resolved here: a proxied request leaves its lookup to the (absent) proxy.
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>;127.0.0.1;localhost;[::1]",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
)


def open_browser() -> Iterator[Any]:
    """One headless Chromium session (a Selenium WebDriver); skips with the reason when one is missing."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[dev]')")
    binary = next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver; .ci/run does)")
    # Chromium leaves its profile and its singleton socket folder (org.chromium.Chromium.*) in TMPDIR when
    # it is stopped: both go into a folder of the test's own, removed when the browser is gone.
    scratch = Path(tempfile.mkdtemp(prefix="provlab-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in QUIET:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={scratch / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(driver_path, env={**os.environ, "TMPDIR": str(scratch)})
    try:
        driver = webdriver.Chrome(service=service, options=options)
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def script_errors(driver: Any) -> list[str]:
    """What the page logged as errors since the last call (uncaught exceptions, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver: Any, request: pytest.FixtureRequest, path: Path) -> Path:
    """Keep what the browser shows in the test's output folder, named in the JUnit properties."""
    driver.save_screenshot(str(path))
    request.node.user_properties.append(("screenshot", str(path)))
    return path
