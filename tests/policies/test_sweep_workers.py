"""The sweep under real concurrency: a real RQ worker killed between batches, a lock committed while
the sweep waits on the rows, and the S3 path (legal holds, deletes, archive) on moto's server."""

import os
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rq import SimpleWorker

from accounts.models import AuditEvent
from artifacts.models import Artifact, Lock
from artifacts.storage import ArtifactStorage, StorageError, get_storage
from config import jobs
from core.vocabulary import ArtifactState, Direction, Origin
from policies import services, sweep
from policies.models import SweepRun
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, management_request
from tests.workers import (
    kill_worker,
    lock_commits_while_waiting,
    rows_held,
    shared_storage,
    start_worker,
    wait_for,
    worker_env,
)


def aged(interaction, days, **fields):
    return ArtifactFactory(interaction=interaction, created_at=timezone.now() - timedelta(days=days), **fields)


def dialer_call(tenant):
    """An outbound dialer call: the default policy deletes its audio recordings after 30 days."""
    return InteractionFactory(tenant=tenant, direction=Direction.OUTBOUND, origin=Origin.DIALER)


def _stored(artifact):
    return os.path.exists(get_storage("active").backend.path(artifact.storage_key))


def burst(queue):
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def reaped_sweeps():
    return jobs.reap().get("lifecycle_sweep", [])


def deleted_events(artifact):
    return AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED, artifact_id=artifact.pk).count()


@pytest.mark.django_db(transaction=True)
def test_worker_killed_between_batches_then_the_resumed_run_finishes_with_exact_counts(acme, rq_queue, settings):
    """The worker dies (SIGKILL) while batch 2 of 3 waits on a row; batch 1 was decided and its bytes
    deleted meanwhile (the pipeline), its tombstones not yet written: the resumed run finishes it."""
    data_dir = shared_storage(settings)
    env = worker_env(LIFECYCLE_SWEEP_BATCH="2", DATA_DIR=str(data_dir))
    calls = [dialer_call(acme) for _ in range(3)]
    artifacts = sorted((aged(call, 31 + i) for call in calls for i in range(2)), key=lambda a: a.pk)
    second_batch = [a.pk for a in artifacts[2:4]]

    with rows_held(Artifact.objects.filter(pk__in=second_batch)):
        day = sweep.sweep_day(acme, timezone.now())
        run = services.start_sweep(acme.pk, SYSTEM, SweepRun.Trigger.SCHEDULE, scheduled_for=day)
        assert rq_queue.count == 1, "the job is enqueued when the transaction commits"
        worker = start_worker(env)
        first_batch = Artifact.objects.filter(pk__in=[a.pk for a in artifacts[:2]])

        wait_for(lambda: first_batch.filter(state=ArtifactState.DELETING).count() == 2, message="batch 1 decided")
        wait_for(lambda: not any(_stored(a) for a in artifacts[:2]), message="batch 1's bytes to go")
        run.refresh_from_db()
        assert (run.status, run.attempts, run.deleted) == (SweepRun.Status.IN_PROGRESS, 1, 0)
        assert all(_stored(a) for a in artifacts[2:]), "batch 2's bytes wait for its decision"
        assert reaped_sweeps() == [], "a live worker's sweep is not reaped"
        kill_worker(worker)
    # The dead worker's database session ends once its blocked statement returns.
    wait_for(lambda: reaped_sweeps() == [run.pk], message="the reaper to find the lost sweep")
    run.refresh_from_db()
    assert run.status == SweepRun.Status.ERROR and "worker lost" in run.error_message
    # Batch 1: decided, bytes gone, no tombstone yet (killed before its tombstones' transaction).
    assert sorted(Artifact.objects.filter(state=ArtifactState.DELETING).values_list("pk", flat=True)) == [
        a.pk for a in artifacts[:2]
    ]
    assert not Artifact.objects.filter(state=ArtifactState.DELETED).exists()
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED).exists()

    # The schedule resumes a failed scheduled run (attempts < LIFECYCLE_SWEEP_ATTEMPTS).
    assert run.attempts < settings.LIFECYCLE_SWEEP_ATTEMPTS
    assert sweep.schedule_daily_sweeps() == [run.pk]
    assert SweepRun.objects.get(pk=run.pk).status == SweepRun.Status.QUEUED
    burst(rq_queue)
    run.refresh_from_db()
    assert (run.status, run.attempts, run.deleted, run.skipped_locked, run.errors) == ("complete", 2, 6, 0, 0)
    assert SweepRun.objects.count() == 1, "resumed, not a second run"
    tombstones = Artifact.objects.filter(state=ArtifactState.DELETED)
    assert sorted(tombstones.values_list("pk", flat=True)) == [a.pk for a in artifacts]
    assert all(t.deleted_at and t.deleted_by == "Lifecycle policy “Outbound dialer recordings”" for t in tombstones)
    # Nothing twice, nothing missing: exactly one audit event per deleted artifact.
    assert [deleted_events(a) for a in artifacts] == [1] * 6
    assert not any((data_dir / "storage" / "active").rglob("*.wav")), "every deleted artifact's bytes are gone"
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SWEEP_FAILED, details__sweep=run.pk).count() == 1
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SWEEP_FINISHED, details__sweep=run.pk).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_lock_committed_while_the_sweep_waits_on_the_rows_wins(acme, member, rq_queue):
    """Add Lock holds its transaction open (rows held, locks inserted); the sweep must wait on the
    rows, then see the committed locks and keep the artifacts."""
    admin = member(acme, "Administrator")
    call = dialer_call(acme)
    artifacts = [aged(call, 31 + i) for i in range(3)]
    lock_req = management_request(acme, admin, "add_lock", [call])
    run = services.start_sweep(acme.pk, SYSTEM, SweepRun.Trigger.COMMAND, enqueue=False)
    failures = lock_commits_while_waiting(
        lock_req, lambda: jobs.work("lifecycle_sweep", run.pk), message="the sweep to wait on the locked artifacts"
    )
    assert not failures, failures

    run.refresh_from_db()
    assert (run.status, run.deleted, run.skipped_locked, run.errors) == ("complete", 0, 3, 0)
    assert all(Artifact.objects.get(pk=a.pk).state == ArtifactState.STORED for a in artifacts)
    assert all(get_storage("active").exists(a.storage_key) for a in artifacts)
    assert Lock.objects.filter(request=lock_req).count() == 10
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED).exists()


@pytest.mark.django_db
@pytest.mark.s3
def test_s3_holds_deletes_and_archive_on_moto(acme, member, s3_storages, s3_client, settings):
    settings.S3_OBJECT_LOCK = True
    active_bucket, archive_bucket = s3_storages
    admin = member(acme, "Administrator")
    locked_call, free_call, lapsed_call = dialer_call(acme), dialer_call(acme), dialer_call(acme)
    locked, free, lapsed = aged(locked_call, 40), aged(free_call, 40), aged(lapsed_call, 40)
    management_request(acme, admin, "add_lock", [locked_call, lapsed_call], process=True)
    # The lapsed call's lock expires (its date is moved into the past); its S3 hold is still on.
    Lock.objects.filter(interaction=lapsed_call).update(expires_at=timezone.now() - timedelta(minutes=1))
    services.create_policy(acme.pk, SYSTEM, name="Archive voice", channel="voice", archive_after_days=10)
    queue_call = InteractionFactory(tenant=acme)
    content = b"RIFF-archived-on-s3" * 200
    to_archive = aged(queue_call, 11, content=content)
    young = aged(queue_call, 5)

    def hold(artifact):
        artifact.refresh_from_db()
        return s3_client.get_object_legal_hold(
            Bucket=active_bucket, Key=artifact.storage_key, VersionId=artifact.storage_version
        )["LegalHold"]["Status"]

    def versions(bucket, artifact):
        listed = s3_client.list_object_versions(Bucket=bucket, Prefix=artifact.storage_key)
        return listed.get("Versions", []) + listed.get("DeleteMarkers", [])

    assert hold(locked) == hold(lapsed) == "ON"

    run = services.start_sweep(acme.pk, SYSTEM, SweepRun.Trigger.COMMAND, enqueue=False)
    jobs.work("lifecycle_sweep", run.pk)
    run.refresh_from_db()
    assert (run.status, run.deleted, run.archived, run.skipped_locked, run.locks_expired, run.errors) == (
        "complete",
        2,
        1,
        1,
        10,  # Any = one lock row per covered type
        0,
    ), run.error_details

    # The locked artifact keeps its object and its legal hold.
    assert Artifact.objects.get(pk=locked.pk).state == ArtifactState.STORED
    assert hold(locked) == "ON" and Artifact.objects.get(pk=locked.pk).legal_hold
    assert s3_client.head_object(Bucket=active_bucket, Key=locked.storage_key, VersionId=locked.storage_version)
    # The unlocked due artifact and the one whose lock lapsed are gone from the bucket, every version.
    for gone in (free, lapsed):
        row = Artifact.objects.get(pk=gone.pk)
        assert row.state == ArtifactState.DELETED and not row.legal_hold
        assert versions(active_bucket, gone) == [], "the bytes are gone, not hidden behind a delete marker"
        assert deleted_events(gone) == 1
    # The archived artifact moved buckets and stays downloadable.
    moved = Artifact.objects.get(pk=to_archive.pk)
    assert moved.state == ArtifactState.ARCHIVED and moved.archived_at is not None
    assert versions(active_bucket, to_archive) == []
    assert s3_client.head_object(Bucket=archive_bucket, Key=to_archive.storage_key)["ContentLength"] == len(content)
    assert Artifact.objects.get(pk=young.pk).state == ArtifactState.STORED
    client = Client()
    client.force_login(member(acme, "Viewer"))
    response = client.get(f"/t/acme/artifacts/{to_archive.pk}/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content


@pytest.mark.django_db(transaction=True)  # jobs.run closes the connection, as a worker does
def test_a_key_the_storage_cannot_delete_is_reported_on_the_run_and_stays_stored(acme):
    """A storage that cannot remove one key (here the file system: a non-empty directory where the
    object was) refuses it: the run ends in Error naming it, the artifact is stored again (its
    decision taken back), and the rest of the batch is deleted, through ``jobs.run`` as a worker."""
    calls = [dialer_call(acme) for _ in range(2)]
    stuck, fine = aged(calls[0], 31), aged(calls[1], 31)
    path = get_storage("active").backend.path(stuck.storage_key)
    os.remove(path)
    os.makedirs(path)
    open(os.path.join(path, "x"), "wb").close()
    run = services.start_sweep(acme.pk, SYSTEM, SweepRun.Trigger.COMMAND, enqueue=False)
    jobs.run("lifecycle_sweep", run.pk)
    run.refresh_from_db()
    assert (run.status, run.deleted, run.errors) == (SweepRun.Status.ERROR, 1, 1)
    assert run.error_details[0]["artifact"] == stuck.pk and "Directory not empty" in run.error_details[0]["error"]
    stuck_row = Artifact.objects.get(pk=stuck.pk)
    assert stuck_row.state == ArtifactState.STORED and not stuck_row.deletion_started_at and not stuck_row.deleted_by
    assert Artifact.objects.get(pk=fine.pk).state == ArtifactState.DELETED
    assert deleted_events(stuck) == 0 and deleted_events(fine) == 1
    assert reaped_sweeps() == []


@pytest.mark.django_db(transaction=True)  # the decisions commit, as in a worker
def test_a_storage_failure_while_the_next_batch_is_decided_leaves_both_decided_and_the_resumed_run_finishes(
    acme, rq_queue, settings, monkeypatch
):
    """The pipeline: batch 1's storage call fails (raises) while batch 2 is decided. Both batches
    stay *being deleted* (decided, no tombstone, no event), batch 3 is untouched, the run fails;
    the resumed run finishes its own decisions first and ends with exact counts."""
    settings.LIFECYCLE_SWEEP_BATCH = 2
    calls = [dialer_call(acme) for _ in range(3)]
    artifacts = sorted((aged(call, 31 + i) for call in calls for i in range(2)), key=lambda a: a.pk)
    real_delete_many, failing = ArtifactStorage.delete_many, [True]

    def delete_many(storage, objects):
        if failing[0]:  # the first call only: batch 1's
            failing[0] = False
            raise StorageError("The storage is unreachable.")
        return real_delete_many(storage, objects)

    monkeypatch.setattr(ArtifactStorage, "delete_many", delete_many)
    run = services.start_sweep(
        acme.pk, SYSTEM, SweepRun.Trigger.SCHEDULE, scheduled_for=sweep.sweep_day(acme, timezone.now())
    )
    burst(rq_queue)
    run.refresh_from_db()
    assert (run.status, run.deleted) == (SweepRun.Status.ERROR, 0), run.error_message
    states = [Artifact.objects.get(pk=a.pk).state for a in artifacts]
    assert states == [ArtifactState.DELETING] * 4 + [ArtifactState.STORED] * 2
    assert all(_stored(a) for a in artifacts[:2]), "batch 1's bytes were not deleted"
    assert all(_stored(a) for a in artifacts[4:])
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED).exists()

    assert sweep.schedule_daily_sweeps() == [run.pk]
    burst(rq_queue)
    run.refresh_from_db()
    assert (run.status, run.deleted, run.skipped_locked, run.errors) == ("complete", 6, 0, 0), run.error_details
    assert [Artifact.objects.get(pk=a.pk).state for a in artifacts] == [ArtifactState.DELETED] * 6
    assert [deleted_events(a) for a in artifacts] == [1] * 6
    assert not any(_stored(a) for a in artifacts)
