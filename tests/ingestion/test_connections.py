"""Twilio Flex connections: validation per field, secrets encrypted at rest and never audited, the
metadata labels, the ingestion source as an actor, and ``manage.py twilio_flex create|list``."""

import json

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection as db
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from accounts.actors import acting_for, user_actor
from accounts.models import AuditEvent
from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, INGEST_CONTENT, MANAGE_INTEGRATIONS
from core import secrets
from ingestion import services, validation
from ingestion.actors import connection_actor
from ingestion.models import MetadataLabel, TwilioFlexConnection
from tests.fake_twilio import new_rsa_key, sid
from tests.ingestion.conftest import OPERATOR, connection_fields

pytestmark = pytest.mark.django_db


def _raw(connection_id, column):
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM ingestion_twilioflexconnection WHERE id = %s", [connection_id])
        return cursor.fetchone()[0]


def test_secrets_are_encrypted_at_rest_and_never_in_the_audit_trail(acme, twilio, rsa_key):
    _, pem, cr = rsa_key
    connection, webhook_secret = services.create_connection(
        acme.pk,
        OPERATOR,
        **connection_fields(
            twilio, public_key_sid=cr, private_key=pem, webhook_url="https://hooks.example.com/holdfast"
        ),
    )
    assert webhook_secret.startswith("whsec_")
    stored = {
        c: _raw(connection.pk, c) for c in ("auth_token_encrypted", "private_key_encrypted", "webhook_secret_encrypted")
    }
    assert twilio.auth_token not in stored["auth_token_encrypted"]
    assert "PRIVATE KEY" not in stored["private_key_encrypted"]
    assert webhook_secret not in stored["webhook_secret_encrypted"]
    assert secrets.decrypt(stored["auth_token_encrypted"]) == twilio.auth_token
    assert secrets.decrypt(stored["private_key_encrypted"]) == pem.strip()
    events = json.dumps(list(AuditEvent.objects.filter(tenant=acme).values("reason", "details")))
    assert twilio.auth_token not in events and "PRIVATE KEY" not in events and webhook_secret not in events
    event = AuditEvent.objects.get(tenant=acme, kind=AuditEvent.Kind.INTEGRATION_CREATED)
    assert event.details["encryption"] is True and event.details["account_sid"] == twilio.account_sid


def test_secrets_rotate_to_a_new_key(acme, twilio, settings):
    from cryptography.fernet import Fernet

    connection, _ = services.create_connection(acme.pk, OPERATOR, **connection_fields(twilio))
    old = settings.HOLDFAST_SECRET_KEYS
    settings.HOLDFAST_SECRET_KEYS = [Fernet.generate_key().decode(), *old]
    call_command("twilio_flex", "rotate-secrets")
    settings.HOLDFAST_SECRET_KEYS = settings.HOLDFAST_SECRET_KEYS[:1]  # the old key retired
    assert secrets.decrypt(_raw(connection.pk, "auth_token_encrypted")) == twilio.auth_token


def test_without_keys_nothing_is_saved(acme, twilio, settings):
    settings.HOLDFAST_SECRET_KEYS, settings.DEBUG = [], False
    with pytest.raises(secrets.SecretsUnavailable, match="HOLDFAST_SECRET_KEYS is not set"):
        services.create_connection(acme.pk, OPERATOR, **connection_fields(twilio))
    assert not TwilioFlexConnection.objects.exists()


BAD_FIELDS = [
    ({"name": ""}, "name", "Name: enter a name"),
    ({"account_sid": "AC123"}, "account_sid", "Twilio Account SID: “AC123” is not a SID"),
    ({"account_sid": "XX" + "a" * 32}, "account_sid", "must be “AC” followed by 32 hexadecimal digits"),
    ({"workspace_sid": "WS" + "z" * 32}, "workspace_sid", "Twilio Flex Workspace SID"),
    ({"auth_token": ""}, "auth_token", "Twilio Auth Token: enter"),
    ({"time_zone": "Mars/Olympus"}, "time_zone", "Time Zone: “Mars/Olympus” is not a time zone"),
    ({"agent_name_format": "nick"}, "agent_name_format", "Agent Name Format: choose one of"),
    ({"voice_enabled": False, "digital_enabled": False}, "products", "Products Enabled: choose"),
    ({"public_key_sid": "CR1"}, "public_key_sid", "Public Key SID: “CR1” is not a SID"),
    ({"public_key_sid": "CR" + "1" * 32}, "private_key", "Private Key: paste the PKCS#8 private key"),
    ({"public_key_sid": "CR" + "1" * 32, "private_key": "hello"}, "private_key", "paste a PKCS#8 PEM private key"),
    ({"webhook_url": "ftp://example.com/x"}, "webhook_url", "Event Webhook URL: enter an absolute URL"),
    ({"webhook_url": "http://example.com/x"}, "webhook_url", "use https"),
    ({"webhook_url": "/relative"}, "webhook_url", "Event Webhook URL: enter an absolute URL"),
    ({"webhook_url": "https://user:pw@example.com/"}, "webhook_url", "credentials in the URL"),
    ({"metadata_mapping": [["a.b.c", "Segment"]]}, "metadata_mapping", "nested more than one level"),
    ({"metadata_mapping": [["segment", "Nope"]]}, "metadata_mapping", "there is no metadata label “Nope”"),
    ({"metadata_mapping": [["segment", "Score"]]}, "metadata_mapping", "“Score” is not of type Text"),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_FIELDS)
def test_bad_input_names_the_field_and_saves_nothing(acme, twilio, overrides, field, message):
    services.create_metadata_label(acme.pk, OPERATOR, name="Segment")
    services.create_metadata_label(acme.pk, OPERATOR, name="Score", metadata_type="number")
    with pytest.raises(ValidationError) as caught:
        services.create_connection(acme.pk, OPERATOR, **connection_fields(twilio, **overrides))
    assert field in caught.value.message_dict
    assert any(message in text for text in caught.value.message_dict[field]), caught.value.message_dict
    assert not TwilioFlexConnection.objects.exists()
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.INTEGRATION_CREATED).exists()


def test_private_keys_are_parsed_on_save(acme, twilio):
    small_key, small_pem = new_rsa_key(1024)
    pkcs1 = small_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    cases = [
        (small_pem, "1024 bits"),
        (pkcs1, "PKCS#1"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "cannot be read"),
    ]
    for pem, message in cases:
        with pytest.raises(ValidationError, match=message):
            services.create_connection(
                acme.pk, OPERATOR, **connection_fields(twilio, public_key_sid=sid("CR"), private_key=pem)
            )


def test_http_webhooks_only_to_loopback_in_development(settings):
    settings.DEBUG = False
    assert validation.webhook_url_error("http://127.0.0.1:9000/hook")
    settings.DEBUG = True
    assert validation.webhook_url_error("http://127.0.0.1:9000/hook") is None
    assert validation.webhook_url_error("http://[::1]:9000/hook") is None
    assert validation.webhook_url_error("http://example.com/hook")
    assert validation.webhook_url_error("https://example.com/hook") is None


_part = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)


@hsettings(max_examples=60, deadline=None)
@given(parts=st.lists(_part, min_size=1, max_size=4))
def test_mapping_depth_at_most_one_level_below_an_object(parts):
    errors = validation.mapping_errors([(".".join(parts), "Segment")], {"Segment"})
    if len(parts) <= 2:
        assert errors == []
    else:
        assert len(errors) == 1 and "nested more than one level" in errors[0]


@hsettings(max_examples=60, deadline=None)
@given(text=st.text(max_size=40))
def test_any_attribute_text_is_accepted_or_refused_with_a_message(text):
    errors = validation.mapping_errors([(text, "Segment")], {"Segment"})
    assert all(e.startswith("Metadata Mapping:") for e in errors)


def test_update_keeps_write_only_secrets_and_audits_which_changed(acme, twilio, rsa_key):
    _, pem, cr = rsa_key
    connection, _ = services.create_connection(
        acme.pk, OPERATOR, **connection_fields(twilio, public_key_sid=cr, private_key=pem)
    )
    token_before = _raw(connection.pk, "auth_token_encrypted")
    services.update_connection(connection.pk, OPERATOR, name="Flex EU", auth_token="", private_key="")
    assert _raw(connection.pk, "auth_token_encrypted") == token_before
    assert secrets.decrypt(_raw(connection.pk, "private_key_encrypted")) == pem.strip()
    services.update_connection(connection.pk, OPERATOR, auth_token="new-token-value")
    event = AuditEvent.objects.filter(kind=AuditEvent.Kind.INTEGRATION_CHANGED).order_by("-seq").first()
    assert event.details["secrets"] == {"auth_token": "replaced"} and "new-token-value" not in json.dumps(event.details)
    services.update_connection(connection.pk, OPERATOR, clear_encryption=True)
    connection.refresh_from_db()
    assert not connection.private_key_encrypted and not connection.public_key_sid


def test_metadata_labels_in_use_cannot_be_removed(acme, twilio):
    label = services.create_metadata_label(acme.pk, OPERATOR, name="Segment")
    with pytest.raises(ValidationError, match="exists already"):
        services.create_metadata_label(acme.pk, OPERATOR, name="segment")
    services.create_connection(
        acme.pk, OPERATOR, **connection_fields(twilio, metadata_mapping=[["customers.segment", "Segment"]])
    )
    with pytest.raises(ValidationError, match="mapped by Flex US"):
        services.delete_metadata_label(label.pk, OPERATOR)
    assert MetadataLabel.objects.filter(pk=label.pk).exists()


def test_only_administrators_manage_integrations(acme, twilio, member):
    admin, compliance = member(acme, ADMINISTRATOR), member(acme, COMPLIANCE_OFFICER)
    assert user_actor(admin).may(acme, MANAGE_INTEGRATIONS)
    with pytest.raises(PermissionDenied, match="MANAGE_INTEGRATIONS"):
        services.create_connection(acme.pk, user_actor(compliance), **connection_fields(twilio))
    connection, _ = services.create_connection(acme.pk, user_actor(admin), **connection_fields(twilio))
    assert connection.created_by == admin.username


def test_the_connection_is_an_ingestion_actor_bound_to_its_tenant(make_connection, acme, globex):
    connection = make_connection()
    actor = connection_actor(connection)
    assert actor.kind == "ingestion" and actor.may(acme, INGEST_CONTENT)
    assert not actor.may(globex, INGEST_CONTENT) and not actor.may(acme, MANAGE_INTEGRATIONS)
    run = services.start_ingestion(connection.pk, OPERATOR, trigger="command", enqueue=False)
    restored = acting_for(run)
    assert restored.label == "Twilio Flex “Flex US”" and restored.may(acme, INGEST_CONTENT)
    connection.runs.all().delete()
    services.delete_connection(connection.pk, OPERATOR)
    assert not acting_for(run).may(acme, INGEST_CONTENT)  # a deleted connection holds nothing


def test_command_create_prints_the_id(acme, twilio, rsa_key, tmp_path, capsys):
    _, pem, cr = rsa_key
    key_file = tmp_path / "key.pem"
    key_file.write_text(pem)
    services.create_metadata_label(acme.pk, OPERATOR, name="Segment")
    call_command(
        "twilio_flex",
        "create",
        "--tenant",
        "acme",
        "--name",
        "Flex",
        "--account-sid",
        twilio.account_sid,
        "--auth-token",
        "tok",
        "--workspace-sid",
        twilio.workspace_sid,
        "--voice",
        "--digital",
        "--public-key-sid",
        cr,
        "--private-key-file",
        str(key_file),
        "--map",
        "customers.segment=Segment",
        "--delete-source",
    )
    printed = capsys.readouterr().out.strip()
    connection = TwilioFlexConnection.objects.get(pk=int(printed))
    assert connection.has_encryption and connection.delete_source and connection.digital_enabled
    assert connection.metadata_mapping == [["customers.segment", "Segment"]]
    assert connection.time_zone == acme.time_zone
    call_command("twilio_flex", "list", "--tenant", "acme")
    assert "Flex" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--account-sid", "AC1"], "--account-sid: Twilio Account SID"),
        (["--workspace-sid", "WSx"], "--workspace-sid: Twilio Flex Workspace SID"),
        (["--map", "novalue"], "--map: “novalue” is not ATTRIBUTE=LABEL"),
        (["--map", "a.b.c=Segment"], "--map: Metadata Mapping: “a.b.c” is nested"),
        (["--webhook-url", "http://example.com"], "--webhook-url: Event Webhook URL"),
        (["--private-key-file", "/nonexistent.pem", "--public-key-sid", "CR" + "0" * 32], "--private-key-file: cannot"),
        (["--time-zone", "Nowhere"], "--time-zone: Time Zone"),
    ],
)
def test_command_bad_input_names_the_option(acme, twilio, extra, option):
    args = [
        "--tenant",
        "acme",
        "--name",
        "Flex",
        "--account-sid",
        twilio.account_sid,
        "--auth-token",
        "tok",
        "--workspace-sid",
        twilio.workspace_sid,
    ]
    # argparse keeps the last of a repeated option, so ``extra`` replaces the good value.
    with pytest.raises(CommandError, match=option.replace("(", r"\(")) as caught:
        call_command("twilio_flex", "create", *args, *extra)
    assert caught.value.returncode == 1
    assert not TwilioFlexConnection.objects.exists()


def test_command_refuses_an_unknown_id_and_a_bad_since(make_connection):
    with pytest.raises(CommandError, match="ID: no Twilio Flex connection '99'"):
        call_command("twilio_flex", "test", "99")
    connection = make_connection()
    with pytest.raises(CommandError, match="--since: 'yesterday' is not an ISO 8601 time"):
        call_command("twilio_flex", "ingest", str(connection.pk), "--since", "yesterday")
    assert not connection.runs.exists()
