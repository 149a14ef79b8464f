"""A real SMTP server (aiosmtpd) on loopback for the tests that send mail, and Django pointed at it.

Django's test runner swaps in its in-memory mail backend; ``smtp_server`` puts the SMTP backend
back, so mail goes through ``smtplib`` to a server in this process and is read as received.
"""

import email
import email.policy
import logging

import pytest
from aiosmtpd.controller import Controller

from tests.loopback import free_port


class Mailbox:
    """What the server received: parsed messages, in order."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        message.envelope_recipients = list(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address):
        """The messages delivered to ``address``."""
        return [m for m in self.messages if address in m.envelope_recipients]

    @staticmethod
    def body(message):
        return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def smtp_server(settings):
    """A fresh SMTP server on 127.0.0.1 that Django sends through; yields its :class:`Mailbox`."""
    mailbox = Mailbox()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = controller.hostname, controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    mailbox.port = controller.port
    try:
        yield mailbox
    finally:
        controller.stop()
