"""The exports API: POST /api/v1/exports, GET /api/v1/exports/{id} (progress, download URL) and the
streamed download, with scopes, problem+json on bad input naming the field, audit in the client's
name, and nothing of another tenant."""

import io
import zipfile

import pytest

from accounts.models import AuditEvent
from api.scopes import EXPORTS_READ, EXPORTS_WRITE
from config import jobs
from exports.models import Export
from exports.verify import verify_bundle
from tests.api.conftest import integrator  # noqa: F401 - the fixture
from tests.factories import InteractionFactory
from tests.matrix import assert_scope_matrix

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


def created(client, body):
    response = client.post("/api/v1/exports", body)
    assert response.status_code == 201, response.content
    jobs.work("export", response.json()["id"])
    return response


def test_create_follow_and_download(acme, content, integrator):  # noqa: F811
    client = integrator([EXPORTS_READ, EXPORTS_WRITE])
    answer = created(client, {"filters": {"direction": "outbound"}, "description": "dialer"})
    body = answer.json()
    assert answer["Location"] == body["url"] == f"/api/v1/exports/{body['id']}"
    assert body["status"] == "queued" and body["interactionCount"] == 2 and body["downloadUrl"] is None
    follow = client.get(body["url"]).json()
    assert (
        follow["status"] == "complete" and follow["progress"]["artifacts"] == follow["progress"]["artifactsTotal"] == 3
    )
    assert follow["downloadUrl"].endswith(f"/api/v1/exports/{body['id']}/download") and follow["expiresAt"]
    download = client.get(follow["downloadUrl"].split("testserver")[-1])
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    data = b"".join(download.streaming_content)
    assert download["X-Content-SHA256"] == follow["sha256"] and len(data) == follow["size"]
    manifest = verify_bundle(io.BytesIO(data))
    assert manifest["artifact_count"] == 3
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_DOWNLOADED)
    assert event.source == "api" and event.actor_kind == "api_client"
    assert AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_CREATED).reason == "dialer"


def test_by_interaction_ids_and_type(acme, content, integrator):  # noqa: F811
    client = integrator([EXPORTS_READ, EXPORTS_WRITE])
    chat = content["chat"]
    body = created(client, {"interactionIds": [str(chat.guid)], "artifactType": "messaging_transcript"}).json()
    export = Export.objects.get(pk=body["id"])
    assert export.artifact_total == 1 and export.selection == "interactions"


@pytest.mark.parametrize(
    "body, field",
    [
        ([], "body"),
        ({"filters": "channel=voice"}, "filters"),
        ({"filters": {"started_from": "soon"}}, "filters"),
        ({"interactionIds": "x"}, "interactionIds"),
        ({"interactionIds": ["not-a-guid"]}, "interactionIds"),
        ({"requestId": "7"}, "requestId"),
        ({"requestId": 424242}, "requestId"),
        ({"artifactType": "film"}, "artifactType"),
        ({"filters": {"channel": "voice"}, "interactionIds": ["x"]}, "selection"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(acme, content, integrator, body, field):  # noqa: F811
    response = integrator([EXPORTS_WRITE, "requests:read"]).post("/api/v1/exports", body)
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM, response.content
    assert field in {error["field"] for error in response.json()["errors"]}, response.json()
    assert not Export.objects.exists()


def test_download_before_completion_is_409_and_after_expiry_410(acme, content, integrator):  # noqa: F811
    from exports import runner

    client = integrator([EXPORTS_READ, EXPORTS_WRITE])
    body = client.post("/api/v1/exports", {"filters": {}}).json()
    early = client.get(f"/api/v1/exports/{body['id']}/download")
    assert early.status_code == 409 and early["Content-Type"] == PROBLEM
    jobs.work("export", body["id"])
    export = Export.objects.get(pk=body["id"])
    runner.expire_all(now=export.expires_at)
    late = client.get(f"/api/v1/exports/{body['id']}/download")
    assert late.status_code == 410 and late["Content-Type"] == PROBLEM
    assert client.get(body["url"]).json()["expired"] is True


def test_scopes_and_other_tenants(acme, globex, content, integrator):  # noqa: F811
    call = content["calls"][0]
    assert_scope_matrix(
        integrator,
        lambda c: c.post("/api/v1/exports", {"interactionIds": [str(call.guid)]}),
        EXPORTS_WRITE,
        ok_status=201,
    )
    export = Export.objects.first()
    jobs.work("export", export.pk)
    for path in (f"/api/v1/exports/{export.pk}", f"/api/v1/exports/{export.pk}/download"):
        assert_scope_matrix(integrator, lambda c, p=path: c.get(p), EXPORTS_READ, other_tenant=globex)
    foreign = InteractionFactory(tenant=globex)
    refused = integrator().post("/api/v1/exports", {"interactionIds": [str(foreign.guid)]})
    assert refused.status_code == 400 and str(foreign.guid) in refused.content.decode()


def test_the_zip_downloaded_by_the_api_is_the_one_stored(acme, content, integrator):  # noqa: F811
    client = integrator([EXPORTS_READ, EXPORTS_WRITE])
    body = created(client, {}).json()
    data = b"".join(client.get(f"/api/v1/exports/{body['id']}/download").streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("manifest.json").decode() == Export.objects.get(pk=body["id"]).manifest
