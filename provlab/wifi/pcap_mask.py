"""Secrets out of a packet capture: payload bytes masked in place, the packet's length unchanged.

A capture of real traffic (the `netns` air) holds what the phone and the boards send in clear: the
Wi-Fi password and the auth token in `/config?…&pass=…&blynk=…`, tokens in cloud API answers, a board's
login on a plain (non-TLS) port. `mask_payload` overwrites each secret's characters with `*` (a token
keeps its first 4, as in the logs), so TCP sequence numbers and lengths stay true and Wireshark still
follows every stream; the caller recomputes the checksums. Known secrets (the air's passphrases, as
sent and URL-encoded) are masked wherever they appear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

FILL = ord("*")
TOKEN_KEEP = 4
_TOKEN_CHARS = rb"-_A-Za-z0-9"
# A token or API key: 32 or more token characters in a row (a Blynk auth token is 32, an API key 43).
_TOKEN_RUN = re.compile(rb"[" + _TOKEN_CHARS + rb"]{32,}")
_QUERY_TOKEN = re.compile(rb"[?&](?:blynk|token|auth)=([^&\s#]*)")
_QUERY_PASS = re.compile(rb"[?&](?:pass|password)=([^&\s#]*)")
_JSON_TOKEN = re.compile(rb'"(?:blynk|token|auth|cloud_token|accessToken|access_token)"\s*:\s*"((?:[^"\\]|\\.)*)"')
_JSON_PASS = re.compile(rb'"(?:pass|password|wifi_pass|client_secret|clientSecret)"\s*:\s*"((?:[^"\\]|\\.)*)"')
_AUTH_HEADER = re.compile(rb"(?im)^(?:authorization|x-api-key):[ \t]*(?:(?:bearer|basic|token)[ \t]+)?([^\r\n]*)")


def _fill(data: bytearray, start: int, end: int, keep: int) -> None:
    if end - start > keep:
        data[start + keep : end] = bytes([FILL]) * (end - start - keep)
    else:
        data[start:end] = bytes([FILL]) * (end - start)


def secret_forms(secret: str) -> list[bytes]:
    """`secret` as it may travel: raw UTF-8, URL-encoded (both ways), JSON-escaped."""
    forms = {secret.encode("utf-8"), quote(secret, safe="").encode(), quote_plus(secret).encode()}
    forms.add(secret.replace("\\", "\\\\").replace('"', '\\"').encode("utf-8"))
    return sorted((f for f in forms if f), key=len, reverse=True)


def mask_payload(payload: bytes, secrets: Iterable[bytes] = ()) -> bytes:
    """`payload` with every secret's bytes replaced by `*`, same length; unchanged when nothing is secret."""
    data = bytearray(payload)
    for pattern in (_QUERY_PASS, _JSON_PASS):
        for match in pattern.finditer(payload):
            _fill(data, match.start(1), match.end(1), 0)
    for pattern in (_QUERY_TOKEN, _JSON_TOKEN, _AUTH_HEADER):
        for match in pattern.finditer(payload):
            _fill(data, match.start(1), match.end(1), TOKEN_KEEP)
    for match in _TOKEN_RUN.finditer(payload):
        _fill(data, match.start(), match.end(), TOKEN_KEEP)
    for secret in secrets:
        start = payload.find(secret)
        while start >= 0:
            _fill(data, start, start + len(secret), 0)
            start = payload.find(secret, start + 1)
    return bytes(data)
