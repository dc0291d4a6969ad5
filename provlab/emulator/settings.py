"""The legacy Edgent_ESP32 sketch's `Settings.h` and the library timers it runs on (spec §1.4, §4, §6)."""

from __future__ import annotations

from provlab.protocol import choices

# Settings.h (legacy ESP32, HEAD)
WIFI_CLOUD_MAX_RETRIES = 500
WIFI_NET_CONNECT_TIMEOUT_S = 50.0
WIFI_CLOUD_CONNECT_TIMEOUT_S = 50.0
CONFIG_AP_URL = "blynk.setup"
CONFIG_AP_IP = "192.168.4.1"
BUTTON_HOLD_TIME_INDICATION_S = 3.0
BUTTON_HOLD_TIME_ACTION_S = 10.0
BUTTON_PRESS_TIME_ACTION_S = 0.05

# Edgent_ESP32.ino / ConfigMode.h / BlynkEdgent.h delays
SETUP_SERIAL_DELAY_S = 0.1  # setup(): Serial.begin(115200); delay(100) before BlynkEdgent.begin()
AP_MODE_OFF_DELAY_S = 0.1  # WiFi.mode(WIFI_OFF); delay(100)
AP_MODE_ON_DELAY_S = 2.0  # WiFi.mode(WIFI_AP); delay(2000)
AP_START_DELAY_S = 0.5  # softAP(); delay(500)
SWITCH_TO_STA_DELAY_S = 1.0  # enterSwitchToSTA: delay(1000)
STA_MODE_DELAY_S = 0.1  # WiFi.mode(WIFI_OFF); delay(100); WiFi.mode(WIFI_STA)
CONFIG_MODE_POLL_S = 0.01  # enterConfigMode's loop: delay(10)
ERROR_REBOOT_DELAY_S = 10.0  # enterError: 10 s unless the button is held
CONSOLE_REBOOT_DELAY_S = 0.1  # console `reboot`: restart after 100 ms
ROLLBACK_REBOOT_DELAY_S = 0.05  # console `firmware rollback`: restart after 50 ms
OTA_START_DELAY_S = 2.0  # BLYNK_WRITE(InternalPinOTA): a 2000 ms timer before OTA_UPGRADE
HTTP_UPDATE_REBOOT_DELAY_S = 1.0  # /update: delay(1000) after the reply, then restart
WIFI_JOIN_RETRY_S = choices.WIFI_JOIN_RETRY_S  # how often the STA radio retries inside the 50 s window
LINK_CHECK_S = choices.LINK_CHECK_S  # how soon CONNECTING_CLOUD notices a lost association

# BlynkProtocol.h / BlynkConfig.h
BLYNK_TIMEOUT_S = 6.0  # BLYNK_TIMEOUT_MS: login timeout, minimum ping interval
RECONNECT_INTERVAL_S = 5.0  # a new connect attempt at most every 5 s
TLS_HANDSHAKE_TIMEOUT_S = 30.0  # WiFiClientSecure handshake timeout (BlynkSimpleEsp32_SSL.h)
OTA_HTTP_TIMEOUT_S = choices.OTA_HTTP_TIMEOUT_S  # HTTPClient timeout for the OTA download (UNCONFIRMED)
