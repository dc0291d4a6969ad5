"""Masking a captured payload: secrets become `*`, the length never changes (TCP stays followable)."""

from __future__ import annotations

from provlab.wifi.pcap_mask import mask_payload, secret_forms

TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"


def test_config_query_loses_the_password_and_keeps_a_token_hint() -> None:
    request = f"GET /config?auth={TOKEN}&ssid=Home&pass=p%40ss word&save=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    masked = mask_payload(request)
    assert len(masked) == len(request)
    assert b"p%40ss" not in masked and TOKEN.encode() not in masked
    assert b"auth=AbCd" + b"*" * 28 + b"&ssid=Home&pass=" + b"*" * 6 + b" word" in masked  # value ends at the space


def test_json_keys_headers_and_bare_tokens_are_masked() -> None:
    body = (
        b'HTTP/1.1 200 OK\r\nAuthorization: Bearer sekrit-key\r\n\r\n{"token": "'
        + TOKEN.encode()
        + b'", "password": "hunter22", "name": "ok"}'
    )
    masked = mask_payload(body)
    assert len(masked) == len(body)
    assert b"sekrit-key" not in masked and b"hunter22" not in masked and TOKEN.encode() not in masked
    assert b'"name": "ok"' in masked and b"Bearer sekr" in masked
    login = b"\x1d\x00\x01\x00\x20" + TOKEN.encode()  # a board's login on the plain binary port
    assert mask_payload(login) == login[:9] + b"*" * 28


def test_a_known_passphrase_is_masked_in_every_form_it_travels_in() -> None:
    secrets = secret_forms('a b&c"d')
    assert b"a+b%26c%22d" in secrets and b"a%20b%26c%22d" in secrets and b'a b&c\\"d' in secrets
    payload = b'x=a+b%26c%22d;y=a b&c"d'
    masked = mask_payload(payload, secrets)
    assert masked == b"x=" + b"*" * 11 + b";y=" + b"*" * 7
    assert mask_payload(b"nothing secret here") == b"nothing secret here"
