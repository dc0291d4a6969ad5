"""One TLS context for the lab's HTTP clients.

httpx builds a fresh `ssl.create_default_context()` (loading the system's CA bundle, ~25 ms of CPU) for every
client it makes, also for plain `http://` URLs such as the embedded stub's. The lab makes a client per phone and
per REST user, so that was a good part of an enrollment's wall time. The context is built once, on first use, and
shared: its settings (system CAs, hostname checks) are exactly httpx's default.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def default_tls() -> ssl.SSLContext:
    """The system-CA context httpx would build, made once per process."""
    return ssl.create_default_context()
