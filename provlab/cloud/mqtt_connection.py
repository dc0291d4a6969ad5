"""One device's MQTT connection as the stub sees it: its broker client id, subscriptions and downlinks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from provlab.cloud.mqtt_topics import delivered_without_subscription, filter_matches
from provlab.cloud.ota import OtaOffer
from provlab.cloud.presence import DEAD_PEER, CloseReason, Presence, Transport
from provlab.cloud.rate_limits import MessageQuota
from provlab.cloud.records import Device

Publisher = Callable[[str, str, bytes, int], None]  # (client id, topic, payload, qos)


class MqttConnection:
    """A logged-in MQTT device connection; the session's `DeviceLink`."""

    def __init__(
        self,
        client_id: str,
        device: Device,
        writer: asyncio.StreamWriter,
        peer: str,
        quota: MessageQuota,
        publisher: Publisher,
    ) -> None:
        self.client_id = client_id
        self.device = device
        self.writer = writer
        self.peer = peer
        self.quota = quota
        self.publisher = publisher
        self.subscriptions: set[str] = set()
        self.presence: Presence | None = None
        self.close_reason = CloseReason.DEVICE_CLOSED
        self.closed = False
        self.undelivered = 0  # downlinks skipped because the device had not subscribed to them

    def subscribed(self, topic: str) -> bool:
        return any(filter_matches(f, topic) for f in self.subscriptions)

    def publish(self, topic: str, payload: bytes = b"", qos: int = 0) -> bool:
        """Send a downlink if the device subscribed to it (OTA, redirect and diag always go)."""
        if self.closed:
            return False
        if not delivered_without_subscription(topic) and not self.subscribed(topic):
            self.undelivered += 1
            return False
        self.publisher(self.client_id, topic, payload, qos)
        return True

    def push_pin(self, pin: str, name: str, values: Sequence[str]) -> None:
        self.publish(f"downlink/ds/{name}", "\0".join(values).encode("utf-8"))

    def redirect(self, host: str, port: int) -> None:
        scheme = (
            "mqtts" if self.presence is not None and self.presence.transport is Transport.MQTTS else "mqtt"
        )
        self.publish("downlink/redirect", f"{scheme}://{host}:{port}".encode())

    def ping(self) -> None:
        self.publish("downlink/ping", b"", qos=1)

    def reconfigure(self) -> None:
        self.publish("downlink/reconfigure", b"")

    def ota(self, offer: OtaOffer) -> bool:
        """`downlink/ota/json` (spec §7), delivered without a subscription."""
        return self.publish("downlink/ota/json", offer.mqtt_json())

    def close(self, reason: CloseReason) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        if reason in DEAD_PEER or reason is CloseReason.SERVER_STOP:
            # No polite close (TLS close_notify) with a peer that is gone, nor when the stub stops: amqtt's
            # shutdown would wait seconds for goodbyes from boards that lost power without a word.
            self.writer.transport.abort()
        else:
            self.writer.close()
