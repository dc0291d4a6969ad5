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
