"""The amqtt plugin that makes the embedded broker speak the Blynk MQTT device API.

The broker itself never decides who a device is: `MqttBroker` checks the token before it hands a
connection over, and this plugin only lets in client ids it was told about. It also keeps devices apart
(no PUBLISH is ever forwarded from one client to another: every device uses the same topic names) and
hands uplinks and subscriptions to the stub.
"""

from __future__ import annotations

from typing import Any, Protocol

from amqtt.contexts import Action  # type: ignore[import-untyped]
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin  # type: ignore[import-untyped]

from provlab.cloud.mqtt_topics import subscription_allowed


class PluginHost(Protocol):
    """What the plugin needs from the stub's MQTT side."""

    def knows_client(self, client_id: str) -> bool: ...

    def on_uplink(self, client_id: str, topic: str, payload: bytes) -> None: ...

    def on_subscribed(self, client_id: str, topic_filter: str) -> None: ...

    def on_unsubscribed(self, client_id: str, topic_filter: str) -> None: ...


class DeviceApiPlugin(BaseAuthPlugin, BaseTopicPlugin):  # type: ignore[misc]
    """Authentication, topic rules and uplink events for device clients."""

    host: PluginHost | None = None

    async def authenticate(self, *, session: Any) -> bool:
        return self.host is not None and self.host.knows_client(str(session.client_id))

    async def topic_filtering(
        self, *, session: Any = None, topic: str | None = None, action: Any = None
    ) -> bool:
        if action == Action.SUBSCRIBE:
            return topic is not None and subscription_allowed(topic)
        return False  # PUBLISH is consumed by the stub, never broadcast; RECEIVE is never granted

    async def on_broker_message_received(self, *, client_id: str, message: Any) -> None:
        if self.host is not None and message is not None and message.topic:
            self.host.on_uplink(client_id, str(message.topic), bytes(message.data or b""))

    async def on_broker_client_subscribed(self, *, client_id: str, topic: str, qos: int) -> None:
        if self.host is not None:
            self.host.on_subscribed(client_id, topic)

    async def on_broker_client_unsubscribed(self, *, client_id: str, topic: str) -> None:
        if self.host is not None:
            self.host.on_unsubscribed(client_id, topic)
