"""The shop's mail: sent in the background through SMTP, retried, or written to the log without SMTP."""

import logging

import aiosmtplib
import pytest

from burts_books.infra.mail import LOG_MARKER, LogMailer, Mail, Mailer, SmtpMailer
from tests.mail_server import MailCatcher, body_of
from tests.waiting import until

SENDER = "Burt's Books <shop@burts-books.example>"


async def delivered(mail: Mail):
    """`mail` sent through a real SMTP server: what that server received."""
    with MailCatcher() as server:
        mailer = SmtpMailer(server.url, SENDER)
        mailer.send(mail)
        await until(lambda: server.messages, message="no mail arrived")
        await mailer.close()
    [message] = server.messages
    return message


@pytest.mark.gen_test
async def test_a_mail_arrives_at_the_smtp_server_with_sender_subject_and_text():
    message = await delivered(Mail("reader@example.com", "Your order BB-10427", "Collect it at 12 Bookseller Lane."))
    assert message["From"] == SENDER
    assert message["To"] == "reader@example.com"
    assert message["Subject"] == "Your order BB-10427"
    assert "12 Bookseller Lane" in body_of(message)


@pytest.mark.gen_test
async def test_a_refused_delivery_is_retried_until_it_is_accepted():
    with MailCatcher(refuse=2) as server:
        mailer = SmtpMailer(server.url, SENDER, retry_delays=(0.01, 0.01, 0.01))
        mailer.send(Mail("reader@example.com", "Reset your password", "link"))
        await until(lambda: server.messages, message="the mail was never retried")
        await mailer.close()
    assert len(server.messages) == 1


@pytest.mark.gen_test
async def test_a_mail_no_server_takes_is_given_up_with_an_error_in_the_log(caplog):
    mailer = SmtpMailer("smtp://127.0.0.1:9", SENDER, retry_delays=(0.01,))  # nothing listens on port 9
    with caplog.at_level(logging.WARNING, logger="burts_books.infra.mail"):
        mailer.send(Mail("reader@example.com", "Hello", "text"))  # queued: the caller never waits on SMTP
        assert not caplog.records
        await mailer.close()
    assert [record.levelname for record in caplog.records] == ["WARNING", "ERROR"]  # retried once, then given up
    assert "gave up sending 'Hello' to reader@example.com" in caplog.text


@pytest.mark.gen_test
async def test_a_mail_waiting_for_a_retry_holds_up_no_other(caplog):
    greylisted = "451 4.7.1 greylisted, try again later"
    with MailCatcher(refuse_to={"slow@example.com": greylisted}) as server:
        mailer = SmtpMailer(server.url, SENDER, retry_delays=(30.0,))
        mailer.send(Mail("slow@example.com", "Your order BB-10001", "text"))
        mailer.send(Mail("reader@example.com", "Your order BB-10002", "text"))
        await until(lambda: server.to("reader@example.com"), timeout=5, message="the second mail waited")
        server.refuse_to.clear()  # the greylisting server takes it the next time
        with caplog.at_level(logging.WARNING, logger="burts_books.infra.mail"):
            await mailer.close(timeout=0.5)  # before its retry is due
    assert "retrying in 30 s" in caplog.text and "stopping with 1 mail(s) unsent" in caplog.text
    assert not server.to("slow@example.com")


@pytest.mark.gen_test
async def test_a_mail_refused_for_good_is_given_up_at_once(caplog):
    with MailCatcher(refuse_to={"gone@example.com": "550 5.1.1 no such mailbox"}) as server:
        mailer = SmtpMailer(server.url, SENDER, retry_delays=(0.01, 0.01, 0.01))
        with caplog.at_level(logging.WARNING, logger="burts_books.infra.mail"):
            mailer.send(Mail("gone@example.com", "Back in stock", "text"))
            await mailer.close()
    assert [record.levelname for record in caplog.records] == ["ERROR"]  # not retried
    assert "gave up sending 'Back in stock' to gone@example.com" in caplog.text


class FailingFirst(Mailer):
    """A mail server that fails with `errors`, in turn, before it takes mail."""

    def __init__(self, *errors):
        super().__init__(SENDER, retry_delays=(0.01, 0.01))
        self.errors, self.sent = list(errors), []

    async def deliver(self, message):
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(message)


@pytest.mark.gen_test
async def test_a_refusal_of_the_shop_itself_is_tried_again_not_given_up():
    mailer = FailingFirst(aiosmtplib.SMTPAuthenticationError(535, "authentication failed"),
                          aiosmtplib.SMTPSenderRefused(550, "sender refused", SENDER))
    mailer.send(Mail("reader@example.com", "Your order BB-10001", "text"))
    await mailer.close()
    assert [message["To"] for message in mailer.sent] == ["reader@example.com"]


@pytest.mark.gen_test
async def test_a_subject_naming_a_title_with_a_line_break_is_sent_on_one_line():
    message = await delivered(Mail("reader@example.com", "Back in stock: Programming Collective\nIntelligence", "text"))
    assert message["Subject"] == "Back in stock: Programming Collective Intelligence"


@pytest.mark.gen_test
async def test_without_smtp_the_mail_is_written_to_the_log_with_a_marker(caplog):
    mailer = LogMailer(SENDER)
    with caplog.at_level(logging.INFO, logger="burts_books.infra.mail"):
        mailer.send(Mail("reader@example.com", "Reset your password", "Follow http://shop/reset/abc"))
        await mailer.close()
    assert LOG_MARKER in caplog.text
    assert "To: reader@example.com" in caplog.text
    assert "http://shop/reset/abc" in caplog.text
