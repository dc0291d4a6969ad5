"""The topic scheme of the Blynk MQTT device API (spec §7): uplinks the stub understands, downlink names.

Topics are relative to the device: the token in the CONNECT password says which device, so every device
publishes `ds/Temperature` and receives `downlink/ds/Temperature` for itself only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

MAX_MESSAGE = 1024  # bytes per message, headers included (spec §7 "limits")
DOWNLINK_PREFIX = "downlink/"
ALWAYS_DELIVERED = ("downlink/ota/", "downlink/redirect", "downlink/diag")  # even without a subscription


class Uplink(Enum):
    INFO_MCU = "info/mcu"
    DATASTREAM = "ds/<name>"
    DATASTREAM_ERASE = "ds/<name>/erase"
    DATASTREAM_TIMESTAMPED = "ds/<name>/timestamped_batch"
    DATASTREAM_PROPERTY = "ds/<name>/prop/<property>"
    BATCH = "batch_ds"
    EVENT = "event/<code>"
    META = "meta/<field>"
    GET_DS = "get/ds"
    GET_DS_ALL = "get/ds/all"
    GET_META = "get/meta"
    GET_UTC = "get/utc/all/json"
    GET_LOCATION = "get/loc/all"
    UNKNOWN = "?"


@dataclass(frozen=True)
class UplinkTopic:
    kind: Uplink
    name: str = ""  # the datastream name, event code or metafield name the topic carries


_FIXED = {
    "info/mcu": Uplink.INFO_MCU,
    "batch_ds": Uplink.BATCH,
    "get/ds": Uplink.GET_DS,
    "get/ds/all": Uplink.GET_DS_ALL,
    "get/meta": Uplink.GET_META,
    "get/utc/all/json": Uplink.GET_UTC,
    "get/loc/all": Uplink.GET_LOCATION,
}


@lru_cache(maxsize=4096)  # devices repeat the same few topics thousands of times a second
def parse_uplink(topic: str) -> UplinkTopic:
    """What a device's PUBLISH topic means."""
    if topic in _FIXED:
        return UplinkTopic(_FIXED[topic])
    head, _, rest = topic.partition("/")
    if not rest:
        return UplinkTopic(Uplink.UNKNOWN, topic)
    if head == "event":
        return UplinkTopic(Uplink.EVENT, rest)
    if head == "meta":
        return UplinkTopic(Uplink.META, rest)
    if head == "ds":
        name, _, tail = rest.partition("/")
        if not tail:
            return UplinkTopic(Uplink.DATASTREAM, name)
        if tail == "erase":
            return UplinkTopic(Uplink.DATASTREAM_ERASE, name)
        if tail == "timestamped_batch":
            return UplinkTopic(Uplink.DATASTREAM_TIMESTAMPED, name)
        if tail.startswith("prop/"):
            return UplinkTopic(Uplink.DATASTREAM_PROPERTY, name)
    return UplinkTopic(Uplink.UNKNOWN, topic)


def subscription_allowed(topic_filter: str) -> bool:
    """Only under `downlink/`, only a trailing `#` wildcard, no `+` (spec §7 "limits")."""
    if not (topic_filter.startswith(DOWNLINK_PREFIX) or topic_filter == "downlink"):
        return False
    if "+" in topic_filter:
        return False
    return "#" not in topic_filter or (topic_filter.endswith("/#") and topic_filter.count("#") == 1)


def filter_matches(topic_filter: str, topic: str) -> bool:
    if topic_filter.endswith("/#"):
        base = topic_filter[:-2]
        return topic == base or topic.startswith(base + "/")
    return topic_filter == topic


def delivered_without_subscription(topic: str) -> bool:
    return topic.startswith(ALWAYS_DELIVERED)
