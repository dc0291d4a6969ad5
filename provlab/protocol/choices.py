"""Every choice provlab makes where the spec marks a fact UNCONFIRMED, kept in one place.

Each constant names the spec section it stands in for. Change a choice here and only here.
"""

from __future__ import annotations

# §3.1: byte order of the IPAddress -> uint32_t fields of the config blob. We follow lwIP:
# the first octet sits in the lowest byte (so 192.168.1.10 is stored as bytes C0 A8 01 0A).
STATIC_IP_FIRST_OCTET_LOWEST_BYTE = True

# §2.1: the soft-AP's DHCP pool. arduino-esp32 hands out from .2 upwards; we do the same.
SOFTAP_DHCP_FIRST_HOST = 2

# §2.1: channel of the soft-AP (arduino-esp32 default).
SOFTAP_CHANNEL = 1

# §6.4: what the stub answers to a successful login: RESPONSE 200 with the login's msg id, nothing pushed
# after it (the legacy server sometimes pushed a `pm` message; blynk.cloud is closed source).
PUSH_PIN_MODES_AFTER_LOGIN = False

# §9: the host the phone puts into /config when the lab does not say otherwise.
PHONE_DEFAULT_CLOUD_HOST = "blynk.cloud"

# §9: the phone sends both `port` and `port_ssl` (evidence: the Python RPi Edgent reads both).
PHONE_SENDS_PORT_AND_PORT_SSL = True

# §3.2: a factory-fresh ESP32 logs `Config read failed` (read-only open of a missing NVS namespace)
# rather than `Using default config.`. We print `Using default config.` only when a blob exists
# but fails the magic check, and `Config read failed` when there is no blob at all.
FRESH_FLASH_LOGS_CONFIG_READ_FAILED = True

# §8: /external/api/get with several pins answers a JSON object {"v1": ..., "v2": ...}.
HTTP_GET_MULTI_PIN_AS_JSON_OBJECT = True

# §2.3.1, §6.2: width of C `long` for `String::toInt()` / `BlynkParam::asLong()` (newlib `atol` = `strtol`,
# which clamps on overflow). ESP32 and ESP8266 are 32-bit, so "99999999999" reads as 2147483647.
C_LONG_BITS = 32

# §2.3.1: `/config` fields are copied into fixed char arrays (`String::toCharArray`), which cut at a byte
# count. When the cut splits a multi-byte UTF-8 character we drop the partial character (True) rather than
# keep its stray bytes (False, kept as surrogate escapes), so every string we hand on stays encodable.
CONFIG_TRUNCATION_DROPS_PARTIAL_UTF8 = True

# §2.3.1: "static IPv4 (dotted)". We parse like arduino-esp32 3.x `IPAddress::fromString4`: four decimal
# octets up to 255, exactly three dots, no spaces or empty octets, leading zeros allowed and read as decimal
# ("192.168.001.010" is 192.168.1.10). IPv6 text counts as not parsed. False = Python's strict
# `ipaddress.IPv4Address` (which refuses leading zeros).
STATIC_IP_PARSE_LIKE_ARDUINO = True

# §6.4, §12: how the stub redirects a binary-protocol login (C6). Like the legacy server
# (`HardwareLoginHandler`, `LoadBalancing…`): a REDIRECT (41) `host\0port` with the login's msg id takes the
# place of the login RESPONSE, and the connection stays open for the client to close. False = answer the
# login with 200 first and push the REDIRECT afterwards with the stub's own msg id.
REDIRECT_REPLACES_LOGIN_RESPONSE = True

# §6.4: the answer to a login from a source (or with a token) over its failed-login allowance (C5): the spec
# names none. We answer RESPONSE QUOTA_LIMIT_EXCEPTION (1) with the login's msg id and close at once; the C++
# library logs `Connect failed. code: 1` and retries on its normal 5 s cycle, without the stub touching the store.
THROTTLED_LOGIN_STATUS = 1

# --- Fidelity audit (shared/spec/fidelity-audit.md): differences from the real sketch kept on purpose ----
# Each names its audit row. The emulator follows these; a test that depends on them says so.

# #6: how soon CONNECTING_CLOUD notices a lost association (its loop reads `WiFi.status()`). RUNNING itself
# does not poll: it reacts only to the session failing (socket error or `Heartbeat timeout`).
LINK_CHECK_S = 1.0

# #7 (UNCONFIRMED): `WiFi.config()` of a static IP succeeds for any stored settings (arduino-esp32 validates
# neither mask nor gateway; only an esp_netif call failing would give 700), so a bad mask or gateway joins
# Wi-Fi and fails at the cloud. False makes every static IP fail with 700. The transition's test overrides
# `Behaviour.static_ip_configurable`.
STATIC_IP_CONFIG_SUCCEEDS = True

# #5: `BlynkProtocol::disconnect()` logs `Disconnected` every time it runs, with or without a socket
# (`src/Blynk/BlynkProtocol.h:62-66`), so the emulator does too: e.g. twice when the OTA timer fires in
# CONNECTING_CLOUD (the timer's own call, then `enterConnectCloud()`'s). True restores the old rule (only when a
# socket was open). A connection the server drops (`internalReconnect()`) logs nothing either way.
DISCONNECTED_ONLY_WITH_SOCKET = False

# #2 (core-dependent): an OTA image whose first byte is not 0xE9. arduino-esp32 2.x (the profile's SDK v4.4.x)
# `Update.writeStream()` peeks that byte and returns 0, so `OTA.h` logs `OTA written 0 / <n> bytes`; 3.x fails
# later and logs a larger `<w>`. We follow 2.x. The SoftAP `/update` path prints `Wrong Magic Byte` either way.
OTA_BAD_MAGIC_WRITES_NOTHING = True

# #10 (UNCONFIRMED lengths): the ROM and second-stage bootloader text an ESP32 prints at every reset before the
# app (`ets Jun  8 2016 00:22:57`, `rst:0x1 (POWERON_RESET)` at power-up or EN, `rst:0xc (SW_CPU_RESET)` after
# `ESP.restart()`, `boot:0x13 (SPI_FAST_FLASH_BOOT)`, the SPI lines, `load:`/`entry` lines). The `load:` lengths
# and the entry point depend on the bootloader build; these are an arduino-esp32 2.0.x one. Then `setup()`'s
# `Serial.begin(115200); delay(100);` puts the first Edgent line at `millis()` >= 100.
ROM_BOOT_LOADS: tuple[tuple[int, int], ...] = ((0x3FFF0030, 1184), (0x40078000, 13232), (0x40080400, 3028))
ROM_BOOT_ENTRY = 0x400805E4

# #10: `/reboot` restarts the chip; we abort the phone's socket (a TCP RST at once) instead of leaving it
# hanging until the client's own timeout or the AP's loss: a dead peer would stall every lab phone for its
# full timeout. Phone code must not rely on either; the lab's phone treats both as "board rebooting".
HTTP_REBOOT_RESETS_SOCKET = True

# #11: the SoftAP `/update` POST is emulated as WebServer + the sketch's upload callback + `Update` (arduino-esp32
# 2.0.x) run it (`provlab/emulator/http_update.py`): every file part is uploaded whatever its field name; a POST
# with no file part (not multipart, or plain fields only) never starts `Update`, so `200 OK`, then the reboot;
# `DEBUG_PRINT(Update.errorString())` is a `[ms]` line once per 1436-byte chunk `Update.write()` refuses, and
# once more after `Finishing...`; a multipart body whose first line is not `--<boundary>` gets no reply (we
# abort the socket; WebServer closes it) and no reboot. Flash is written per 4096-byte sector, so a wrong magic
# byte shows on the third chunk; an upload whose only sector fails in `Update.end()` ends in `Flash Read
# Failed` (`_verifyEnd()` has no stashed first bytes to write back; assumes ESP-IDF 4.4 `esp_flash_write()`
# refuses a NULL buffer), and a whole image the chip refuses in `Could Not Activate The Firmware` (error 9).
HTTP_UPDATE_EDGE_CASES_EMULATED = True

# #15: the SoftAP HTTP server echoes the client's HTTP version in the status line (as WebServer does) but
# has one `Connection: close` on GET /update and serves requests concurrently (the real WebServer serves
# one client at a time and blocks for `/wifi_scan.json`). Concurrency keeps the lab's "two phones at once"
# scenario about the board's state machine, not about socket queuing. Query args win over POST-body args
# (core 2.x).
HTTP_SERVER_SERIAL_CLIENTS = False

# #16: built-in pages are paraphrased HTML with the same fields, action, method, title and submit value;
# the real markup is not copied (licence). Tests must not scrape labels.
HTTP_PAGES_PARAPHRASED = True

# #18: no DHCP hostname (option 12, `WiFi.setHostname`) is sent by the emulated station: the sim and netns
# DHCP servers do not record it. Router-side hostname checks need real hardware.
STA_SENDS_DHCP_HOSTNAME = False

# #20: TLS to the lab CA instead of the pinned ISRG/Amazon/DigiCert roots (a real board cannot reach a lab
# cloud otherwise); `tls = false` gives plain TCP (no real Edgent ESP32 build does); no 80 <-> 8080
# fallback (one `Connecting to` line per attempt); Python matches IP SANs where mbedTLS 2.x may not.
TLS_TRUSTS_LAB_CA = True
PLAIN_PORT_FALLBACK_80_8080 = False

# #21: the `edgent-esp32-mqtt` profile has no hardware counterpart (legacy Edgent is binary-protocol only);
# it exists to exercise the cloud stub's MQTT side with a board that logs Blynk-library lines.
MQTT_PROFILE_IS_SYNTHETIC = True

# #24: `status` and `firmware info` show profile constants (heap, stack, uptime from the device clock) and
# `App size` % from whole KiB; no `PSRAM free` line. Cosmetic.
STATUS_FROM_PROFILE_CONSTANTS = True

# #26: outgoing INTERNAL/meta commands are sent at once, not held ~67 ms after the last activity
# (`BLYNK_MSG_LIMIT`): only timing differs, and the lab asserts no wall-clock thresholds.
OUTGOING_THROTTLE_EMULATED = False

# Spec §4 (UNCONFIRMED): how often the station retries an association inside the 50 s window.
WIFI_JOIN_RETRY_S = 0.5

# Spec §5.3 (UNCONFIRMED): the OTA download's HTTPClient timeout.
OTA_HTTP_TIMEOUT_S = 30.0

# --- Blynk.NCP (Nano 33 IoT / MKR WiFi 1010 host + NINA-W102 NCP, provlab.emulator.families.ncp) ---------
# The host side is public (blynk-library src/BlynkEdgentNCP.h, Edgent_NCP.ino); the NCP firmware is
# proprietary, so everything below is UNCONFIRMED. What would settle each: a serial capture of a real board
# (host USB + the NINA's UART0 through `Blynk.passthrough()`), and the phone's exchanges with a real NCP.

# UNCONFIRMED: the version string `rpc_blynk_getNcpVersion()` answers. The example project pins none by
# default and names `v0.6.3` as the one to pin (platformio.ini `custom_ncp.firmware_ver`).
NCP_FIRMWARE_VERSION = "0.6.3"

# UNCONFIRMED: the NCP's UART speed after its boot. The protocol document says "38400 8N1 (or 115200 in some
# variants)"; the host tries 38400 first, so a 38400 NCP answers the first ping.
NCP_INITIAL_BAUD = 38400

# UNCONFIRMED: the `%u us` of `NCP responding (baud B, N us)`: micros() around one ping. We count the ping and
# its result on the wire (9 + 8 bytes, 10 bits each) plus this much NCP turnaround.
NCP_PING_TURNAROUND_US = 300

# UNCONFIRMED: the provisioning transport. Real NINA-W102 builds provision over BLE (README table of
# Blynk-NCP-Example-Arduino: Nano 33 IoT / MKR WiFi 1010 "BLE"); the lab's phone is Wi-Fi only, so the
# emulated NCP offers the Wi-Fi AP transport its builds for modules without BLE use (e.g. pico_esp8266).
NCP_PROVISIONING_OVER_WIFI_AP = True

# UNCONFIRMED: what the NCP's access point serves. The NCP's states match Edgent-Arduino 0.9's (spec §2.6:
# IDLE, CONFIG, CONNECTING NET/CLOUD, RUNNING, OTA, ERROR), which suggests its Blynk.Inject Wi-Fi AP code, but
# no capture exists; we serve the legacy Edgent API and SSID rule (spec §2.2-§2.5), which the lab's phone
# speaks, with `fw_type`/`fw_ver` of the host firmware (`rpc_blynk_setFirmwareInfo`). Settle with a capture of
# a Blynk.NCP AP's `/board_info.json`, its SSID and the app's `/config` request.
NCP_SERVES_LEGACY_EDGENT_API = True

# UNCONFIRMED: the NCP's info message. BlynkApiArduino.h:24-28 puts `ncp <BLYNK_NCP_VERSION>` where others put
# `mcu`; we fill `fw-type`, `build` and `blynk` with what the host sent in `setFirmwareInfo` (the reason that
# call exists) and `dev` with the NCP's own `BLYNK_INFO_DEVICE` ("ESP32").
NCP_INFO_USES_HOST_FIRMWARE_INFO = True

# UNCONFIRMED: the NCP reports state changes (`client.blynkStateChange`) only once `blynk.initialize` ran; its
# NOT_INITIALIZED at boot is not sent. A NCP reboot (after `Restarting after error.`) sends
# `RPC_EVENT_NCP_REBOOTING` first, so the host re-initializes it (`Reinitializing NCP...`).
NCP_REPORTS_STATES_AFTER_INITIALIZE = True

# UNCONFIRMED: where and how the NCP keeps its configuration. We keep the legacy 212-byte blob (spec §3) in the
# NINA's flash, with the same load/save/last_error rules; Edgent-Arduino 0.9 keeps Preferences keys instead
# (spec §3.5). Nothing of it is visible on the host's serial port, so only `/board_info.json` shows the difference.
NCP_CONFIG_STORE_LEGACY_BLOB = True

# UNCONFIRMED: a Blynk.Air `ota` INTERNAL reaching the NCP updates the NCP itself (the host prints
# `State: NCP Upgrade`, then `Reinitializing NCP...` after its reboot). The host MCU's own update
# (`client.otaUpdateAvailable/Write/Finish`, src/utility/BlynkNcpOtaImpl.h) is not emulated.
NCP_OTA_UPDATES_THE_NCP = True

# --- ESP-IDF Edgent log format (protocol/log_formats.py) ---------------------------------------------------
# Read from Blynk-Technologies/Edgent-ESP-IDF v1.0.0 (`lib/edgent_core_esp32_v5.5.2.a`, `edgent.c.obj` strings:
# `I (%lu) %s: State: \x1b[1m%s => %s\x1b[0m`) and its README's "Expected device log".

# ESP-IDF Edgent's `IDLE` (initialised, not started; or config window over with nothing configured) has no state in
# the legacy machine. We read it as INIT: like INIT it is "no mode yet", its first line at boot is
# `IDLE => CONNECTING_NET` as the legacy `INIT => CONNECTING_NET`, and a board resting in it is `booted` to the
# lab's strategy. The printed names stay on the event (`StateChange.printed`).
IDF_IDLE_STATE = "INIT"

# UNCONFIRMED: the log tag is the source file's name (`edgent.c`, `nm_wifi.c`): the README's example log shows
# those tags and each object carries only its `./components/blynk__edgent/src_lib/<file>.c` path as a string, but
# the code that derives the tag is closed (a precompiled library). We also accept a tag with a path before the
# file name.
IDF_TAG_IS_SOURCE_FILE_NAME = True

# --- Board families (issue #16): edgent-esp8266 and edgent-wio-terminal ---------------------------------
# Each choice stands where neither the spec nor the sketch settles a fact.

# §2.5, Edgent_ESP8266/ConfigMode.h: the chunked `/wifi_scan.json` follows the ESP8266WebServer of core 3.x
# (`Accept-Ranges: none`, `Transfer-Encoding: chunked`, one chunk per `sendContent()`, the empty chunk from
# `_finalizeResponse()`); to an HTTP/1.0 client the body has no length and ends with the connection.
ESP8266_SCAN_CHUNKED_LIKE_CORE_3 = True

# §3.2: the ESP8266 `EEPROM.commit()` (and the Wio's SFUD erase + write) rewrites the 212 bytes in order, so
# a power cut at byte k leaves the first k new bytes and 0xFF after them (`flash.WriteModel.EEPROM_SEQUENTIAL`).
EEPROM_CUT_LEAVES_ERASED_TAIL = True

# Edgent_ESP8266/ConfigMode.h: `WiFi.softAPIP() == 0` (last_error 704) and `!WiFi.begin()` (700) are never
# emulated: the emulated soft-AP always has its address and `WiFi.begin()` returns a non-zero status for any
# stored SSID (core 3.x returns WL_CONNECT_FAILED = 4, which the sketch's `!` does not catch).
ESP8266_AP_AND_BEGIN_NEVER_FAIL = True

# BlynkSimpleEsp8266_SSL.h: the secure client waits for an NTP time and logs `Current time: <asctime UTC>`.
# The emulated board's NTP time is this epoch (2026-01-01 00:00:00 UTC) plus its uptime: device time only,
# never the host's clock.
NTP_EPOCH = 1_767_225_600

# Edgent_ESP8266/OTA.h `Update.begin(contentLength)`: the update must fit the free sketch space. We model the
# "4MB (FS:2MB OTA:~1019KB)" layout: an update of more than 1019 KiB prints `ERROR[4]: Not Enough Space`.
ESP8266_OTA_SPACE_KB = 1019

# Edgent_ESP8266/OTA.h with https: the NTP wait before the TLS connect is not emulated (it would only delay),
# and the OTA TLS client trusts the lab CA like the cloud client (`TLS_TRUSTS_LAB_CA`).
ESP8266_OTA_NTP_WAIT_EMULATED = False

# Edgent_ESP8266/Console.h `status`: `ESP.getResetReason()` is `Power On` on the first boot of the emulated
# board and `Software/System restart` after any later boot (the emulator does not track EN-pin resets).
ESP8266_RESET_REASON_FROM_BOOT_COUNT = True

# ESP8266HTTPUpdateServer's page at GET /update is paraphrased (`HTTP_PAGES_PARAPHRASED`); its POST answers
# (`Update error: ERROR[n]: …`, the success page) are exact. The upload is checked as `Update.end()` does
# (no data, magic byte 0xE9 or gzip); the size limit is `ESP8266_OTA_SPACE_KB`.
ESP8266_UPDATE_SERVER_CHECKS_LIKE_UPDATER = True

# Edgent_Wio_Terminal: `rpc_system_version()` prints "2.1.2" (the RTL8720DN firmware Seeed's wiki asks for),
# and InternalStorage holds 248 KiB (half of the 512 KiB flash after the 16 KiB bootloader).
WIO_WIFI_FW = "2.1.2"
WIO_OTA_SPACE_KB = 248

# Edgent_Wio_Terminal/BlynkEdgent.h: `indicator_init()` is commented out, so the emulated LED stays dark in
# every state (the sketch never starts the indicator timer).
WIO_LED_DARK = True

# BlynkSimpleEsp8266_SSL.h: a failed TLS connect logs `SSL error: <getLastSSLError()>` when BearSSL has an error
# code, else `Connection failed`. We log BR_ERR_X509_NOT_TRUSTED (62) when the cloud's certificate does not chain
# to the trusted CA, and `Connection failed` for every other failure (refused, timed out, reset).
ESP8266_UNTRUSTED_SSL_ERROR = 62
