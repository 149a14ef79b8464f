"""Content bytes through the API: GET content (Range → 206, ETag, audited as the client's download),
the babelforce-style recordings listing with signed URLs that work without a token and expire."""

import pytest
from django.test import Client

from accounts.models import AuditEvent
from artifacts.storage import get_storage
from core.vocabulary import ArtifactType, ContentKey
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, management_request

pytestmark = pytest.mark.django_db
CONTENT = b"RIFF" + bytes(range(256)) * 40


@pytest.fixture
def call(acme):
    call = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=call, content=CONTENT)
    return call


def test_content_is_streamed_with_range_and_audited_as_the_clients_download(call, integrator):
    client = integrator(["interaction-content:read"])
    url = f"/api/v1/interactions/{call.guid}/content/{ContentKey.CALL_RECORDING}"
    whole = client.get(url)
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == CONTENT
    assert whole["ETag"].strip('"') == call.artifacts.get().sha256
    part = client.get(url, HTTP_RANGE="bytes=4-9")
    assert part.status_code == 206 and b"".join(part.streaming_content) == CONTENT[4:10]
    assert part["Content-Range"] == f"bytes 4-9/{len(CONTENT)}"
    event = AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DOWNLOADED).first()
    assert (event.actor_kind, event.actor_key, event.source) == ("api_client", client.client.client_id, "api")
    assert event.remote_addr == "127.0.0.1"
    assert client.get(url, HTTP_RANGE="bytes=999999-").status_code == 416


def test_missing_bytes_are_410_and_no_read_is_recorded(call, integrator):
    artifact = call.artifacts.get()
    get_storage("active").delete_many([(artifact.storage_key, "")])
    response = integrator().get(f"/api/v1/interactions/{call.guid}/content/{artifact.content_key}")
    assert response.status_code == 410 and response["Content-Type"] == "application/problem+json"
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DOWNLOADED).exists()


def test_recordings_list_with_signed_urls_that_expire(acme, call, integrator, settings):
    InteractionFactory(tenant=acme)  # no content
    mail = InteractionFactory(tenant=acme, channel="email")
    ArtifactFactory(interaction=mail, artifact_type=ArtifactType.EMAIL, content_key=ContentKey.ATTACHMENT)
    client = integrator(["interaction-content:read"])
    listing = client.get("/api/v1/recordings", {"state": "stored", "max": "10"})
    assert listing.status_code == 200
    body = listing.json()
    assert [item["call"]["id"] for item in body["items"]] == [str(call.guid)], "recordings only"
    assert body["pagination"] == {"current": 1, "max": 10, "hasMore": False, "total": 1, "pages": 1}
    url = body["items"][0]["url"]
    download = Client().get(url)  # no token
    assert download.status_code == 200 and b"".join(download.streaming_content) == CONTENT
    tampered = Client().get(url[:-3] + "xyz")
    assert tampered.status_code == 403 and tampered["Content-Type"] == "application/problem+json"
    settings.API_SIGNED_URL_SECONDS = 0
    import time

    time.sleep(1.1)
    assert Client().get(url).status_code == 403, "expired"


def test_recordings_bad_parameters_name_the_field(integrator):
    response = integrator().get("/api/v1/recordings", {"state": "lost", "max": "5000", "time.start": "yesterday"})
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"state", "max", "time.start"}


def test_locked_content_cannot_be_deleted_and_says_which_lock(acme, call, integrator):
    management_request(acme, SYSTEM, "add_lock", [call], process=True)
    response = integrator().delete(f"/api/v1/interactions/{call.guid}/content/{ContentKey.CALL_RECORDING}")
    assert response.status_code == 409 and response["Content-Type"] == "application/problem+json"
    assert response.json()["locks"] and "locked" in response.json()["detail"]
    assert call.artifacts.get().state == "stored"
