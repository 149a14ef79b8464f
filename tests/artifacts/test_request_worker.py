"""Requests run by real RQ workers on Redis; a killed worker is reaped and the retry finishes exactly;
a lock committed before a delete reaches an artifact wins, with two real concurrent transactions."""

import threading

import pytest
from django.db import connections, transaction
from rq import SimpleWorker

from accounts.actors import user_actor
from accounts.models import AuditEvent
from artifacts import processing
from artifacts.models import Artifact, Lock, ManagementRequest, ManagementRequestItem
from artifacts.services import retry_management_request
from core.vocabulary import ArtifactState
from tests.factories import ArtifactFactory, InteractionFactory, management_request, process_request
from tests.workers import (
    backend_pid,
    kill_worker,
    lock_commits_while_waiting,
    rows_held,
    shared_storage,
    start_worker,
    wait_for,
    waiting_on_lock,
    worker_env,
)

pytestmark = pytest.mark.django_db(transaction=True)
new_request = management_request


@pytest.fixture
def queue(rq_queue):
    return rq_queue


def burst(queue):
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_end_to_end_through_a_real_rq_worker(acme, member, queue):
    admin = member(acme, "Administrator")
    calls = [InteractionFactory(tenant=acme) for _ in range(3)]
    for call in calls:
        ArtifactFactory.create_batch(2, interaction=call)
    req = new_request(acme, admin, "add_lock", calls)
    assert queue.count == 1, "the job is enqueued when the transaction commits"
    req.refresh_from_db()
    assert req.status == ManagementRequest.Status.QUEUED and req.rq_job_id
    burst(queue)
    req.refresh_from_db()
    assert req.status == ManagementRequest.Status.COMPLETE
    assert sorted(req.items.values_list("locked", flat=True)) == [2, 2, 2]
    delete = new_request(acme, admin, "delete", calls)
    burst(queue)
    delete.refresh_from_db()
    assert delete.status == ManagementRequest.Status.COMPLETE
    assert sum(delete.items.values_list("skipped_locked", flat=True)) == 6
    assert not Artifact.objects.filter(state=ArtifactState.DELETED).exists()


def test_cancelled_request_is_not_processed_by_the_worker(acme, member, queue):
    from artifacts.services import cancel_management_request

    admin = member(acme, "Administrator")
    call = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=call)
    req = new_request(acme, admin, "delete", [call])
    cancel_management_request(req.pk, user_actor(admin))
    burst(queue)
    assert ManagementRequest.objects.get(pk=req.pk).status == ManagementRequest.Status.CANCELLED
    assert Artifact.objects.get().state == ArtifactState.STORED


def test_killed_worker_is_reaped_and_the_retry_finishes_with_exact_counts(acme, member, queue, settings):
    """The worker dies (SIGKILL) while batch 2 of 3 waits on a row; batch 1 had committed."""
    admin = member(acme, "Administrator")
    data_dir = shared_storage(settings)
    env = worker_env(MANAGEMENT_REQUEST_BATCH_ARTIFACTS="2", DATA_DIR=str(data_dir))
    calls = [InteractionFactory(tenant=acme) for _ in range(3)]
    for call in calls:
        ArtifactFactory.create_batch(2, interaction=call)
    req = new_request(acme, admin, "delete", calls)

    with rows_held(Artifact.objects.filter(interaction=calls[1])):
        worker = start_worker(env)
        wait_for(
            lambda: ManagementRequestItem.objects.filter(request=req, status="done").count() == 1,
            message="the first batch to commit",
        )
        assert ManagementRequest.objects.get(pk=req.pk).status == ManagementRequest.Status.IN_PROGRESS
        assert processing.lost_requests() == [], "a live worker's request is not reaped"
        kill_worker(worker)
    # The dead worker's database session ends once its blocked statement returns.
    wait_for(lambda: processing.lost_requests() == [req.pk], message="the reaper to find the lost request")
    req.refresh_from_db()
    assert req.status == ManagementRequest.Status.ERROR and req.retryable
    assert "worker lost" in req.error_message

    retry_management_request(req.pk, user_actor(admin))
    burst(queue)
    req.refresh_from_db()
    assert req.status == ManagementRequest.Status.COMPLETE
    items = list(req.items.order_by("position"))
    assert [(i.status, i.matched, i.deleted) for i in items] == [("done", 2, 2)] * 3
    assert Artifact.objects.filter(state=ArtifactState.DELETED).count() == 6
    assert not any((data_dir / "storage" / "active").rglob("*.wav")), "every deleted artifact's bytes are gone"
    # Nothing twice: one audit event per deleted artifact.
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED, request_id=req.pk).count() == 6


def test_a_lock_committed_before_the_delete_reaches_the_artifact_wins(acme, member):
    """Add Lock holds its transaction open; a concurrent Delete must wait, then skip the artifacts."""
    admin = member(acme, "Administrator")
    call = InteractionFactory(tenant=acme)
    artifacts = ArtifactFactory.create_batch(3, interaction=call)
    lock_req = new_request(acme, admin, "add_lock", [call])
    delete_req = new_request(acme, admin, "delete", [call])
    failures = lock_commits_while_waiting(
        lock_req,
        lambda: process_request(delete_req.pk),
        message="the delete to wait on the locked artifacts",
    )
    assert not failures, failures

    delete_req.refresh_from_db()
    assert delete_req.status == ManagementRequest.Status.COMPLETE
    item = delete_req.items.get()
    assert (item.matched, item.deleted, item.skipped_locked) == (3, 0, 3)
    assert all(Artifact.objects.get(pk=a.pk).state == ArtifactState.STORED for a in artifacts)
    assert Lock.objects.filter(request=lock_req).count() == 10


def test_delete_that_reached_the_artifacts_first_wins_and_the_late_lock_waits(acme, member):
    """The mirror case: Delete holds the rows; Add Lock waits for it and then locks nothing present."""
    admin = member(acme, "Administrator")
    call = InteractionFactory(tenant=acme)
    ArtifactFactory.create_batch(2, interaction=call)
    delete_req = new_request(acme, admin, "delete", [call])
    lock_req = new_request(acme, admin, "add_lock", [call])
    rows_held, finish_delete = threading.Event(), threading.Event()
    lock_pid = {}

    def delete_in_open_transaction():
        try:
            with transaction.atomic():
                list(Artifact.objects.filter(interaction=call).select_for_update())
                rows_held.set()
                finish_delete.wait(30)
                process_request(delete_req.pk)
        finally:
            connections.close_all()

    def run_lock():
        try:
            lock_pid["pid"] = backend_pid()
            process_request(lock_req.pk)
        finally:
            connections.close_all()

    deleter = threading.Thread(target=delete_in_open_transaction)
    deleter.start()
    assert rows_held.wait(10)
    locker = threading.Thread(target=run_lock)
    locker.start()
    wait_for(lambda: "pid" in lock_pid and waiting_on_lock(lock_pid["pid"]), message="the lock to wait")
    finish_delete.set()
    deleter.join(30)
    locker.join(30)
    assert Artifact.objects.filter(state=ArtifactState.DELETED).count() == 2
    lock_req.refresh_from_db()
    assert lock_req.status == ManagementRequest.Status.COMPLETE
    item = lock_req.items.get()
    assert (item.status, item.matched, item.locked) == ("done", 0, 0)
    # The lock itself stands (it would cover content arriving later); it just found nothing present.
    assert Lock.objects.filter(request=lock_req).count() == 10
