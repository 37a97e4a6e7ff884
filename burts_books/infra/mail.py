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
        # One line, whatever the subject names (a title imported with a line break in it): a header
        # with a line break in it can't be sent at all.
        message["Subject"] = " ".join(self.subject.split())
        message.set_content(self.text)
        return message


def permanent(error: Exception) -> bool:
    """Whether trying `error`'s mail again can't help: the server refused this mail's recipient or
    content for good (5xx). A refusal of the shop itself (its sign-in, its sender address, the
    connection) is the shop's to mend, and every mail waits for it."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(permanent(refusal) for refusal in error.recipients)
    return isinstance(error, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError) and error.code >= 500


class Mailer(abc.ABC):
    """Takes mail at once; delivers it from a background task, in order, retrying failures.

    A mail that failed waits for its retry aside, not at the head of the queue: one address whose
    server says "later" (greylisting) must not hold up every other shopper's mail for minutes.
    """

    def __init__(self, sender: str, retry_delays: tuple[float, ...] = RETRY_DELAYS):
        self.sender = sender
        self.retry_delays = retry_delays
        self._queue: asyncio.Queue[tuple[Mail, int]] = asyncio.Queue(QUEUE_LIMIT)  # (mail, attempts made)
        self._worker: asyncio.Task | None = None
        self._retries: set[asyncio.TimerHandle] = set()
        self._unsettled = 0  # mails neither delivered nor given up
        self._settled = asyncio.Event()
        self._settled.set()

    def send(self, mail: Mail) -> None:
        self._unsettled += 1
        self._settled.clear()
        self._enqueue(mail, 0)

    def _enqueue(self, mail: Mail, attempts: int) -> None:
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._deliver_forever())
        try:
            self._queue.put_nowait((mail, attempts))
        except asyncio.QueueFull:
            log.error("mail queue full: dropped %r to %s", mail.subject, mail.to)
            self._settle()

    def _settle(self) -> None:
        self._unsettled -= 1
        if not self._unsettled:
            self._settled.set()

    async def _deliver_forever(self) -> None:
        while True:
            mail, attempts = await self._queue.get()
            await self._attempt(mail, attempts)

    async def _attempt(self, mail: Mail, attempts: int) -> None:
        try:
            await self.deliver(mail.message(self.sender))
        except Exception as error:
            if attempts == len(self.retry_delays) or permanent(error):
                log.error("gave up sending %r to %s: %s", mail.subject, mail.to, error)
            else:
                self._retry_later(mail, attempts, error)
                return
        self._settle()

    def _retry_later(self, mail: Mail, attempts: int, error: Exception) -> None:
        delay = self.retry_delays[attempts]
        log.warning("sending %r to %s failed (%s); retrying in %.0f s", mail.subject, mail.to, error, delay)

        def retry() -> None:
            self._retries.discard(handle)
            self._enqueue(mail, attempts + 1)

        handle = asyncio.get_running_loop().call_later(delay, retry)
        self._retries.add(handle)

    @abc.abstractmethod
    async def deliver(self, message: EmailMessage) -> None: ...

    async def close(self, timeout: float = 5.0) -> None:
        """Send what is queued or due for a retry (for at most `timeout` seconds), then stop."""
        if self._worker is None:
            return
        try:
            await asyncio.wait_for(self._settled.wait(), timeout)
        except TimeoutError:
            log.warning("stopping with %d mail(s) unsent", self._unsettled)
        for handle in self._retries:
            handle.cancel()
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
