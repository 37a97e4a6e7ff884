"""Outgoing mail: queued, sent in the background, retried; never a request's wait.

With `--smtp-url` set, mail goes through that server (`smtp://` with STARTTLS
when the server offers it, `smtps://` for TLS from the first byte, user and
password in the URL). Without it (the embedded default) each mail is written
to the log between marker lines, so a person trying the shop can still
follow a reset link.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import logging
import urllib.parse
from email.message import EmailMessage

import aiosmtplib

from .config import Settings

log = logging.getLogger(__name__)

LOG_MARKER = "----- MAIL (no SMTP configured: written here instead of sent) -----"
RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0)  # then the mail is given up, with an error in the log
QUEUE_LIMIT = 10_000


@dataclasses.dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str

    def message(self, sender: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message.set_content(self.text)
        return message


class Mailer(abc.ABC):
    """Takes mail at once; delivers it from a background task, in order, retrying failures."""

    def __init__(self, sender: str, retry_delays: tuple[float, ...] = RETRY_DELAYS):
        self.sender = sender
        self.retry_delays = retry_delays
        self._queue: asyncio.Queue[Mail] = asyncio.Queue(QUEUE_LIMIT)
        self._worker: asyncio.Task | None = None

    def send(self, mail: Mail) -> None:
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._deliver_forever())
        try:
            self._queue.put_nowait(mail)
        except asyncio.QueueFull:
            log.error("mail queue full: dropped %r to %s", mail.subject, mail.to)

    async def _deliver_forever(self) -> None:
        while True:
            mail = await self._queue.get()
            try:
                await self._deliver_with_retries(mail)
            finally:
                self._queue.task_done()

    async def _deliver_with_retries(self, mail: Mail) -> None:
        for delay in (*self.retry_delays, None):
            try:
                await self.deliver(mail.message(self.sender))
                return
            except Exception as error:
                if delay is None:
                    log.error("gave up sending %r to %s: %s", mail.subject, mail.to, error)
                    return
                log.warning("sending %r to %s failed (%s); retrying in %.0f s", mail.subject, mail.to, error, delay)
                await asyncio.sleep(delay)

    @abc.abstractmethod
    async def deliver(self, message: EmailMessage) -> None: ...

    async def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for at most `timeout` seconds), then stop."""
        if self._worker is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            log.warning("stopping with %d mail(s) unsent", self._queue.qsize())
        self._worker.cancel()
        await asyncio.wait([self._worker])


class LogMailer(Mailer):
    async def deliver(self, message: EmailMessage) -> None:
        log.warning(
            "%s\nTo: %s\nSubject: %s\n\n%s\n%s",
            LOG_MARKER, message["To"], message["Subject"], message.get_content().rstrip(), "-" * len(LOG_MARKER),
        )


class SmtpMailer(Mailer):
    def __init__(self, url: str, sender: str, retry_delays: tuple[float, ...] = RETRY_DELAYS):
        super().__init__(sender, retry_delays)
        parts = urllib.parse.urlsplit(url)
        self._tls = parts.scheme == "smtps"
        self._options = dict(
            hostname=parts.hostname or "localhost",
            port=parts.port or (465 if self._tls else 587),
            username=urllib.parse.unquote(parts.username) if parts.username else None,
            password=urllib.parse.unquote(parts.password) if parts.password else None,
            timeout=30,
        )

    async def deliver(self, message: EmailMessage) -> None:
        # STARTTLS is used whenever an smtp:// server offers it (aiosmtplib's default).
        await aiosmtplib.send(message, use_tls=self._tls, **self._options)  # type: ignore[arg-type]


def make_mailer(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from)
    return LogMailer(settings.mail_from)
