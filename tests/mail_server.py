"""A real SMTP server for the tests (aiosmtpd), on a free loopback port, keeping what it receives."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.shop_process import free_port


class MailCatcher:
    """An SMTP server in a thread of its own; `messages` is every mail it accepted, in order."""

    def __init__(self, *, refuse: int = 0, refuse_to: dict[str, str] | None = None):
        self.messages: list[EmailMessage] = []
        self.refuse = refuse  # how many deliveries to answer with a temporary failure first
        self.refuse_to = refuse_to or {}  # recipients always answered so ("451 ...": greylisted; "550 ...": gone)
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_to:
            return self.refuse_to[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            self.refuse -= 1
            return "451 try again later"
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == address]

    def __enter__(self) -> MailCatcher:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()


def body_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def links_in(message: EmailMessage) -> list[str]:
    return re.findall(r"https?://\S+", body_of(message))
