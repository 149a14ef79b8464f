"""Deletion is crash-safe as a protocol: a real worker killed before, during or after the storage
call (S3 with Object Lock on moto, a proxy in front to stop the worker at the exact point) leaves
rows that say truthfully that their deletion is decided; a lock placed then says so instead of
pretending; hold sync treats a missing version as gone; and the resume finishes everything without
a click, with exact counts and one audit event per artifact."""

import pytest

from accounts.actors import user_actor
from accounts.models import AuditEvent
from artifacts import disposal
from artifacts.models import Artifact, ManagementRequest
from artifacts.services import retry_management_request
from config import jobs
from core.vocabulary import ArtifactState
from tests.conftest import S3_CREDENTIALS
from tests.factories import ArtifactFactory, InteractionFactory, management_request, process_request
from tests.s3proxy import S3Proxy, delete_objects
from tests.workers import kill_worker, rows_held, start_worker, wait_for, waiting_on_lock, worker_env

pytestmark = [pytest.mark.s3, pytest.mark.django_db(transaction=True)]


def versions(s3_client, bucket, artifact):
    listed = s3_client.list_object_versions(Bucket=bucket, Prefix=artifact.storage_key)
    return listed.get("Versions", []) + listed.get("DeleteMarkers", [])


def state(artifact):
    return Artifact.objects.get(pk=artifact.pk).state


def another_session_waits_on_a_lock():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
        row = cursor.fetchone()
    return bool(row) and waiting_on_lock(row[0])


def s3_env(proxy, buckets):
    active, archive = buckets
    return worker_env(
        S3_BUCKET=active,
        S3_ARCHIVE_BUCKET=archive,
        S3_ENDPOINT_URL=proxy.url,
        S3_ACCESS_KEY_ID=S3_CREDENTIALS["aws_access_key_id"],
        S3_SECRET_ACCESS_KEY=S3_CREDENTIALS["aws_secret_access_key"],
        S3_REGION=S3_CREDENTIALS["region_name"],
        S3_OBJECT_LOCK="true",
    )


@pytest.fixture
def world(acme, member, s3_storages, settings, rq_queue):
    """Three calls with a recording each; the first is locked (its object carries a legal hold)."""
    settings.S3_OBJECT_LOCK = True
    officer = member(acme, "Compliance Officer", username="officer")
    calls = [InteractionFactory(tenant=acme) for _ in range(3)]
    recordings = [ArtifactFactory(interaction=call) for call in calls]
    lock = management_request(acme, officer, "add_lock", calls[:1])
    process_request(lock.pk)
    rq_queue.empty()
    return {"officer": officer, "calls": calls, "locked": recordings[0], "doomed": recordings[1:]}


@pytest.mark.parametrize("step", ["before", "during", "after"])
def test_a_worker_killed_at_any_step_leaves_the_truth_and_the_resume_finishes(
    acme, world, s3_storages, s3_server, s3_client, rq_queue, step
):
    active_bucket = s3_storages[0]
    officer, calls, locked, doomed = world["officer"], world["calls"], world["locked"], world["doomed"]
    with S3Proxy(s3_server) as proxy:
        # before: S3 never receives the delete; during: S3 deletes, the worker never hears it;
        # after: the worker hears it and is killed before the tombstones commit.
        rule = proxy.hold(delete_objects, when="before" if step == "before" else "after")
        req = management_request(acme, officer, "delete", calls)
        worker = start_worker(s3_env(proxy, s3_storages))
        try:
            assert rule.seen.wait(60), "the worker reached the storage call"
            assert [state(a) for a in doomed] == [ArtifactState.DELETING] * 2, "the decision committed first"
            if step == "after":
                with rows_held(Artifact.objects.filter(pk__in=[a.pk for a in doomed])):
                    rule.release()
                    wait_for(another_session_waits_on_a_lock, message="the worker to wait on the tombstones' rows")
                    kill_worker(worker)
            else:
                kill_worker(worker)
        finally:
            proxy.clear()
            if worker.poll() is None:
                kill_worker(worker)

    # The rows say what is happening: decided, not finished; the locked recording untouched.
    assert [state(a) for a in doomed] == [ArtifactState.DELETING] * 2
    assert state(locked) == ArtifactState.STORED and Artifact.objects.get(pk=locked.pk).legal_hold
    bytes_left = [bool(versions(s3_client, active_bucket, a)) for a in doomed]
    assert bytes_left == ([True, True] if step == "before" else [False, False])
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED).exists()
    row = Artifact.objects.get(pk=doomed[0].pk)
    assert (row.deleted_by, row.deletion_request_id) == ("officer", req.pk)

    # A lock placed now says the content is already being deleted, and the request completes (the
    # trial's dead end: every request touching such interactions failed before doing anything).
    late = management_request(acme, officer, "add_lock", calls[1:2])
    process_request(late.pk)
    late.refresh_from_db()
    item = late.items.get()
    assert late.status == ManagementRequest.Status.COMPLETE, late.error_message
    assert (item.matched, item.locked, item.already_deleting) == (0, 0, 1)

    # The reaper finds the dead worker's request; the resume finishes its deletions, no click needed.
    wait_for(lambda: jobs.reap().get("management_request") == [req.pk], message="the reaper to find the request")
    assert disposal.resume_interrupted()["deleted"] == 2
    for artifact in doomed:
        assert state(artifact) == ArtifactState.DELETED
        assert versions(s3_client, active_bucket, artifact) == [], "every version is gone"
        event = AuditEvent.objects.get(kind=AuditEvent.Kind.ARTIFACT_DELETED, artifact_id=artifact.pk)
        assert (event.actor_label, event.request_id, event.source) == ("officer", req.pk, "job")
    assert state(locked) == ArtifactState.STORED and versions(s3_client, active_bucket, locked)

    # Retrying the request finishes the rest with counts that say what happened.
    retry_management_request(req.pk, user_actor(officer))
    process_request(req.pk)
    req.refresh_from_db()
    assert req.status == ManagementRequest.Status.COMPLETE, req.error_message
    results = {i.interaction_id: (i.matched, i.deleted, i.skipped_locked) for i in req.items.all()}
    assert results == {calls[0].pk: (1, 0, 1), calls[1].pk: (1, 1, 0), calls[2].pk: (1, 1, 0)}
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED).count() == 2


def test_hold_sync_treats_a_version_that_is_gone_as_gone(acme, world, s3_storages, s3_client):
    """Rows a crash once left "stored" without bytes must not block every later request."""
    active_bucket = s3_storages[0]
    officer, calls = world["officer"], world["calls"]
    orphan = ArtifactFactory(interaction=calls[1])
    s3_client.delete_object(Bucket=active_bucket, Key=orphan.storage_key, VersionId=orphan.storage_version)
    lock = management_request(acme, officer, "add_lock", calls[1:2])
    process_request(lock.pk)
    lock.refresh_from_db()
    assert lock.status == ManagementRequest.Status.COMPLETE, lock.error_message
    assert not Artifact.objects.get(pk=orphan.pk).legal_hold
    delete = management_request(acme, officer, "delete", calls[1:2], remove_locks=True)
    process_request(delete.pk)
    delete.refresh_from_db()
    assert delete.status == ManagementRequest.Status.COMPLETE, delete.error_message
    assert state(orphan) == ArtifactState.DELETED
