"""Holds and Artifacts Management Requests through the API: ``PUT holds?protect=true|false``, ``POST
holds/query``, ``POST/GET requests``, ``GET requests/{id}``, cancel and retry — the page's validator
(400 naming the API's field, nothing saved), permissions (403 naming what is missing) and engine
(requests processed as a worker does)."""

import datetime as dt
import uuid

import pytest

from artifacts.models import Lock, ManagementRequest
from core.vocabulary import ArtifactType
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, fail_job, management_request, process_request
from tests.matrix import assert_scope_matrix

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"
HOLDS = "/api/v1/holds"


def recorded(tenant):
    call = InteractionFactory(tenant=tenant)
    ArtifactFactory(interaction=call)
    ArtifactFactory(
        interaction=call, artifact_type=ArtifactType.MESSAGING_TRANSCRIPT, content_key="transcript", content=b"t"
    )
    return call


def fields_of(response):
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM, response.content
    return {e["field"] for e in response.json()["errors"]}


def test_protect_and_release_run_as_add_and_remove_lock_requests(acme, integrator):
    calls = [recorded(acme) for _ in range(2)]
    client = integrator(["holds:apply", "holds:revoke", "requests:read"])
    expires = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    response = client.put(
        f"{HOLDS}?protect=true",
        {"interactionIds": [str(c.guid) for c in calls], "lockExpiresOn": expires, "description": "case 42"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["requestType"], body["artifactType"], body["status"]) == ("add_lock", "any", "queued")
    assert (body["lockExpiresOn"], body["description"], body["interactionCount"]) == (expires, "case 42", 2)
    assert response["Location"] == body["url"] == f"/api/v1/requests/{body['id']}"
    assert client.client.client_id in body["createdBy"]
    process_request(body["id"])
    done = client.get(body["url"]).json()
    assert done["status"] == "complete" and done["totals"]["locked"] == 4
    assert {r["interactionId"] for r in done["results"]} == {str(c.guid) for c in calls}
    query = client.post(f"{HOLDS}/query", {"interactionIds": [str(calls[0].guid), str(uuid.uuid4())]}).json()
    first, unknown = query["interactions"]
    assert (first["known"], first["protected"], unknown["known"], unknown["protected"]) == (True, True, False, False)
    assert first["until"] is not None and first["lockedTypes"]

    release = client.put(f"{HOLDS}?protect=false", {"interactionIds": [str(calls[0].guid)]})
    assert release.status_code == 201 and release.json()["requestType"] == "remove_lock"
    process_request(release.json()["id"])
    assert not Lock.objects.active().filter(interaction=calls[0]).exists()
    assert Lock.objects.active().filter(interaction=calls[1]).exists()
    query = client.post(f"{HOLDS}/query", {"interactionIds": [str(calls[0].guid), str(calls[1].guid)]}).json()
    assert [i["protected"] for i in query["interactions"]] == [False, True]


@pytest.mark.parametrize(
    ("query", "body", "fields"),
    [
        ("protect=maybe", {"interactionIds": []}, {"protect"}),
        ("", {"interactionIds": []}, {"protect"}),
        ("protect=true", {}, {"interactionIds"}),
        ("protect=true", {"interactionIds": "abc"}, {"interactionIds"}),
        ("protect=true", {"interactionIds": []}, {"interactionIds"}),
        ("protect=true", {"interactionIds": ["not-a-guid"]}, {"interactionIds"}),
        ("protect=true", {"interactionIds": [str(uuid.uuid4())]}, {"interactionIds"}),  # not of this tenant
        ("protect=true", {"interactionIds": [str(uuid.uuid4()) for _ in range(201)]}, {"interactionIds"}),
        ("protect=true", {"interactionIds": "GOOD", "artifactType": "everything"}, {"artifactType"}),
        ("protect=true", {"interactionIds": "GOOD", "artifactType": ["any"]}, {"artifactType"}),
        ("protect=true", {"interactionIds": "GOOD", "artifactType": "audio_recording"}, {"audioRecordingType"}),
        ("protect=true", {"interactionIds": "GOOD", "lockExpiresOn": "2026-02-30"}, {"lockExpiresOn"}),
        ("protect=true", {"interactionIds": "GOOD", "lockExpiresOn": "2001-01-01"}, {"lockExpiresOn"}),
        ("protect=true", {"interactionIds": "GOOD", "lockExpiresOn": 20270101}, {"lockExpiresOn"}),
        ("protect=false", {"interactionIds": "GOOD", "lockExpiresOn": "2099-01-01"}, {"lockExpiresOn"}),
        ("protect=true", {"interactionIds": "GOOD", "description": "x" * 501}, {"description"}),
        ("protect=true", {"interactionIds": "GOOD", "description": 5}, {"description"}),
    ],
)
def test_hold_validator_errors_name_the_api_field_and_save_nothing(acme, integrator, query, body, fields):
    call = recorded(acme)
    if body.get("interactionIds") == "GOOD":
        body = {**body, "interactionIds": [str(call.guid)]}
    response = integrator().put(f"{HOLDS}?{query}", body)
    assert fields_of(response) == fields, response.json()
    assert not ManagementRequest.objects.exists()


def test_two_hundred_ids_are_accepted(acme, integrator):
    calls = InteractionFactory.create_batch(200, tenant=acme)
    response = integrator().put(f"{HOLDS}?protect=true", {"interactionIds": [str(c.guid) for c in calls]})
    assert response.status_code == 201 and response.json()["interactionCount"] == 200


def test_hold_scopes_follow_protect(acme, globex, integrator):
    call = recorded(acme)
    ids = {"interactionIds": [str(call.guid)]}
    assert_scope_matrix(integrator, lambda c: c.put(f"{HOLDS}?protect=true", ids), "holds:apply", 201)
    assert_scope_matrix(integrator, lambda c: c.put(f"{HOLDS}?protect=false", ids), "holds:revoke", 201)
    assert_scope_matrix(integrator, lambda c: c.post(f"{HOLDS}/query", ids), "holds:apply")
    foreign = integrator(tenant=globex).put(f"{HOLDS}?protect=true", ids)
    assert fields_of(foreign) == {"interactionIds"}, "another tenant's interaction is unknown there"
    answer = integrator(tenant=globex).post(f"{HOLDS}/query", ids).json()["interactions"]
    assert answer == [
        {"interactionId": str(call.guid), "known": False, "protected": False, "lockedTypes": [], "until": None}
    ]


def test_hold_query_bad_input_is_400(acme, integrator):
    client = integrator()
    assert fields_of(client.post(f"{HOLDS}/query", {"interactionIds": ["x"]})) == {"interactionIds"}
    assert fields_of(client.post(f"{HOLDS}/query", [1])) == {"body"}


def test_requests_create_list_detail_with_the_pages_permissions(acme, integrator):
    calls = [recorded(acme) for _ in range(3)]
    writer = integrator(["requests:write", "requests:read"])
    created = writer.post("/api/v1/requests", {"requestType": "add_lock", "interactionIds": [str(calls[0].guid)]})
    assert created.status_code == 201 and created.json()["status"] == "queued"
    refused = writer.post("/api/v1/requests", {"requestType": "delete", "interactionIds": [str(calls[1].guid)]})
    assert refused.status_code == 403 and refused["Content-Type"] == PROBLEM
    assert "ARTIFACTS_MANAGEMENT_DELETE_REQUESTS" in refused.json()["detail"]
    deleter = integrator(["requests:write", "interaction-content:delete"])
    with_locks = deleter.post(
        "/api/v1/requests", {"requestType": "delete", "interactionIds": [str(calls[1].guid)], "removeLocks": True}
    )
    assert with_locks.status_code == 403 and "REMOVE_LOCK" in with_locks.json()["detail"]
    delete = deleter.post("/api/v1/requests", {"requestType": "delete", "interactionIds": [str(calls[2].guid)]})
    assert delete.status_code == 201
    assert ManagementRequest.objects.count() == 2
    for bad, fields in (
        ({"requestType": "shred", "interactionIds": [str(calls[0].guid)]}, {"requestType"}),
        ({"requestType": "delete", "interactionIds": [str(calls[0].guid)], "removeLocks": "no"}, {"removeLocks"}),
    ):
        assert fields_of(writer.post("/api/v1/requests", bad)) == fields
    process_request(delete.json()["id"])

    listing = writer.get("/api/v1/requests", {"limit": "1"}).json()
    assert [r["id"] for r in listing["requests"]] == [delete.json()["id"]]
    page_2 = writer.get(
        "/api/v1/requests", {"limit": "1", "continuationToken": listing["meta"]["nextContinuationToken"]}
    )
    assert [r["id"] for r in page_2.json()["requests"]] == [created.json()["id"]]
    assert page_2.json()["meta"]["nextContinuationToken"] is None
    assert [r["id"] for r in writer.get("/api/v1/requests", {"status": "complete"}).json()["requests"]] == [
        delete.json()["id"]
    ]
    assert [r["id"] for r in writer.get("/api/v1/requests", {"requestType": "add_lock"}).json()["requests"]] == [
        created.json()["id"]
    ]
    assert fields_of(writer.get("/api/v1/requests", {"status": "lost", "limit": "201"})) == {"status", "limit"}
    detail = writer.get(f"/api/v1/requests/{delete.json()['id']}").json()
    assert detail["totals"]["deleted"] == 2 and detail["progress"] == {"processed": 1, "total": 1}
    [result] = detail["results"]
    assert (result["interactionId"], result["status"], result["deleted"]) == (str(calls[2].guid), "done", 2)


def test_cancel_and_retry(acme, integrator):
    call = recorded(acme)
    client = integrator(["requests:write", "requests:read", "holds:apply"])
    queued = management_request(acme, SYSTEM, "add_lock", [call])
    cancelled = client.post(f"/api/v1/requests/{queued.pk}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/requests/{queued.pk}/cancel")
    assert again.status_code == 409 and "Only a Queued request" in again.json()["detail"]
    assert client.post(f"/api/v1/requests/{queued.pk}/retry").status_code == 409
    failed = management_request(acme, SYSTEM, "add_lock", [call])
    fail_job(failed)
    retried = client.post(f"/api/v1/requests/{failed.pk}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    process_request(failed.pk)
    assert client.get(f"/api/v1/requests/{failed.pk}").json()["status"] == "complete"
    assert client.post("/api/v1/requests/999999/cancel").status_code == 404


def test_requests_scope_and_tenant_matrix(acme, globex, integrator):
    call = recorded(acme)
    req = management_request(acme, SYSTEM, "add_lock", [call])
    assert_scope_matrix(integrator, lambda c: c.get("/api/v1/requests"), "requests:read")
    assert_scope_matrix(integrator, lambda c: c.get(f"/api/v1/requests/{req.pk}"), "requests:read", 200, globex)
    assert_scope_matrix(
        integrator,
        lambda c: c.post("/api/v1/requests", {"requestType": "add_lock", "interactionIds": [str(call.guid)]}),
        "requests:write",
        201,
    )

    def cancel(client):
        return client.post(f"/api/v1/requests/{management_request(acme, SYSTEM, 'add_lock', [call]).pk}/cancel")

    assert_scope_matrix(integrator, cancel, "requests:write", 200, globex)
    assert integrator(tenant=globex).get("/api/v1/requests").json()["requests"] == []
