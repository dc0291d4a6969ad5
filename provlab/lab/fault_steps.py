"""The lab's fault knobs as steps: every switch of the air's or the cloud's faults is on the step journal."""

from __future__ import annotations

from collections.abc import Callable

from provlab.cloud.faults import FaultKnobs
from provlab.lab.steps import StepJournal
from provlab.wifi.faults import Faults


class AirFaultSteps:
    """The air's run-time fault knobs (`Lab.faults`); each call is a step on subject `air`."""

    def __init__(self, faults: Faults, steps: StepJournal) -> None:
        self._faults = faults
        self._steps = steps

    def ap_down(self, ssid: str) -> None:
        """The access point stops beaconing; joined stations lose their link."""
        with self._steps.step("ap_down", "air", ssid=ssid):
            self._faults.ap_down(ssid)

    def ap_up(self, ssid: str) -> None:
        """The access point is back on the air."""
        with self._steps.step("ap_up", "air", ssid=ssid):
            self._faults.ap_up(ssid)

    def ap_up_after(self, ssid: str, device_seconds: float) -> Callable[[], None]:
        """Bring `ssid` up after `device_seconds` on the lab clock (the step is the scheduling, the AP coming up
        is on the air); returns a function that cancels it."""
        with self._steps.step("ap_up_after", "air", ssid=ssid, device_seconds=device_seconds):
            return self._faults.ap_up_after(ssid, device_seconds)

    def set_rssi(self, ssid: str, rssi: int) -> None:
        with self._steps.step("set_rssi", "air", ssid=ssid, rssi=rssi):
            self._faults.set_rssi(ssid, rssi)

    def set_channel(self, ssid: str, channel: int) -> None:
        with self._steps.step("set_channel", "air", ssid=ssid, channel=channel):
            self._faults.set_channel(ssid, channel)

    def set_internet(self, ssid: str, online: bool) -> None:
        with self._steps.step("set_internet", "air", ssid=ssid, online=online):
            self._faults.set_internet(ssid, online)

    def set_dns_failure(self, ssid: str, failing: bool) -> None:
        with self._steps.step("set_dns_failure", "air", ssid=ssid, failing=failing):
            self._faults.set_dns_failure(ssid, failing)

    def kick(self, ssid: str, station: str | None = None) -> list[str]:
        """Deauthenticate one station (or all); returns who was kicked."""
        with self._steps.step("kick", "air", ssid=ssid, station=station) as step:
            kicked = self._faults.kick(ssid, station)
            step.response = {"kicked": kicked}
            return kicked

    def cancel_timers(self) -> None:
        self._faults.cancel_timers()


class CloudFaultSteps:
    """The embedded cloud stub's fault knobs (`Lab.cloud_faults`); each switch is a step on subject `cloud`.

    `knobs` finds the running stub's knobs at each call, so the knobs of a restarted stub are the ones set."""

    def __init__(self, knobs: Callable[[], FaultKnobs], steps: StepJournal) -> None:
        self._knobs = knobs
        self._steps = steps

    def set_latency(self, device_seconds: float) -> None:
        """Device seconds added before every login answer and HTTP API answer."""
        with self._steps.step("cloud_latency", "cloud", device_seconds=device_seconds):
            self._knobs().latency_s = device_seconds

    def refuse_logins(self, status: int | None) -> None:
        """Answer every device login with `status` (None: accept again)."""
        with self._steps.step("refuse_logins", "cloud", status=status):
            self._knobs().refuse_logins = status

    def fail_token_issue(self, http_status: int | None) -> None:
        """Answer every token request with `http_status` (None: issue again)."""
        with self._steps.step("fail_token_issue", "cloud", http_status=http_status):
            self._knobs().token_issue_status = http_status

    def redirect(self, token: str, host: str, port: int, *, replaces_login_answer: bool | None = None) -> None:
        """Send later logins with `token` to `host:port` (C6)."""
        with self._steps.step("redirect", "cloud", token=token, host=host, port=port):
            self._knobs().redirect(token, host, port, replaces_login_answer=replaces_login_answer)

    def clear_redirect(self, token: str) -> None:
        with self._steps.step("clear_redirect", "cloud", token=token):
            self._knobs().clear_redirect(token)

    def reset(self) -> None:
        """All knobs back to a healthy cloud."""
        with self._steps.step("reset_faults", "cloud"):
            self._knobs().reset()
