"""What the soak (bench/soak.py) found, each replayed exactly: a fault proxy in front of the S3 server
(moto, Object Lock) fails one chosen call the way S3 and networks do, or two decisions meet in the
order the soak caught them — and the content's promises hold: a deleted artifact leaves no bytes
behind, holds agree with the committed locks, counts say who did what."""

import io
import json
import threading
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from artifacts import disposal
from artifacts.models import Artifact, ManagementRequest, PendingUpload
from core.vocabulary import ArtifactState
from policies.models import LifecyclePolicy, SweepRun
from policies.services import start_sweep, update_policy
from tests.factories import (
    SYSTEM,
    ArtifactFactory,
    InteractionFactory,
    MembershipFactory,
    management_request,
    process_request,
)
from tests.faultproxy import FaultProxy, route_storages_through
from tests.workers import backend_pid, wait_for, waiting_on_lock

#: More faults in a row than boto3 makes attempts, so that the call fails for its caller.
ATTEMPTS = 6

pytestmark = [pytest.mark.s3, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def proxy(s3_server, s3_storages, settings):
    """The storages reach S3 through a fault proxy (with no faults until a test scripts one)."""
    with FaultProxy(s3_server) as proxy:
        route_storages_through(settings, proxy)
        settings.S3_OBJECT_LOCK = True
        yield proxy


def put_object(method, path):
    return method == "PUT" and "?" not in path


def versions(s3_client, bucket, key):
    listed = s3_client.list_object_versions(Bucket=bucket, Prefix=key)
    return [v["VersionId"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]


def store(call, content=b"RIFF recording " * 64):
    from artifacts.services import store_artifact

    return store_artifact(
        call.pk,
        actor=SYSTEM,
        artifact_type="audio_recording",
        audio_recording_type="conference_customer",
        content_key="callRecording",
        filename="recording.wav",
        stream=io.BytesIO(content),
    )


def test_an_upload_whose_answer_was_lost_leaves_one_version_and_deleting_it_leaves_no_bytes(
    acme, member, proxy, s3_storages, s3_client, settings
):
    """The soak's seed 1: S3 stored the upload, the answer was lost, boto sent it again — two
    versions of the key, the artifact recorded the second, and its Delete left the first behind."""
    settings.JOBS_INLINE = True
    active_bucket = s3_storages[0]
    call = InteractionFactory(tenant=acme)
    proxy.fail_next(put_object, "lost_answer")
    artifact = store(call)
    assert proxy.faults["lost_answer"] == 1, "the upload's answer was lost and boto retried it"
    assert versions(s3_client, active_bucket, artifact.storage_key) == [artifact.storage_version]

    officer = member(acme, "Compliance Officer", username="officer")
    management_request(acme, officer, "delete", [call])
    assert Artifact.objects.get(pk=artifact.pk).state == ArtifactState.DELETED
    assert versions(s3_client, active_bucket, artifact.storage_key) == [], "no byte of deleted content is left"


def tenant_objects(s3_client, bucket, tenant):
    listed = s3_client.list_object_versions(Bucket=bucket, Prefix=f"t{tenant.pk}/")
    return sorted(v["Key"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []))


def later():
    return timezone.now() + disposal.RESUME_AFTER + timedelta(seconds=1)


def test_an_upload_that_failed_leaves_no_bytes_even_when_the_clean_up_fails_too(acme, proxy, s3_storages, s3_client):
    """The soak's seed 2: S3 stored every attempt of an upload but no answer came back; the content
    was refused (no artifact), yet its bytes stayed in the bucket, recorded by nothing."""
    active_bucket = s3_storages[0]
    call = InteractionFactory(tenant=acme)
    for _ in range(ATTEMPTS):
        proxy.fail_next(put_object, "lost_answer")
    with pytest.raises(Exception):  # noqa: B017 - whatever boto3 raises after its retries
        store(call)
    assert not Artifact.objects.exists()
    assert tenant_objects(s3_client, active_bucket, acme) == [], "the refused upload's bytes are removed"

    # The storage fails the upload *and* the clean-up: the intent stays, and the resume removes them.
    for _ in range(ATTEMPTS):
        proxy.fail_next(put_object, "lost_answer")
    for _ in range(ATTEMPTS):
        proxy.fail_next(lambda method, path: method == "GET" and "versions" in path, "slowdown")
    with pytest.raises(Exception):  # noqa: B017
        store(call)
    proxy.scripted.clear()
    assert tenant_objects(s3_client, active_bucket, acme), "the clean-up could not run"
    assert PendingUpload.objects.count() == 1
    assert disposal.resume_interrupted(now=later())["unrecorded_removed"] >= 1
    assert tenant_objects(s3_client, active_bucket, acme) == []
    assert not PendingUpload.objects.exists()


def test_an_archive_copy_that_could_not_be_verified_leaves_no_bytes_in_the_archive(
    acme, proxy, s3_storages, s3_client, settings
):
    """The soak's seed 2: the sweep copied an artifact to the archive, reading the copy back failed,
    the artifact stayed stored — and the unverified copy outlived the artifact's deletion."""
    settings.JOBS_INLINE = True
    active_bucket, archive_bucket = s3_storages
    call = InteractionFactory(tenant=acme)
    artifact = ArtifactFactory(interaction=call, created_at=timezone.now() - timedelta(days=10))
    default = LifecyclePolicy.objects.get(tenant=acme, is_default=True)
    update_policy(default.pk, SYSTEM, archive_after_days=2, delete_after_days=365)
    for _ in range(ATTEMPTS):
        proxy.fail_next(lambda method, path: method == "GET" and path.startswith(f"/{archive_bucket}/"), "slowdown")
    run = start_sweep(acme.pk, SYSTEM, SweepRun.Trigger.COMMAND)
    proxy.scripted.clear()
    run.refresh_from_db()
    assert run.errors == 1 and "archive" in json.dumps(run.error_details), run.error_details
    assert Artifact.objects.get(pk=artifact.pk).state == ArtifactState.STORED, "the source is kept"
    assert tenant_objects(s3_client, archive_bucket, acme) == [], "no unverified copy is left in the archive"

    officer = MembershipFactory(tenant=acme, role_name="Compliance Officer").user
    management_request(acme, officer, "delete", [call])
    assert Artifact.objects.get(pk=artifact.pk).state == ArtifactState.DELETED
    assert tenant_objects(s3_client, active_bucket, acme) == []
    assert tenant_objects(s3_client, archive_bucket, acme) == []


def s3_hold(s3_client, bucket, artifact):
    answer = s3_client.get_object_legal_hold(
        Bucket=bucket, Key=artifact.storage_key, VersionId=artifact.storage_version
    )
    return answer.get("LegalHold", {}).get("Status") == "ON"


def test_a_hold_the_storage_refused_midway_leaves_holds_and_locks_in_agreement(
    acme, member, proxy, s3_storages, s3_client, settings
):
    """Holds were placed inside the request's transaction: S3 held the first recording, refused the
    second, the transaction rolled back — no lock, yet an S3 hold nobody records (the recording
    could never be deleted). Holds follow the committed locks; the resume mends what S3 refused."""
    settings.JOBS_INLINE = True
    active_bucket = s3_storages[0]
    call = InteractionFactory(tenant=acme)
    first, second = (ArtifactFactory(interaction=call) for _ in range(2))
    officer = member(acme, "Compliance Officer", username="officer")
    for _ in range(ATTEMPTS):
        proxy.fail_next(lambda m, p: m == "PUT" and "legal-hold" in p and second.storage_key in p, "slowdown")
    req = management_request(acme, officer, "add_lock", [call])
    proxy.scripted.clear()

    locked = set(Artifact.objects.locked().values_list("pk", flat=True))
    for artifact in (first, second):
        held = s3_hold(s3_client, active_bucket, artifact)
        assert not held or artifact.pk in locked, "no S3 hold without a lock"
        assert Artifact.objects.get(pk=artifact.pk).legal_hold == held, "the recorded hold is the storage's"
    assert locked == {first.pk, second.pk}, "the committed locks hold whatever the storage did"
    assert (req.status, req.retryable) == (ManagementRequest.Status.ERROR, True), "the storage's refusal is reported"

    disposal.resume_interrupted()
    assert [s3_hold(s3_client, active_bucket, a) for a in (first, second)] == [True, True]
    assert list(Artifact.objects.order_by("pk").values_list("legal_hold", flat=True)) == [True, True]


def test_a_deletion_another_decision_took_meanwhile_counts_for_its_decider(acme, member, s3_storages, settings):
    """The soak's seed 4: a Delete request chose an email while it was stored; the sweep decided to
    delete it before the request locked the row (and died before finishing). The request finished
    that deletion and counted it as its own (item ``deleted`` 3, two tombstones of the request),
    while the sweep that decided it never counted it."""
    settings.S3_OBJECT_LOCK = True
    call = InteractionFactory(tenant=acme)
    email = ArtifactFactory(interaction=call, artifact_type="email", content_key="attachment")
    recording = ArtifactFactory(interaction=call)
    run = start_sweep(acme.pk, SYSTEM, SweepRun.Trigger.COMMAND, enqueue=False)
    officer = member(acme, "Compliance Officer", username="officer")
    req = management_request(acme, officer, "delete", [call], artifact_type="all")
    decided, commit = threading.Event(), threading.Event()

    def sweep_decides_and_dies():
        try:
            with transaction.atomic():
                sweep_job = f"lifecycle_sweep:{run.pk}"
                disposal.decide(acme.pk, [(SYSTEM, "sweep", [email.pk])], job=sweep_job, now=timezone.now())
                decided.set()
                commit.wait(30)
        finally:
            connections.close_all()

    pid = {}

    def request_worker():
        try:
            pid["pid"] = backend_pid()
            process_request(req.pk)
        finally:
            connections.close_all()

    sweep = threading.Thread(target=sweep_decides_and_dies)
    sweep.start()
    assert decided.wait(10)
    worker = threading.Thread(target=request_worker)
    worker.start()
    try:
        wait_for(lambda: "pid" in pid and waiting_on_lock(pid["pid"]), message="the request to wait on the row")
    finally:
        commit.set()
        sweep.join(10)
        worker.join(60)

    req.refresh_from_db()
    item = req.items.get()
    assert req.status == ManagementRequest.Status.COMPLETE, req.error_message
    assert [Artifact.objects.get(pk=a.pk).state for a in (email, recording)] == [ArtifactState.DELETED] * 2
    assert Artifact.objects.filter(deletion_request_id=req.pk, state=ArtifactState.DELETED).count() == 1
    assert (item.matched, item.deleted, item.skipped_locked) == (1, 1, 0), "only what the request decided"
    run.refresh_from_db()
    assert run.deleted == 1, "the sweep that decided the email's deletion counts it"
