"""The board's TLS trust: `WiFiClientSecure.setCACert()` with the lab's CA instead of the pinned roots.

The real sketch pins three public roots (spec §6.8); a lab build replaces `certs_pem.h` with its own CA.
Decision (spec UNCONFIRMED on hostname checks by the ESP cores): the server name is verified against the
certificate, as mbedTLS does once `mbedtls_ssl_set_hostname()` is given the host, which arduino-esp32 does.
"""

from __future__ import annotations

import ssl
from pathlib import Path


class TrustError(ValueError):
    """The CA file cannot be read as PEM certificates."""


def client_context(ca_file: str | Path) -> ssl.SSLContext:
    """A client context that trusts only the certificates in `ca_file` and checks the host name."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise TrustError(f"cannot load the lab CA from {ca_file}: {exc}") from exc
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context
