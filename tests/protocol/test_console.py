"""Exact replies and line rules of the legacy Edgent serial console (spec §5.5, BlynkConsole.h, Console.h)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provlab.protocol.console import (
    BOOT_PROMPT,
    COMMAND_NOT_FOUND,
    CONNECT_BAD_ARGS,
    CONNECT_BAD_TOKEN,
    CONNECT_OK,
    FS_COMMANDS,
    HELP,
    MAX_WORDS,
    PROMPT,
    REBOOT_REPLY,
    ROLLBACK_ERROR,
    ROLLBACK_OK,
    ConsoleReplyError,
    DevInfo,
    StatusReply,
    WifiShow,
    clip_printf,
    command_matches,
    connect_reply,
    parse_devinfo,
    parse_status_reply,
    parse_wifi_show,
    render_devinfo,
    render_help,
    render_response,
    render_wifi_scan_row,
    render_wifi_show,
    split_argv,
    tokenize_console_line,
    unescape,
)


def test_reply_constants_are_byte_exact() -> None:
    assert REBOOT_REPLY == '{"status":"OK","msg":"rebooting wifi module"}'
    assert CONNECT_BAD_ARGS == '{"status":"error","msg":"invalid arguments. expected: <auth> <ssid> <pass>"}'
    assert CONNECT_BAD_TOKEN == '{"status":"error","msg":"invalid token size"}'
    assert CONNECT_OK == '{"status":"OK","msg":"trying to connect..."}'
    assert (ROLLBACK_OK, ROLLBACK_ERROR) == ('{"status":"ok"}', '{"status":"error"}')
    assert COMMAND_NOT_FOUND == "Command not found."
    assert PROMPT == ">"
    assert BOOT_PROMPT == "\n>"
    for reply in (REBOOT_REPLY, CONNECT_BAD_ARGS, CONNECT_BAD_TOKEN, CONNECT_OK, ROLLBACK_OK, ROLLBACK_ERROR):
        assert isinstance(json.loads(reply), dict)


def test_help_lists_commands_in_registration_order() -> None:
    assert HELP == "Available commands: help, ?, reboot, config, devinfo, connect, wifi, firmware, status"
    assert (
        render_help(("help", "?", "reboot", *FS_COMMANDS))
        == "Available commands: help, ?, reboot, ls, rm, mv, cat, echo"
    )


def test_response_framing() -> None:
    assert render_response(None) == "\r\nCommand not found.\r\n>"
    assert render_response(REBOOT_REPLY + "\n") == '\r\n{"status":"OK","msg":"rebooting wifi module"}\n>'
    assert render_response("") == "\r\n>"  # `config` prints nothing


def test_render_devinfo_golden() -> None:
    assert render_devinfo("Blynk Device-1W7R", "Device", "TMPLabc123", "TMPLabc123", "0.1.0") == (
        '{"name":"Blynk Device-1W7R","board":"Device","tmpl_id":"TMPLabc123","fw_type":"TMPLabc123","fw_ver":"0.1.0"}'
    )


def test_devinfo_round_trip_through_the_wire_text() -> None:
    info = DevInfo("Blynk Device-1W7R", "Device", "TMPLabc123", "TMPLabc123", "0.1.0")
    wire = "devinfo" + render_response(render_devinfo(*vars(info).values()) + "\n")
    assert parse_devinfo(wire) == info


def test_parse_devinfo_survives_unescaped_quotes() -> None:
    text = render_devinfo('Blynk My "Dev"-1W7R', 'My "Dev"', "TMPL1", "TMPL1", "1.0")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert parse_devinfo(text) == DevInfo('Blynk My "Dev"-1W7R', 'My "Dev"', "TMPL1", "TMPL1", "1.0")


def test_parse_devinfo_reads_other_json_spacing() -> None:
    text = '{"fw_ver": "2", "name": "n", "board": "b", "tmpl_id": "t", "fw_type": "f"}'
    assert parse_devinfo(text) == DevInfo("n", "b", "t", "f", "2")


@pytest.mark.parametrize("text", ["", "Command not found.\r\n>", '{"name":"x"}', CONNECT_OK])
def test_parse_devinfo_errors_show_the_text(text: str) -> None:
    with pytest.raises(ConsoleReplyError, match="expected a devinfo reply") as info:
        parse_devinfo(text)
    assert repr(text) in str(info.value)


def test_parse_status_replies() -> None:
    assert parse_status_reply("\r\n" + CONNECT_OK + "\n>") == StatusReply("OK", "trying to connect...")
    assert parse_status_reply(CONNECT_OK).ok
    bad = parse_status_reply(CONNECT_BAD_TOKEN)
    assert (bad.ok, bad.msg) == (False, "invalid token size")
    assert parse_status_reply(ROLLBACK_OK) == StatusReply("ok", None)
    assert parse_status_reply(ROLLBACK_OK).ok
    with pytest.raises(ConsoleReplyError, match="status"):
        parse_status_reply(COMMAND_NOT_FOUND)


def test_wifi_renderings() -> None:
    assert render_wifi_show("24:6F:28:AA:BB:CC", "192.168.1.7", "LabNet", "10:20:30:40:50:60", -61) == (
        "mac:24:6F:28:AA:BB:CC ip:192.168.1.7 (LabNet [10:20:30:40:50:60] -61dBm)"
    )
    assert render_wifi_scan_row(True, "LabNet", "10:20:30:40:50:60", "WPA2", 6, -61) == (
        "* LabNet [10:20:30:40:50:60] WPA2 ch:6 rssi:-61"
    )
    assert render_wifi_scan_row(False, "Other", "aa:bb:cc:dd:ee:ff", "OPEN", 11, -90).startswith("  Other [")


def test_clip_printf_keeps_255_bytes() -> None:
    assert clip_printf("x" * 300) == "x" * 255
    assert clip_printf("é" * 200) == "é" * 127  # 254 bytes; half a character is dropped
    assert clip_printf("short\n") == "short\n"


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("devinfo", ["devinfo"]),
        ("  connect  abc\tMyNet   pass  ", ["connect", "abc", "MyNet", "pass"]),
        ("config erase\r", ["config", "erase"]),
        ("", []),
        ("   \t  ", []),
        (r"echo a\tb", ["echo", "a\tb"]),
        (r"echo \x41\x4a", ["echo", "AJ"]),
        (r"echo \x4", ["echo", "\x04"]),
        (r"echo \xZZrest", ["echo", "\0rest"]),
        (r"echo \\ \n\r\b", ["echo", "\\", "\n\r\b"]),
        (r"echo \0", ["echo", "\0"]),
        (r"echo \q", ["echo", "q"]),
        ("echo a\\", ["echo", "a\0"]),
        (r"connect tok My\x20Net", ["connect", "tok", "My Net"]),
    ],
)
def test_tokenize(line: str, words: list[str]) -> None:
    assert tokenize_console_line(line) == words


def test_at_most_fifteen_words() -> None:
    line = " ".join(f"w{i}" for i in range(20))
    assert tokenize_console_line(line) == [f"w{i}" for i in range(15)]
    assert MAX_WORDS == 15


def test_line_length_limits() -> None:
    long_word = "a" * 300
    # Serial typing clears the 256-byte buffer whenever 255 characters are held.
    assert tokenize_console_line(long_word) == ["a" * 45]
    assert tokenize_console_line("x" * 255) == []
    assert tokenize_console_line("devinfo " + "y" * 246) == ["devinfo", "y" * 246]  # 254 characters
    # The cloud's dbg path keeps the first 255 instead.
    assert tokenize_console_line(long_word, remote=True) == ["a" * 255]


def test_escape_helpers_agree() -> None:
    assert unescape(r"\x41") == "A"
    assert unescape(r"\x-1") == "\xff"  # strtol("-1") cast to char
    assert split_argv("a b\nc") == ["a", "b", "c"]


def test_commands_match_whole_word_case_insensitively() -> None:
    assert command_matches("DevInfo", "devinfo")
    assert not command_matches("devinf", "devinfo")
    assert not command_matches("devinfo2", "devinfo")


@given(st.lists(st.text(alphabet="abcXYZ019_-.", min_size=1, max_size=10), min_size=1, max_size=15))
def test_plain_words_come_back_unchanged(words: list[str]) -> None:
    assert tokenize_console_line(" ".join(words)) == words


def test_connect_reply_follows_the_sketch() -> None:
    token = "Zx9Qm2Lp0Wv8Rt6Yu4Io1Pa3Sd5Fg7Hj"
    assert connect_reply([]) == CONNECT_BAD_ARGS
    assert connect_reply([token]) == CONNECT_BAD_ARGS
    assert connect_reply(["short", "LabNet"]) == CONNECT_BAD_TOKEN
    assert connect_reply([token, "LabNet"]) == CONNECT_OK
    assert connect_reply(tokenize_console_line(f"connect {token} LabNet hunter22")[1:]) == CONNECT_OK


def test_wifi_show_reply_gives_the_station_mac_ip_and_network() -> None:
    line = render_wifi_show("24:6F:28:AA:00:04", "0.0.0.0", "", "", 0)
    assert parse_wifi_show(line) == WifiShow("24:6F:28:AA:00:04", "0.0.0.0", "")
    joined = render_wifi_show("24:6F:28:AA:00:04", "10.0.0.7", "Home [5G]", "02:50:4C:00:00:00", -50)
    assert parse_wifi_show(f"wifi show\n{joined}") == WifiShow("24:6F:28:AA:00:04", "10.0.0.7", "Home [5G]")
    with pytest.raises(ConsoleReplyError, match="not a `wifi show` reply"):
        parse_wifi_show("Command not found.")
