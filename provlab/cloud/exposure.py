"""What `provlab cloud serve` exposes when it binds beyond loopback, said before it does (issue 13, point 5)."""

from __future__ import annotations

import ipaddress

ADMIN_PASSWORD_ENV = "PROVLAB_ADMIN_PASSWORD"


def is_loopback(host: str) -> bool:
    """True for `localhost` and addresses in 127.0.0.0/8 or ::1; False for wildcards and everything else."""
    if host.strip().lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def exposure_warning(host: str, default_password: bool, ports: dict[str, int | None]) -> str | None:
    """None on loopback; otherwise the warning that names what the bind makes reachable from the network."""
    if is_loopback(host):
        return None
    where = "every interface of this host" if host in ("0.0.0.0", "::", "") else host
    open_ports = ", ".join(f"{name} {port or 'any'}" for name, port in ports.items() if port is not None)
    lines = [
        f"WARNING: the cloud stub listens on {where} ({open_ports}), not only on loopback. Reachable from the network:",
        "  - the REST API: password logins and OAuth2 tokens, orgs, users, invitations, device tokens (issue, "
        "refresh, transfer);",
        "  - the lab API (/api/v1/lab/*): every device's auth token and the event journal, for a root Admin;",
        "  - the device APIs (binary protocol, MQTT, HTTP): anyone with a device token can log in as that device;",
        "  - plain HTTP and plain TCP/MQTT carry passwords and tokens unencrypted.",
    ]
    if default_password:
        lines.append(
            "  - the admin password is the well-known default: set --admin-password or "
            f"{ADMIN_PASSWORD_ENV} before exposing the stub."
        )
    return "\n".join(lines)
