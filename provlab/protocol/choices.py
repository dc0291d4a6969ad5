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

# Spec §6 (UNCONFIRMED): `Disconnected` is logged by `Blynk.disconnect()` only when a socket was open. The
# library logs it every time (audit #5); that belongs with the OTA order, which another branch owns.
DISCONNECTED_ONLY_WITH_SOCKET = True

# #10: `/reboot` restarts the chip; we abort the phone's socket (a TCP RST at once) instead of leaving it
# hanging until the client's own timeout or the AP's loss: a dead peer would stall every lab phone for its
# full timeout. Phone code must not rely on either; the lab's phone treats both as "board rebooting".
HTTP_REBOOT_RESETS_SOCKET = True

# #11: `/update` POST edge cases (a file part under another field name, a non-multipart POST answered
# `200 OK`, `[ms]`-prefixed error lines once per failing chunk) are not emulated: the `/update` handler is
# owned by the OTA work (http_update.py), which will revisit them with real image validation.
HTTP_UPDATE_EDGE_CASES_EMULATED = False

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
