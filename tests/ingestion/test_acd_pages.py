"""Configuration > ACD Configuration: Administrators only; create / edit / delete with write-only
secrets; bad input per field; Test Connection's messages; the last run and its errors; labels."""

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from accounts.permissions import ADMINISTRATOR
from config import jobs
from ingestion import services
from ingestion.models import IngestionRun, MetadataLabel, TwilioFlexConnection
from tests.fake_twilio import sid
from tests.ingestion.conftest import OPERATOR
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(acme, member):
    return client_for(member(acme, ADMINISTRATOR))


def form_data(twilio, **overrides):
    data = {
        "name": "Flex US",
        "enabled": "on",
        "account_sid": twilio.account_sid,
        "auth_token": twilio.auth_token,
        "workspace_sid": twilio.workspace_sid,
        "time_zone": "Europe/Paris",
        "agent_name_format": "first_last",
        "voice_enabled": "on",
        "metadata_mapping": "",
        "webhook_url": "",
        "action": "save",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_role_matrix(acme, make_connection):
    connection = make_connection()
    for url in (
        "/t/acme/configuration/acd/",
        "/t/acme/configuration/acd/new/",
        f"/t/acme/configuration/acd/{connection.pk}/",
    ):
        assert_role_matrix(url, acme, allowed={ADMINISTRATOR})


def test_the_menu_shows_it_to_administrators_only(acme, member):
    assert "ACD Configuration" in client_for(member(acme, ADMINISTRATOR)).get("/t/acme/interactions/").content.decode()
    assert (
        "ACD Configuration"
        not in client_for(member(acme, "Compliance Officer")).get("/t/acme/interactions/").content.decode()
    )


def test_create_then_edit_never_shows_secrets_back(admin_client, twilio, rsa_key):
    _, pem, cr = rsa_key
    response = admin_client.post(
        "/t/acme/configuration/acd/new/",
        form_data(
            twilio,
            public_key_sid=cr,
            private_key=pem,
            encryption_name="Main key",
            webhook_url="https://hooks.example.com/holdfast",
        ),
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    connection = TwilioFlexConnection.objects.get()
    secret_shown = response.content.decode()
    assert "whsec_" in secret_shown and response["Cache-Control"] == "private, no-store"
    page = admin_client.get(f"/t/acme/configuration/acd/{connection.pk}/").content.decode()
    assert twilio.auth_token not in page and "PRIVATE KEY" not in page and "whsec_" not in page
    assert "A private key is stored" in page
    # Saving again with the secret fields empty keeps them.
    response = admin_client.post(
        f"/t/acme/configuration/acd/{connection.pk}/",
        form_data(
            twilio,
            name="Flex EU",
            auth_token="",
            public_key_sid=cr,
            encryption_name="Main key",
            webhook_url="https://hooks.example.com/holdfast",
        ),
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.name == "Flex EU" and connection.has_encryption


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "Name: enter a name"),
        ({"account_sid": "AC123"}, "account_sid", "is not a SID"),
        ({"workspace_sid": "nope"}, "workspace_sid", "Twilio Flex Workspace SID"),
        ({"auth_token": ""}, "auth_token", "Twilio Auth Token: enter"),
        ({"time_zone": "Mars/Base"}, "time_zone", "Select a valid choice"),
        ({"voice_enabled": None}, "voice_enabled", "Products Enabled: choose"),
        ({"metadata_mapping": "segment"}, "metadata_mapping", "line 1: “segment” is not ATTRIBUTE=LABEL"),
        ({"metadata_mapping": "a.b.c = Segment"}, "metadata_mapping", "nested more than one level"),
        ({"public_key_sid": "CR" + "0" * 32, "private_key": "nope"}, "private_key", "PKCS#8 PEM"),
        ({"webhook_url": "http://example.com/hook"}, "webhook_url", "use https"),
    ],
)
def test_bad_input_per_field(admin_client, twilio, acme, overrides, field, message):
    MetadataLabel.objects.create(tenant=acme, name="Segment")
    response = admin_client.post("/t/acme/configuration/acd/new/", form_data(twilio, **overrides))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert any(message in text for text in errors.get(field, [])), errors
    assert message.split("“")[0] in response.content.decode().replace("&quot;", '"').replace("&#x27;", "'")
    assert not TwilioFlexConnection.objects.exists()


def test_test_connection_says_exactly_what_failed(admin_client, twilio, settings):
    def test(**overrides):
        response = admin_client.post("/t/acme/configuration/acd/new/", form_data(twilio, action="test", **overrides))
        assert response.status_code == 200
        return response.context["test_result"].message

    assert test().startswith("Connected: account “Fake Flex account”")
    assert test(account_sid="AC1").startswith("Twilio Account SID: “AC1” is not a SID")
    assert test(auth_token="wrong").startswith("Twilio refused the credentials (401 Unauthorized)")
    other = sid("WS")
    assert test(workspace_sid=other) == (
        f"Unknown workspace: account {twilio.account_sid} has no TaskRouter workspace {other} (404)."
    )
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"
    assert test().startswith("Twilio is unreachable: no answer from http://127.0.0.1:9")
    assert not TwilioFlexConnection.objects.exists(), "testing saves nothing"


def test_test_connection_on_edit_uses_the_stored_token(admin_client, twilio, make_connection):
    connection = make_connection()
    response = admin_client.post(
        f"/t/acme/configuration/acd/{connection.pk}/", form_data(twilio, action="test", auth_token="")
    )
    assert response.context["test_result"].ok


def test_last_run_counts_and_errors_are_shown(admin_client, twilio, make_connection):
    connection = make_connection()
    task = twilio.add_voice_task()
    twilio.recordings[task["media"]["worker"]]["encryption_details"] = {"encrypted_cek": "x", "iv": "y"}
    response = admin_client.post(f"/t/acme/configuration/acd/{connection.pk}/ingest/")
    assert response.status_code == 302
    run = IngestionRun.objects.get()
    assert run.status == "queued" and run.trigger == "page"
    jobs.work(run.job_kind, run.pk)  # as a worker runs it
    run.refresh_from_db()
    assert (run.status, run.artifacts_stored, run.errors) == ("complete", 2, 1)
    page = admin_client.get(f"/t/acme/configuration/acd/{connection.pk}/").content.decode()
    assert "1 tasks, 1 interactions created, 2 artifacts stored, 0 skipped, 1 errors" in page
    assert task["media"]["worker"] in page and "no private key" in page
    listing = admin_client.get("/t/acme/configuration/acd/").content.decode()
    assert "2 stored, 1 errors" in listing


def test_the_list_costs_the_same_queries_for_1_or_5_acds(admin_client, make_connection):
    make_connection(name="One")
    with CaptureQueriesContext(db) as one:
        assert admin_client.get("/t/acme/configuration/acd/").status_code == 200
    for n in range(4):
        connection = make_connection(name=f"More {n}")
        services.start_ingestion(connection.pk, OPERATOR, trigger="command", enqueue=False)
    with CaptureQueriesContext(db) as five:
        assert admin_client.get("/t/acme/configuration/acd/").status_code == 200
    assert len(five) == len(one)


def test_delete_from_the_page(admin_client, make_connection):
    connection = make_connection()
    response = admin_client.post(f"/t/acme/configuration/acd/{connection.pk}/delete/")
    assert response.status_code == 302 and not TwilioFlexConnection.objects.exists()


def test_another_tenants_acd_is_not_found(admin_client, make_connection, globex):
    other = make_connection(tenant=globex)
    assert admin_client.get(f"/t/acme/configuration/acd/{other.pk}/").status_code == 404
    assert admin_client.post(f"/t/acme/configuration/acd/{other.pk}/delete/").status_code == 404
    assert TwilioFlexConnection.objects.filter(pk=other.pk).exists()


def test_metadata_labels_on_the_page(admin_client, acme):
    response = admin_client.post(
        "/t/acme/configuration/acd/labels/", {"label_name": "Segment", "metadata_type": "text"}
    )
    assert response.status_code == 302
    label = MetadataLabel.objects.get(tenant=acme)
    bad = admin_client.post("/t/acme/configuration/acd/labels/", {"label_name": "segment", "metadata_type": "text"})
    assert bad.status_code == 400 and "Metadata label: “segment” exists already." in bad.content.decode()
    assert admin_client.post(f"/t/acme/configuration/acd/labels/{label.pk}/delete/").status_code == 302
    assert not MetadataLabel.objects.exists()


def test_the_admin_shows_runs_and_errors_but_never_a_secret(twilio, make_connection, admin_user):
    connection = make_connection()
    twilio.add_voice_task(encrypt_for=None)
    run = services.start_ingestion(connection.pk, OPERATOR, trigger="command", enqueue=False)
    IngestionRun.objects.filter(pk=run.pk).update(
        errors=1, error_details=[{"item": "RE1", "message": "Recording RE1 not stored: its GCM tag does not verify."}]
    )
    support = client_for(admin_user)
    page = support.get(f"/admin/ingestion/twilioflexconnection/{connection.pk}/change/").content.decode()
    assert connection.account_sid in page
    assert twilio.auth_token not in page and connection.auth_token_encrypted not in page
    run_page = support.get(f"/admin/ingestion/ingestionrun/{run.pk}/change/").content.decode()
    assert "its GCM tag does not verify" in run_page
