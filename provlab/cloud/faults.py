"""Fault knobs the lab switches at run time: added latency, refused logins, failing token issue, redirects."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from provlab.protocol import choices


@dataclass(frozen=True)
class Redirect:
    """Send a token's logins elsewhere: binary REDIRECT (41) `host\\0port`, MQTT `downlink/redirect`."""

    host: str
    port: int
    replaces_login_answer: bool = choices.REDIRECT_REPLACES_LOGIN_RESPONSE


@dataclass
class FaultKnobs:
    """Read by the servers on every login / request; safe to change from any thread."""

    latency_s: float = 0.0
    """Device seconds added before every login answer (RESPONSE, REDIRECT, CONNACK) and HTTP API answer."""
    refuse_logins: int | None = None
    """When set, every device login is answered with this status (binary); MQTT gets CONNACK 4 for
    INVALID_TOKEN (9) and 3 ("server unavailable") for anything else."""
    token_issue_status: int | None = None
    """When set, `POST /api/v1/provisioning/tokens` answers with this HTTP status (e.g. 503)."""
    _redirects: dict[str, Redirect] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def redirect(self, token: str, host: str, port: int, *, replaces_login_answer: bool | None = None) -> None:
        """Redirect every later login with `token` to `host:port` (C6, wrong region)."""
        replaces = choices.REDIRECT_REPLACES_LOGIN_RESPONSE if replaces_login_answer is None else replaces_login_answer
        with self._lock:
            self._redirects[token] = Redirect(host, port, replaces)

    def clear_redirect(self, token: str) -> None:
        with self._lock:
            self._redirects.pop(token, None)

    def redirect_for(self, token: str) -> Redirect | None:
        if not self._redirects:
            return None
        with self._lock:
            return self._redirects.get(token)

    def reset(self) -> None:
        """All knobs back to a healthy cloud."""
        self.latency_s = 0.0
        self.refuse_logins = None
        self.token_issue_status = None
        with self._lock:
            self._redirects.clear()
