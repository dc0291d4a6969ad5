"""Evidence journals mask tokens everywhere, yet keep an OTA image's MD5 digest readable."""

from __future__ import annotations

from provlab.lab.journal import mask_value

TOKEN = "KazRb3x9Qe7LmN2pT5vW8yZ1aC4dF6gH"
MD5 = "67f991331839ed02a2fe9cf7c06b229e"


def test_an_md5_digest_is_kept_and_tokens_are_still_masked() -> None:
    event = {"kind": "ota_downloaded", "md5": MD5, "x-md5": MD5.upper(), "note": f"got {MD5}", "token": TOKEN}
    masked = mask_value("", event)
    assert masked["md5"] == MD5 and masked["x-md5"] == MD5.upper()
    assert masked["note"] == "got 67f9…"  # a bare 32-character run elsewhere still looks like a token
    assert masked["token"] == "KazR…"
    assert mask_value("md5", TOKEN) == "KazR…"  # under the digest key, a non-hex value is still masked


def test_passwords_are_masked_whole_and_tokens_keep_a_hint() -> None:
    masked = mask_value("", {"wifi_pass": "hunter2-hunter2", "password": "pw123456", "token": TOKEN})
    assert masked == {"wifi_pass": "…", "password": "…", "token": "KazR…"}
