"""Provision a board that `provlab emulate` runs, from another process: `provlab provision --target`.

The emulate process shows each board's SoftAP web server on a loopback port (its host bridge) and lists
its boards in a small file per process (`provlab.emulator.fleet.running_boards`), so a target can be
named by SSID, by port or by URL. The phone's part is then plain HTTP: `board_info.json`, a token from the running
`provlab cloud serve` (as its admin), `/config` with the cloud's ports, and polling the token until the
device is online. Every step is recorded with its outcome; tokens and passwords appear masked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from provlab.emulator.fleet import running_boards
from provlab.protocol.edgent_http import build_config_query
from provlab.protocol.serial_log import mask_secret

ONLINE_POLL_S = 0.5
AP_SEARCH_S = 30.0  # wall seconds: how long the board's SoftAP may take to answer (a standalone board boots)


class TargetError(ValueError):
    """A `--target` that names no running emulated board."""


def resolve_target(target: str) -> str:
    """The SoftAP base URL for `target`: an http URL, a loopback port, or the SSID of a running board."""
    if target.startswith(("http://", "https://")):
        return target.rstrip("/")
    if target.isdigit():
        return f"http://127.0.0.1:{int(target)}"
    boards = running_boards()
    for board in boards:
        if board.get("ssid") == target and board.get("softap_http"):
            return str(board["softap_http"])
    known = ", ".join(repr(b["ssid"]) for b in boards) or "none (is `provlab emulate` running?)"
    raise TargetError(f"--target {target!r}: no running emulated board has that SSID; running: {known}")


@dataclass
class DirectStep:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class DirectResult:
    board_ssid: str = ""
    masked_token: str = ""
    device_id: int | None = None
    online: bool = False
    steps: list[DirectStep] = field(default_factory=list)


def provision_direct(
    softap_url: str,
    cloud_url: str,
    *,
    email: str,
    password: str,
    wifi_ssid: str,
    wifi_pass: str,
    save: bool = False,
    timeout: float = 60.0,
) -> DirectResult:
    """The phone's run against the board at `softap_url`, with the stub at `cloud_url`; never raises for a
    failing step (the result says which step failed and why)."""
    result = DirectResult()
    with (
        httpx.Client(base_url=softap_url, timeout=10.0) as board,
        httpx.Client(base_url=cloud_url.rstrip("/"), timeout=10.0) as cloud,
    ):

        def step(name: str, call: Any) -> Any:
            started = time.monotonic()
            try:
                value, detail = call()
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                result.steps.append(DirectStep(name, False, f"{type(exc).__name__}: {exc}", time.monotonic() - started))
                return None
            result.steps.append(DirectStep(name, True, detail, time.monotonic() - started))
            return value

        def board_info() -> tuple[dict[str, Any], str]:
            # a board that is still booting has no SoftAP yet: look for it as the phone does (AP_SEARCH_S)
            deadline = time.monotonic() + AP_SEARCH_S
            while True:
                try:
                    response = board.get("/board_info.json")
                    break
                except httpx.TransportError:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(ONLINE_POLL_S)
            info = dict(response.raise_for_status().json())
            return info, f"{info['ssid']} {info['tmpl_id']} fw {info.get('fw_ver', '?')}"

        info = step("board_info", board_info)
        if info is None:
            return result
        result.board_ssid = str(info["ssid"])

        def login() -> tuple[dict[str, Any], str]:
            response = cloud.post("/api/v1/auth/login", json={"email": email, "password": password})
            response.raise_for_status()
            cloud.headers["Authorization"] = f"Bearer {response.json()['accessToken']}"
            lab = dict(cloud.get("/api/v1/lab/info").raise_for_status().json())
            return lab, f"as {email}"

        lab = step("cloud_login", login)
        if lab is None:
            return result

        def token() -> tuple[str, str]:
            response = cloud.post("/api/v1/provisioning/tokens", json={"templateId": info["tmpl_id"]})
            response.raise_for_status()
            value = str(response.json()["token"])
            return value, mask_secret(value)

        issued = step("token", token)
        if issued is None:
            return result
        result.masked_token = mask_secret(issued)

        def config() -> tuple[None, str]:
            query = build_config_query(
                ssid=wifi_ssid,
                password=wifi_pass,
                token=issued,
                host="blynk.cloud",
                port=lab.get("binaryPort"),
                port_ssl=lab.get("tlsPort"),
                save=save,
            )
            response = board.get(f"/config?{query}").raise_for_status()
            return None, response.text[:120]

        if step("config", config) is None and not result.steps[-1].ok:
            return result

        def online() -> tuple[dict[str, Any], str]:
            deadline = time.monotonic() + timeout
            status: dict[str, Any] = {}
            while time.monotonic() < deadline:
                response = cloud.get(f"/api/v1/provisioning/tokens/{issued}")
                if response.status_code == 200:
                    status = dict(response.json())
                    if status.get("online"):
                        return status, f"device {status.get('deviceId')} online"
                time.sleep(ONLINE_POLL_S)
            raise ValueError(f"not online within {timeout:g} s (wall clock); last status {status}")

        status = step("wait_online", online)
        if status is not None:
            result.online = True
            device = status.get("deviceId")
            result.device_id = int(device) if device is not None else None
    return result
