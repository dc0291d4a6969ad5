"""The stub's outgoing mail: an SMTP sender, and a mail sink (aiosmtpd) the stub can run itself on loopback.

The lab reads what the stub sent from the sink's mailbox (`MailSink.messages`, `wait_for`).
"""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any
from urllib.parse import urlsplit

from aiosmtpd.smtp import SMTP, Envelope, Session

FROM_ADDRESS = "no-reply@provlab.test"


@dataclass(frozen=True)
class Mail:
    """One message as the sink received it."""

    sender: str
    recipients: tuple[str, ...]
    subject: str
    body: str


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        parsed = BytesParser(policy=default_policy).parsebytes(data)
        assert isinstance(parsed, EmailMessage)
        part = parsed.get_body(("plain",))
        body = part.get_content() if part is not None else ""
        self.sink.receive(
            Mail(str(envelope.mail_from), tuple(envelope.rcpt_tos), str(parsed["Subject"] or ""), str(body))
        )
        return "250 Message accepted for delivery"


class MailSink:
    """An SMTP server on 127.0.0.1 that keeps every message it gets, on the caller's event loop."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.messages: list[Mail] = []
        self._server: asyncio.base_events.Server | None = None
        self._arrived = asyncio.Event()

    async def start(self, port: int = 0) -> int:
        handler = _Handler(self)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(handler, hostname="provlab-sink"), self.host, port)
        self._server = server
        self.port = int(server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def receive(self, mail: Mail) -> None:
        self.messages.append(mail)
        self._arrived.set()

    def mailbox(self, recipient: str) -> list[Mail]:
        return [m for m in self.messages if recipient.lower() in (r.lower() for r in m.recipients)]

    async def wait_for(self, recipient: str, timeout: float) -> Mail:
        """The newest message to `recipient`, waiting up to `timeout` wall seconds for one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.mailbox(recipient):
            self._arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no mail to {recipient} within {timeout} s ({len(self.messages)} in the sink)")
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                continue
        return self.mailbox(recipient)[-1]


class Mailer:
    """Sends mail to an SMTP server given as `smtp://host:port`."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "smtp" or not parts.hostname:
            raise ValueError(f"SMTP server must be smtp://host:port, got {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 25

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = FROM_ADDRESS
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        await asyncio.to_thread(self._send_blocking, message)

    def _send_blocking(self, message: Any) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.send_message(message)
