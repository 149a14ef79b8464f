"""S3 legal holds mirror the locks: the storage itself refuses to delete held content (moto server)."""

from functools import partial

import pytest
from botocore.exceptions import ClientError

from accounts.actors import user_actor
from artifacts.models import Artifact, ManagementRequest
from artifacts.services import retry_management_request
from config import jobs
from core.vocabulary import ArtifactState, ArtifactType
from tests.factories import ArtifactFactory, InteractionFactory, management_request
from tests.s3proxy import S3Proxy

pytestmark = [pytest.mark.django_db, pytest.mark.s3]
run = partial(management_request, process=True)


@pytest.fixture
def held_storage(s3_storages, settings):
    settings.S3_OBJECT_LOCK = True
    return s3_storages[0]


def hold_status(s3_client, bucket, artifact):
    artifact.refresh_from_db()
    response = s3_client.get_object_legal_hold(
        Bucket=bucket, Key=artifact.storage_key, VersionId=artifact.storage_version
    )
    return response["LegalHold"].get("Status", "OFF")  # never held: moto answers no status


def test_locked_objects_carry_a_legal_hold_and_the_storage_refuses_deletes(acme, member, held_storage, s3_client):
    admin = member(acme, "Administrator")
    call = InteractionFactory(tenant=acme)
    recording = ArtifactFactory(interaction=call)
    run(acme, admin, "add_lock", [call])
    assert hold_status(s3_client, held_storage, recording) == "ON"
    assert recording.legal_hold is True
    # A direct delete of the object version, bypassing Holdfast, is refused by the storage itself.
    with pytest.raises(ClientError, match=r"AccessDenied|locked|WORM"):
        s3_client.delete_object(Bucket=held_storage, Key=recording.storage_key, VersionId=recording.storage_version)
    assert s3_client.head_object(Bucket=held_storage, Key=recording.storage_key)


def test_second_lock_keeps_the_hold_and_the_last_release_clears_it(acme, member, held_storage, s3_client):
    admin = member(acme, "Administrator")
    call = InteractionFactory(tenant=acme)
    recording = ArtifactFactory(interaction=call)
    run(acme, admin, "add_lock", [call])
    run(
        acme,
        admin,
        "add_lock",
        [call],
        artifact_type=ArtifactType.AUDIO_RECORDING,
        audio_recording_type="conference_customer",
    )
    run(acme, admin, "remove_lock", [call], artifact_type=ArtifactType.EMAIL)  # another type: hold stays
    assert hold_status(s3_client, held_storage, recording) == "ON"
    run(acme, admin, "remove_lock", [call])  # Any covers audio: both locks on the recording go
    assert hold_status(s3_client, held_storage, recording) == "OFF"
    req = run(acme, admin, "delete", [call])
    assert req.items.get().deleted == 1
    versions = s3_client.list_object_versions(Bucket=held_storage, Prefix=recording.storage_key)
    assert not versions.get("Versions"), "the bytes are gone, not hidden behind a delete marker"


def test_content_arriving_for_a_locked_interaction_is_held_at_once(acme, member, held_storage, s3_client):
    admin = member(acme, "Administrator")
    call = InteractionFactory(tenant=acme)
    run(acme, admin, "add_lock", [call])
    late = ArtifactFactory(interaction=call)
    assert hold_status(s3_client, held_storage, late) == "ON"


def test_delete_with_remove_locks_clears_holds_then_deletes(acme, member, held_storage, s3_client):
    admin = member(acme, "Administrator")
    call = InteractionFactory(tenant=acme)
    recording = ArtifactFactory(interaction=call)
    run(acme, admin, "add_lock", [call])
    req = run(acme, admin, "delete", [call], remove_locks=True)
    item = req.items.get()
    assert (item.unlocked, item.deleted) == (1, 1)
    assert Artifact.objects.get(pk=recording.pk).state == ArtifactState.DELETED


def test_a_stale_hold_without_a_lock_is_cleared_before_deleting(acme, member, held_storage, s3_client):
    """A hold left behind (e.g. a lock that lapsed) does not make the delete fail."""
    admin = member(acme, "Administrator")
    recording = ArtifactFactory(interaction=InteractionFactory(tenant=acme))
    s3_client.put_object_legal_hold(
        Bucket=held_storage, Key=recording.storage_key, VersionId=recording.storage_version, LegalHold={"Status": "ON"}
    )
    Artifact.objects.filter(pk=recording.pk).update(legal_hold=True)
    req = run(acme, admin, "delete", [recording.interaction])
    assert req.status == ManagementRequest.Status.COMPLETE and req.items.get().deleted == 1


def test_storage_refusal_is_an_item_error_and_the_artifact_stays(acme, member, held_storage, s3_client):
    """If storage refuses (a hold Holdfast did not record), the artifact is kept and the request errs."""
    admin = member(acme, "Administrator")
    recording = ArtifactFactory(interaction=InteractionFactory(tenant=acme))
    s3_client.put_object_legal_hold(
        Bucket=held_storage, Key=recording.storage_key, VersionId=recording.storage_version, LegalHold={"Status": "ON"}
    )
    req = run(acme, admin, "delete", [recording.interaction])
    assert req.status == ManagementRequest.Status.ERROR and req.retryable
    item = req.items.get()
    assert item.status == "error" and "Storage refused" in item.error and item.deleted == 0
    assert Artifact.objects.get(pk=recording.pk).state == ArtifactState.STORED


def test_many_holds_are_set_concurrently_and_a_failed_one_is_an_error_a_retry_finishes(
    acme, member, held_storage, s3_client, s3_server, settings
):
    """Holds go S3_HOLD_CONCURRENCY at a time. When S3 fails one object's hold, the others are held
    and recorded (the flags say exactly what S3 holds), the request errs, and its retry holds the
    last one."""
    settings.S3_HOLD_CONCURRENCY = 8
    admin = member(acme, "Administrator")
    calls = [InteractionFactory(tenant=acme) for _ in range(8)]
    recordings = [ArtifactFactory(interaction=call) for call in calls for _ in range(3)]
    unlucky = recordings[5]
    with S3Proxy(s3_server) as proxy:
        for name in ("default", "active", "archive"):
            settings.STORAGES[name]["OPTIONS"]["endpoint_url"] = proxy.url
        settings.STORAGES = dict(settings.STORAGES)
        proxy.fail(lambda method, path: method == "PUT" and "legal-hold" in path and unlucky.storage_key in path)
        req = run(acme, admin, "add_lock", calls)
        assert req.status == ManagementRequest.Status.ERROR and req.retryable
        for r in recordings:
            held = hold_status(s3_client, held_storage, r) == "ON"
            assert held == r.legal_hold == (r.pk != unlucky.pk), r

        proxy.clear()
        retry_management_request(req.pk, user_actor(admin))
        jobs.work("management_request", req.pk)
    retried = ManagementRequest.objects.get(pk=req.pk)
    assert retried.status == ManagementRequest.Status.COMPLETE
    assert hold_status(s3_client, held_storage, unlucky) == "ON"
    assert Artifact.objects.filter(legal_hold=True).count() == len(recordings)


def _through_proxy(settings, proxy):
    for name in ("default", "active", "archive"):
        settings.STORAGES[name]["OPTIONS"]["endpoint_url"] = proxy.url
    settings.STORAGES = dict(settings.STORAGES)


def _put_hold(method, path):
    return method == "PUT" and "legal-hold" in path


def test_a_release_whose_answer_was_lost_does_not_leave_a_later_lock_without_its_hold(
    acme, member, held_storage, s3_client, s3_server, settings
):
    """S3 cleared the hold but the release never heard so (soak seed 1717): the flag must not keep
    saying "held", or the next lock, trusting it, would leave the recording without its hold."""
    admin = member(acme, "Administrator")
    call = InteractionFactory(tenant=acme)
    recording = ArtifactFactory(interaction=call)
    run(acme, admin, "add_lock", [call])
    with S3Proxy(s3_server) as proxy:
        _through_proxy(settings, proxy)
        proxy.lose_answers(_put_hold)
        run(acme, admin, "remove_lock", [call])
        assert hold_status(s3_client, held_storage, recording) == "OFF"
        assert recording.legal_hold is False  # asked S3 what it holds: the truth, not the old flag
        proxy.clear()
        run(acme, admin, "add_lock", [call])
    assert hold_status(s3_client, held_storage, recording) == "ON"
    assert recording.legal_hold is True


def test_a_hold_nobody_can_ask_about_is_unknown_and_the_next_lock_or_the_reconciler_settles_it(
    acme, member, held_storage, s3_client, s3_server, settings
):
    from artifacts.holds import reconcile_legal_holds

    admin = member(acme, "Administrator")
    call, other = InteractionFactory(tenant=acme), InteractionFactory(tenant=acme)
    recording, unlocked = ArtifactFactory(interaction=call), ArtifactFactory(interaction=other)
    run(acme, admin, "add_lock", [call, other])
    with S3Proxy(s3_server) as proxy:
        _through_proxy(settings, proxy)
        proxy.lose_answers(_put_hold)
        proxy.fail(lambda method, path: method == "GET" and "legal-hold" in path)
        req = run(acme, admin, "remove_lock", [call, other])
        assert req.status == ManagementRequest.Status.ERROR
        assert hold_status(s3_client, held_storage, recording) == "OFF"
        recording.refresh_from_db()
        assert recording.legal_hold is None and Artifact.objects.get(pk=unlocked.pk).legal_hold is None
        proxy.clear()
        run(acme, admin, "add_lock", [call])
    assert hold_status(s3_client, held_storage, recording) == "ON"
    assert recording.legal_hold is True
    # The other one is unlocked with its flag unknown: the reconciler clears what S3 may hold.
    assert reconcile_legal_holds() == (0, 1)
    assert Artifact.objects.get(pk=unlocked.pk).legal_hold is False
    assert hold_status(s3_client, held_storage, unlocked) == "OFF"
