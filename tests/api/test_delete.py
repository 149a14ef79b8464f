"""Deleting content through the API: ``DELETE interactions/{guid}/content/{contentKey}`` (204 and a
tombstone, 409 naming the locks, 410, 404, 400, a shared content key) and ``POST
interactions/delete-batch`` (locked → failure 409, unknown GUIDs not an error, other tenants never
touched, at most 1,000, one batch at a time per tenant, 202 with the request's URL when slower than
``API_BATCH_WAIT``), on the one delete path with its audit trail."""

import threading
import uuid

import pytest
from django.db import connections

from accounts.models import AuditEvent
from artifacts.models import Artifact, Lock, ManagementRequest
from artifacts.storage import get_storage
from core.vocabulary import ArtifactType, ContentKey
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, management_request
from tests.matrix import assert_scope_matrix
from tests.workers import shared_storage, start_worker, wait_for, worker_env

PROBLEM = "application/problem+json"
BATCH = "/api/v1/interactions/delete-batch"


def content_url(call, key=ContentKey.CALL_RECORDING):
    return f"/api/v1/interactions/{call.guid}/content/{key}"


def recorded(tenant, n=1):
    call = InteractionFactory(tenant=tenant)
    ArtifactFactory.create_batch(n, interaction=call)
    return call


def gone_from_storage(artifact):
    return not get_storage("active").exists(artifact.storage_key)


# --- one content file -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_delete_is_204_bytes_gone_tombstone_and_audited_as_the_client(acme, any_storage, integrator):
    call = recorded(acme)
    artifact = call.artifacts.get()
    assert not gone_from_storage(artifact)
    client = integrator(["interaction-content:delete"])
    response = client.delete(content_url(call), REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 204 and response.content == b""
    artifact.refresh_from_db()
    assert artifact.state == "deleted" and artifact.deleted_at is not None, "the tombstone stays"
    assert gone_from_storage(artifact)
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.ARTIFACT_DELETED, artifact_id=artifact.pk)
    assert (event.source, event.actor_kind, event.actor_key) == ("api", "api_client", client.client.client_id)
    assert event.remote_addr == "203.0.113.9" and str(call.guid) in event.reason
    again = client.delete(content_url(call))
    assert again.status_code == 410 and again["Content-Type"] == PROBLEM


@pytest.mark.django_db
def test_locked_content_is_409_naming_the_locks_and_nothing_is_deleted(acme, integrator):
    call = recorded(acme)
    ArtifactFactory(
        interaction=call, artifact_type=ArtifactType.MESSAGING_TRANSCRIPT, content_key=ContentKey.TRANSCRIPT
    )
    req = management_request(acme, SYSTEM, "add_lock", [call], process=True)
    lock_ids = set(Lock.objects.filter(request_id=req.pk).values_list("pk", flat=True))
    response = integrator().delete(content_url(call))
    assert response.status_code == 409 and response["Content-Type"] == PROBLEM
    body = response.json()
    [lock] = body["locks"]
    assert lock["requestId"] == req.pk and f"lock {lock['id']}" in body["detail"]
    assert lock["id"] in lock_ids
    assert set(call.artifacts.values_list("state", flat=True)) == {"stored"}
    assert not any(gone_from_storage(a) for a in call.artifacts.all())
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED).exists()


@pytest.mark.django_db
def test_unknown_and_malformed_addresses(acme, globex, integrator):
    call = recorded(acme)
    client = integrator()
    unknown_guid = client.delete(f"/api/v1/interactions/{uuid.uuid4()}/content/{ContentKey.CALL_RECORDING}")
    assert unknown_guid.status_code == 404 and unknown_guid["Content-Type"] == PROBLEM
    unknown_key = client.delete(content_url(call, ContentKey.TRANSCRIPT))
    assert unknown_key.status_code == 404
    huge_id = client.delete(content_url(call, "9" * 40))
    assert huge_id.status_code == 404
    malformed = client.delete(f"/api/v1/interactions/{str(call.guid)[:-1]}/content/{ContentKey.CALL_RECORDING}")
    assert malformed.status_code == 400 and malformed["Content-Type"] == PROBLEM
    assert malformed.json()["errors"] == [{"field": "guid", "message": "GUID must be 36 characters in length"}]
    foreign = integrator(tenant=globex).delete(content_url(call))
    assert foreign.status_code == 404
    assert call.artifacts.get().state == "stored"


@pytest.mark.django_db
def test_a_shared_content_key_is_409_naming_each_artifact_which_its_id_addresses(acme, integrator):
    mail = InteractionFactory(tenant=acme, channel="email")
    first, second = (
        ArtifactFactory(interaction=mail, artifact_type=ArtifactType.EMAIL, content_key=ContentKey.ATTACHMENT)
        for _ in range(2)
    )
    client = integrator()
    response = client.delete(content_url(mail, ContentKey.ATTACHMENT))
    assert response.status_code == 409 and response.json()["ids"] == [str(first.pk), str(second.pk)]
    assert str(first.pk) in response.json()["detail"] and str(second.pk) in response.json()["detail"]
    assert set(mail.artifacts.values_list("state", flat=True)) == {"stored"}, "nothing deleted"
    assert client.delete(content_url(mail, first.pk)).status_code == 204
    assert set(Artifact.objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "state")) == {
        (first.pk, "deleted"),
        (second.pk, "stored"),
    }
    assert client.delete(content_url(mail, second.pk)).status_code == 204


@pytest.mark.django_db
def test_delete_scope_and_tenant_matrix(acme, globex, integrator):
    assert_scope_matrix(
        integrator, lambda c: c.delete(content_url(recorded(acme))), "interaction-content:delete", 204, globex
    )


# --- delete-batch (requests run for real: committed transactions, processed in this process) --------


@pytest.fixture
def inline_jobs(settings):
    settings.JOBS_INLINE = True


@pytest.mark.django_db(transaction=True)
def test_batch_deletes_all_content_reports_locked_and_ignores_unknown_and_foreign(
    acme, globex, integrator, inline_jobs
):
    plain = recorded(acme, 3)
    ArtifactFactory(interaction=plain, artifact_type=ArtifactType.VOICEMAIL, content_key=str(uuid.uuid4()))
    locked = recorded(acme, 2)
    management_request(acme, SYSTEM, "add_lock", [locked], process=True)
    foreign = recorded(globex, 2)
    unknown = uuid.uuid4()
    client = integrator(["interaction-content:delete"])
    guids = [str(plain.guid), str(locked.guid), str(foreign.guid), str(unknown)]
    response = client.post(BATCH, {"guids": guids})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["failures"] == [
        {"guid": str(locked.guid), "message": "2 content file(s) locked (legal hold): not deleted", "statusCode": 409}
    ]
    assert set(plain.artifacts.values_list("state", flat=True)) == {"deleted"}, "Voicemail included: All"
    assert set(locked.artifacts.values_list("state", flat=True)) == {"stored"}
    assert set(foreign.artifacts.values_list("state", flat=True)) == {"stored"}
    assert all(not gone_from_storage(a) for a in foreign.artifacts.all())
    req = ManagementRequest.objects.get(pk=body["requestId"])
    assert (req.request_type, req.status, req.interaction_count) == ("delete", "complete", 2)
    events = AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED, request_id=req.pk)
    assert events.count() == 4 and {e.actor_key for e in events} == {client.client.client_id}
    only_unknown = client.post(BATCH, {"guids": [str(uuid.uuid4())]})
    assert only_unknown.status_code == 200 and only_unknown.json() == {"failures": [], "requestId": None}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"guids": []}, "guids"),
        ({"guids": "not a list"}, "guids"),
        ({}, "guids"),
        ({"guids": [str(uuid.uuid4()) for _ in range(1001)]}, "guids"),
        ({"guids": [str(uuid.uuid4()), "abc"]}, "guids[1]"),
        ({"guids": [str(uuid.uuid4()), 42]}, "guids[1]"),
        ([1, 2], "guids"),
    ],
)
def test_bad_batches_are_400_naming_the_field_and_delete_nothing(acme, integrator, body, field):
    call = recorded(acme)
    response = integrator().post(BATCH, body)
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert not ManagementRequest.objects.exists() and call.artifacts.get().state == "stored"


@pytest.mark.django_db
def test_a_body_beyond_the_upload_limit_is_413(acme, integrator, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = integrator().post(BATCH, {"guids": [str(uuid.uuid4()) for _ in range(1000)]})
    assert response.status_code == 413 and response["Content-Type"] == PROBLEM
    assert not ManagementRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_slow_batch_answers_202_with_its_url_and_a_second_one_waits_429(acme, integrator, rq_queue, settings):
    """No worker yet: the request is still Queued when ``API_BATCH_WAIT`` runs out."""
    data_dir = shared_storage(settings)
    settings.API_BATCH_WAIT = 0.3
    first, second = recorded(acme, 2), recorded(acme, 2)
    client = integrator(["interaction-content:delete", "requests:read"])
    response = client.post(BATCH, {"guids": [str(first.guid)]})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and response["Location"] == body["request"]
    busy = client.post(BATCH, {"guids": [str(second.guid)]})
    assert busy.status_code == 429 and busy["Content-Type"] == PROBLEM and busy["Retry-After"]
    assert str(body["requestId"]) in busy.json()["detail"]
    assert ManagementRequest.objects.count() == 1, "nothing was done on the 429"
    worker = start_worker(worker_env(DATA_DIR=str(data_dir)))
    try:
        wait_for(lambda: client.get(body["request"]).json()["status"] == "complete", message="the batch to finish")
    finally:
        worker.wait(60)
    done = client.get(body["request"]).json()
    assert done["totals"]["deleted"] == 2 and done["results"][0]["interactionId"] == str(first.guid)
    assert set(first.artifacts.values_list("state", flat=True)) == {"deleted"}
    assert set(second.artifacts.values_list("state", flat=True)) == {"stored"}
    settings.JOBS_INLINE = True  # the first is over: the next batch may run (here, in this process)
    assert client.post(BATCH, {"guids": [str(second.guid)]}).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_batches_of_a_tenant_one_runs_one_gets_429(acme, globex, integrator, rq_queue, settings):
    """Sent at once from two threads (two connections): the tenant row serializes them."""
    settings.API_BATCH_WAIT = 0.3  # no worker: the first stays Queued, so the batches overlap
    calls = [recorded(acme), recorded(acme)]
    clients = [integrator(["interaction-content:delete"]) for _ in calls]
    foreign = integrator(["interaction-content:delete"], tenant=globex)
    other_call = recorded(globex)
    start, answers = threading.Barrier(3), {}

    def send(name, client, call):
        try:
            start.wait(10)
            answers[name] = client.post(BATCH, {"guids": [str(call.guid)]}).status_code
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=send, args=(n, c, call))
        for n, c, call in ((0, clients[0], calls[0]), (1, clients[1], calls[1]))
    ]
    threads.append(threading.Thread(target=send, args=("globex", foreign, other_call)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted([answers[0], answers[1]]) == [202, 429], answers
    assert answers["globex"] == 202, "another tenant's batch is not held up"
    assert ManagementRequest.objects.filter(tenant=acme).count() == 1


@pytest.mark.django_db
def test_batch_scope_matrix(acme, integrator):
    assert_scope_matrix(
        integrator, lambda c: c.post(BATCH, {"guids": [str(uuid.uuid4())]}), "interaction-content:delete"
    )
