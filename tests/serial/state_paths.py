"""Every state path of the legacy Edgent sketch (spec §1.3–1.4), as the serial log lines it prints (spec §5).

Each path is a short log: a boot (ROM text, banner, prompt) where the path starts at boot, then the `[millis]`
lines in the order the sketch prints them. The expected state changes, final state, last error and boots are
what the serial driver must conclude from replaying it.
"""

from __future__ import annotations

from dataclasses import dataclass

from provlab.protocol.serial_log import (
    ButtonHoldHint,
    ConfigInvalid,
    ConfigStored,
    InvalidTemplateConfig,
    InvalidToken,
    LogEvent,
    OtaFailed,
    OtaSuccess,
    Preprovisioned,
    Ready,
    ResettingConfig,
    RestartingAfterError,
    StaticIpFailed,
    Timeout,
)

TOKEN = "Zq3vN8xYpL2mK7wR4tB9cD1eF6gH0jAs"

ROM = [
    "ets Jun  8 2016 00:22:57",
    "",
    "rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
    "configsip: 0, SPIWP:0xee",
    "mode:DIO, clock div:1",
    "load:0x3fff0030,len:1344",
    "entry 0x400805f0",
]


def banner(ms: int, *, token: bool = False) -> list[str]:
    rows = [
        f"[{ms}] ",
        "    ___  __          __",
        "   / _ )/ /_ _____  / /__",
        "  / _  / / // / _ \\/  '_/",
        " /____/_/\\_, /_//_/_/\\_\\",
        "        /___/ v1.4.0 on ESP32",
        "",
        " #StandWithUkraine    https://bit.ly/swua",
        "",
        "",
        "----------------------------------------------------",
        " Device:    Blynk Device-1W7R",
        " Firmware:  0.1.0 (build Nov 26 2026 03:29:17)",
    ]
    if token:
        rows.append(f" Token:     {TOKEN[:4]} - •••• - •••• - ••••")
    rows += [
        " Platform:  ESP32 @ 240MHz",
        " Chip rev:  3",
        " SDK:       v4.4.7-dirty",
        " Flash:     4096K",
        " Free mem:  233000",
        "----------------------------------------------------",
        "",
    ]
    return rows


def boot(ms: int = 120, *, provisioned: bool = False, first: str | None = None) -> list[str]:
    """ROM text, banner, the console prompt, and the first state line (which follows the prompt)."""
    target = "CONNECTING_NET" if provisioned else "WAIT_CONFIG"
    return [*ROM, *banner(ms, token=provisioned), f">[{ms + 2}] INIT => {first or target}"]


def logs(start: int, *texts: str, step: int = 50) -> list[str]:
    return [f"[{start + i * step}] {text}" for i, text in enumerate(texts)]


@dataclass(frozen=True)
class StatePath:
    name: str
    lines: list[str]
    changes: list[tuple[str, str]]
    final: str
    last_error: int | None = None
    boots: int = 1
    events: tuple[type[LogEvent], ...] = ()

    @property
    def text(self) -> str:
        return "".join(line + "\r\n" for line in self.lines)


CONFIG_MODE = logs(2600, "AP URL:  blynk.setup")
PHONE_CONFIG = logs(
    5000,
    "Sending board info...",
    "WAIT_CONFIG => CONFIGURING",
    "Scanning networks...",
    "Found networks: 3",
    "Applying configuration...",
    "WiFi SSID: ProvlabHome Pass: correct-horse-battery",
    f"Blynk cloud: {TOKEN} @ blynk.cloud:443",
    "CONFIGURING => SWITCH_TO_STA",
    "Switching to STA...",
)
JOIN = logs(
    7000,
    "SWITCH_TO_STA => CONNECTING_NET",
    "Connecting to WiFi: ProvlabHome",
    "Using Dynamic IP: 192.168.1.23",
    "CONNECTING_NET => CONNECTING_CLOUD",
    "Connecting to blynk.cloud:443",
    "Certificate OK",
)
ONLINE = logs(9000, "Ready (ping: 37ms).", "CONNECTING_CLOUD => RUNNING", "Configuration stored to flash")
RUNNING = [*boot(), *CONFIG_MODE, *PHONE_CONFIG, *JOIN, *ONLINE]
TO_RUNNING = [
    ("INIT", "WAIT_CONFIG"),
    ("WAIT_CONFIG", "CONFIGURING"),
    ("CONFIGURING", "SWITCH_TO_STA"),
    ("SWITCH_TO_STA", "CONNECTING_NET"),
    ("CONNECTING_NET", "CONNECTING_CLOUD"),
    ("CONNECTING_CLOUD", "RUNNING"),
]
REBOOT_TO_CONFIG = [*boot(130), *logs(2600, "AP URL:  blynk.setup")]
RESET = logs(20000, "Resetting configuration!", "Configuration stored to flash", "RESET_CONFIG => WAIT_CONFIG")

PATHS = [
    StatePath("first_boot_to_running", RUNNING, TO_RUNNING, "RUNNING", events=(Ready, ConfigStored)),
    StatePath(
        "phone_leaves_the_ap",
        [
            *boot(),
            *CONFIG_MODE,
            *logs(5000, "Sending board info...", "WAIT_CONFIG => CONFIGURING"),
            *logs(9000, "CONFIGURING => WAIT_CONFIG"),
        ],
        [("INIT", "WAIT_CONFIG"), ("WAIT_CONFIG", "CONFIGURING"), ("CONFIGURING", "WAIT_CONFIG")],
        "WAIT_CONFIG",
    ),
    StatePath(
        "config_refused",
        [
            *boot(),
            *CONFIG_MODE,
            *logs(
                5000,
                "Applying configuration...",
                "WiFi SSID:  Pass: ",
                "Blynk cloud: short @ :",
                "Configuration invalid",
            ),
        ],
        [("INIT", "WAIT_CONFIG")],
        "WAIT_CONFIG",
        events=(ConfigInvalid,),
    ),
    StatePath(
        "http_reset",
        [*boot(), *CONFIG_MODE, *logs(6000, "WAIT_CONFIG => RESET_CONFIG"), *RESET],
        [("INIT", "WAIT_CONFIG"), ("WAIT_CONFIG", "RESET_CONFIG"), ("RESET_CONFIG", "WAIT_CONFIG")],
        "WAIT_CONFIG",
        events=(ResettingConfig,),
    ),
    StatePath(
        "button_reset_from_running",
        [
            *RUNNING,
            *logs(10000, "Hold the button for 10 seconds to reset configuration..."),
            *logs(20010, "RUNNING => RESET_CONFIG"),
            *RESET,
        ],
        [*TO_RUNNING, ("RUNNING", "RESET_CONFIG"), ("RESET_CONFIG", "WAIT_CONFIG")],
        "WAIT_CONFIG",
        events=(ButtonHoldHint, ResettingConfig),
    ),
    StatePath(
        "console_config",
        [*RUNNING, ">config", "", *logs(12000, "RUNNING => WAIT_CONFIG", "AP URL:  blynk.setup")],
        [*TO_RUNNING, ("RUNNING", "WAIT_CONFIG")],
        "WAIT_CONFIG",
    ),
    StatePath(
        "console_config_erase",
        [*RUNNING, ">config erase", "", *logs(12000, "RUNNING => RESET_CONFIG"), *RESET],
        [*TO_RUNNING, ("RUNNING", "RESET_CONFIG"), ("RESET_CONFIG", "WAIT_CONFIG")],
        "WAIT_CONFIG",
    ),
    StatePath(
        "console_connect",
        [
            *boot(),
            *CONFIG_MODE,
            f">connect {TOKEN} ProvlabHome correct-horse-battery",
            "",
            '{"status":"OK","msg":"trying to connect..."}',
            *logs(
                6000,
                "WAIT_CONFIG => SWITCH_TO_STA",
                "Switching to STA...",
                "SWITCH_TO_STA => CONNECTING_NET",
                "Connecting to WiFi: ProvlabHome",
            ),
        ],
        [("INIT", "WAIT_CONFIG"), ("WAIT_CONFIG", "SWITCH_TO_STA"), ("SWITCH_TO_STA", "CONNECTING_NET")],
        "CONNECTING_NET",
    ),
    StatePath(
        "static_ip_fails_700",
        [
            *boot(),
            *CONFIG_MODE,
            *PHONE_CONFIG,
            *logs(
                7000,
                "SWITCH_TO_STA => CONNECTING_NET",
                "Connecting to WiFi: ProvlabHome",
                "Failed to configure Static IP",
                "Last error code: 700",
                "Configuration stored to flash",
                "CONNECTING_NET => ERROR",
            ),
            *logs(17100, "Restarting after error."),
            *REBOOT_TO_CONFIG,
        ],
        [*TO_RUNNING[:4], ("CONNECTING_NET", "ERROR"), ("INIT", "WAIT_CONFIG")],
        "WAIT_CONFIG",
        last_error=700,
        boots=2,
        events=(StaticIpFailed, RestartingAfterError),
    ),
    StatePath(
        "wifi_fails_701",
        [
            *boot(),
            *CONFIG_MODE,
            *PHONE_CONFIG,
            *logs(7000, "SWITCH_TO_STA => CONNECTING_NET", "Connecting to WiFi: ProvlabHome"),
            *logs(57000, "Last error code: 701", "Configuration stored to flash", "CONNECTING_NET => ERROR"),
            *logs(67100, "Restarting after error."),
            *REBOOT_TO_CONFIG,
        ],
        [*TO_RUNNING[:4], ("CONNECTING_NET", "ERROR"), ("INIT", "WAIT_CONFIG")],
        "WAIT_CONFIG",
        last_error=701,
        boots=2,
        events=(RestartingAfterError,),
    ),
    StatePath(
        "net_timeout_retries",
        [
            *boot(provisioned=True),
            *logs(200, "Connecting to WiFi: ProvlabHome"),
            *logs(50300, "Connecting to WiFi: ProvlabHome"),
        ],
        [("INIT", "CONNECTING_NET")],
        "CONNECTING_NET",
    ),
    StatePath(
        "token_invalid_703",
        [
            *boot(),
            *CONFIG_MODE,
            *PHONE_CONFIG,
            *JOIN,
            *logs(
                9000,
                "Invalid auth token",
                "Last error code: 703",
                "Configuration stored to flash",
                "CONNECTING_CLOUD => WAIT_CONFIG",
                "AP URL:  blynk.setup",
            ),
        ],
        [*TO_RUNNING[:5], ("CONNECTING_CLOUD", "WAIT_CONFIG")],
        "WAIT_CONFIG",
        last_error=703,
        events=(InvalidToken,),
    ),
    StatePath(
        "wifi_drops_while_connecting_cloud",
        [*boot(provisioned=True), *JOIN[1:], *logs(9500, "CONNECTING_CLOUD => CONNECTING_NET")],
        [("INIT", "CONNECTING_NET"), ("CONNECTING_NET", "CONNECTING_CLOUD"), ("CONNECTING_CLOUD", "CONNECTING_NET")],
        "CONNECTING_NET",
    ),
    StatePath(
        "cloud_timeout_retries",
        [*boot(provisioned=True), *JOIN[1:], *logs(57000, "Timeout", "Connecting to blynk.cloud:443")],
        [("INIT", "CONNECTING_NET"), ("CONNECTING_NET", "CONNECTING_CLOUD")],
        "CONNECTING_CLOUD",
        events=(Timeout,),
    ),
    StatePath(
        "cloud_timeout_702",
        [
            *boot(),
            *CONFIG_MODE,
            *PHONE_CONFIG,
            *JOIN,
            *logs(
                59000, "Timeout", "Last error code: 702", "Configuration stored to flash", "CONNECTING_CLOUD => ERROR"
            ),
            *logs(69200, "Restarting after error."),
            *REBOOT_TO_CONFIG,
        ],
        [*TO_RUNNING[:5], ("CONNECTING_CLOUD", "ERROR"), ("INIT", "WAIT_CONFIG")],
        "WAIT_CONFIG",
        last_error=702,
        boots=2,
        events=(Timeout, RestartingAfterError),
    ),
    StatePath(
        "running_loses_the_cloud",
        [
            *RUNNING,
            *logs(
                60000,
                "Heartbeat timeout",
                "RUNNING => CONNECTING_CLOUD",
                "Connecting to blynk.cloud:443",
                "Ready (ping: 41ms).",
                "CONNECTING_CLOUD => RUNNING",
            ),
        ],
        [*TO_RUNNING, ("RUNNING", "CONNECTING_CLOUD"), ("CONNECTING_CLOUD", "RUNNING")],
        "RUNNING",
    ),
    StatePath(
        "running_loses_wifi",
        [*RUNNING, *logs(60000, "Disconnected", "RUNNING => CONNECTING_NET", "Connecting to WiFi: ProvlabHome")],
        [*TO_RUNNING, ("RUNNING", "CONNECTING_NET")],
        "CONNECTING_NET",
    ),
    StatePath(
        "ota_success_reboots_provisioned",
        [
            *RUNNING,
            *logs(
                30000,
                "Disconnected",
                "RUNNING => OTA_UPGRADE",
                "Firmware update URL: http://blynk.cloud/ota/fw.bin",
                "Expected MD5: 0f343b0931126a20f133d67c2b018a3b",
                "=== Update successfully completed. Rebooting.",  # OTA.h: `OTA written` only on a short write
            ),
            *boot(140, provisioned=True),
        ],
        [*TO_RUNNING, ("RUNNING", "OTA_UPGRADE"), ("INIT", "CONNECTING_NET")],
        "CONNECTING_NET",
        boots=2,
        events=(OtaSuccess,),
    ),
    StatePath(
        "ota_failure_errors",
        [
            *RUNNING,
            *logs(
                30000,
                "Disconnected",
                "RUNNING => OTA_UPGRADE",
                "Firmware update URL: http://blynk.cloud/ota/fw.bin",
                "Expected MD5: 0f343b0931126a20f133d67c2b018a3b",
                "Error #7",  # OTA.h: `Update.end()` failed (MD5), then ERROR; no `Update failed.`
                "OTA_UPGRADE => ERROR",
            ),
        ],
        [*TO_RUNNING, ("RUNNING", "OTA_UPGRADE"), ("OTA_UPGRADE", "ERROR")],
        "ERROR",
        events=(OtaFailed,),
    ),
    StatePath(
        "preprovisioned_boot",
        [*ROM, *banner(120), *logs(121, "Firmware is preprovisioned"), ">[123] INIT => CONNECTING_NET"],
        [("INIT", "CONNECTING_NET")],
        "CONNECTING_NET",
        events=(Preprovisioned,),
    ),
    StatePath(
        "invalid_template_hangs",
        [*boot(), *logs(125, "Invalid configuration of TEMPLATE_ID / TEMPLATE_NAME")],
        [("INIT", "WAIT_CONFIG")],
        "WAIT_CONFIG",
        events=(InvalidTemplateConfig,),
    ),
]
