"""Fixtures of the ingestion tests: a fake Twilio on loopback and connections made through the service."""

import pytest

from accounts.actors import operator
from ingestion import services
from tests.fake_twilio import FakeTwilio, new_rsa_key, sid

OPERATOR = operator("tests")


@pytest.fixture
def twilio(settings):
    """A fake Twilio that every Twilio domain is routed to (``TWILIO_API_BASE_URL``); short backoff."""
    fake = FakeTwilio().start()
    settings.TWILIO_API_BASE_URL = fake.url
    settings.TWILIO_BACKOFF_SECONDS = 0.05
    settings.TWILIO_BACKOFF_MAX_SECONDS = 3
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def rsa_key():
    """``(private key, PKCS#8 PEM, public key SID)`` of a recording encryption key (made once)."""
    key, pem = new_rsa_key()
    return key, pem, sid("CR")


def connection_fields(twilio, **overrides):
    fields = {
        "name": "Flex US",
        "account_sid": twilio.account_sid,
        "auth_token": twilio.auth_token,
        "workspace_sid": twilio.workspace_sid,
        "voice_enabled": True,
        "digital_enabled": True,
    }
    fields.update(overrides)
    return fields


@pytest.fixture
def make_connection(acme, twilio):
    """``make_connection(**fields)`` → a connection of ``acme`` on the fake Twilio (service-made)."""

    def make(tenant=None, **overrides):
        connection, _ = services.create_connection(
            (tenant or acme).pk, OPERATOR, **connection_fields(twilio, **overrides)
        )
        return connection

    return make
