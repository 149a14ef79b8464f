"""The lock engine: every rule of PRODUCT.md's Locks section, through the request services."""

import datetime as dt
import uuid
from functools import partial

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.actors import user_actor
from accounts.models import AuditEvent
from accounts.permissions import DEFAULT_ROLES, SUPERVISOR
from artifacts.models import Artifact, Lock, ManagementRequest
from core.vocabulary import ArtifactState, ArtifactType, AudioRecordingType
from tests.factories import (
    ArtifactFactory,
    InteractionFactory,
    MembershipFactory,
    RoleFactory,
    UserFactory,
    fail_job,
    management_request,
    process_request,
)

pytestmark = pytest.mark.django_db

run = partial(management_request, process=True)
AUDIO, CUSTOMER, AGENT = (
    ArtifactType.AUDIO_RECORDING,
    AudioRecordingType.CONFERENCE_CUSTOMER,
    AudioRecordingType.CONFERENCE_AGENT,
)


def artifacts_of(interaction):
    """One artifact of each kind a lock may or may not cover."""
    made = {
        "customer": ArtifactFactory(interaction=interaction),
        "agent": ArtifactFactory(interaction=interaction, audio_recording_type=AGENT),
        "email": ArtifactFactory(
            interaction=interaction,
            artifact_type=ArtifactType.EMAIL,
            audio_recording_type="",
            content_key=str(uuid.uuid4()),
            filename="m.eml",
        ),
        "voicemail": ArtifactFactory(
            interaction=interaction,
            artifact_type=ArtifactType.VOICEMAIL,
            audio_recording_type="",
            content_key=str(uuid.uuid4()),
        ),
        "script": ArtifactFactory(
            interaction=interaction,
            artifact_type=ArtifactType.SCRIPT,
            audio_recording_type="",
            content_key=str(uuid.uuid4()),
            filename="s.txt",
        ),
    }
    return made


def locked_ids():
    return set(Artifact.objects.locked().values_list("id", flat=True))


@pytest.fixture
def admin(acme, member):
    return member(acme, "Administrator")


def test_any_covers_every_type_except_script_and_voicemail(acme, admin):
    call = InteractionFactory(tenant=acme)
    a = artifacts_of(call)
    req = run(acme, admin, "add_lock", [call])
    assert req.status == ManagementRequest.Status.COMPLETE
    assert locked_ids() == {a["customer"].pk, a["agent"].pk, a["email"].pk}
    item = req.items.get()
    assert (item.matched, item.locked) == (3, 3)


def test_lock_covers_content_that_arrives_later(acme, admin):
    call = InteractionFactory(tenant=acme)
    run(acme, admin, "add_lock", [call])
    late = ArtifactFactory(interaction=call)
    assert late.pk in locked_ids()
    other = ArtifactFactory(interaction=InteractionFactory(tenant=acme))
    assert other.pk not in locked_ids()


def test_audio_lock_covers_only_its_audio_recording_type(acme, admin):
    call = InteractionFactory(tenant=acme)
    a = artifacts_of(call)
    run(acme, admin, "add_lock", [call], artifact_type=AUDIO, audio_recording_type=CUSTOMER)
    assert locked_ids() == {a["customer"].pk}


def test_expired_lock_no_longer_protects(acme, admin):
    call = InteractionFactory(tenant=acme)
    a = artifacts_of(call)
    tomorrow = timezone.now().date() + dt.timedelta(days=2)
    run(acme, admin, "add_lock", [call], lock_expires=True, lock_expires_on=tomorrow)
    lock = Lock.objects.first()
    # The lock holds through the whole expiry day, in the tenant's time zone (Europe/Paris).
    assert lock.expires_at.astimezone(dt.UTC) > timezone.now()
    assert a["customer"].pk in locked_ids()
    assert a["customer"].pk not in set(Artifact.objects.locked(now=lock.expires_at).values_list("id", flat=True))


def test_several_locks_stack_and_adding_never_shortens(acme, admin):
    call = InteractionFactory(tenant=acme)
    a = artifacts_of(call)
    run(acme, admin, "add_lock", [call])  # no expiry
    soon = timezone.now().date() + dt.timedelta(days=3)
    run(acme, admin, "add_lock", [call], lock_expires=True, lock_expires_on=soon)
    after_expiry = Lock.objects.filter(expires_at__isnull=False).first().expires_at + dt.timedelta(days=1)
    assert a["customer"].pk in set(Artifact.objects.locked(now=after_expiry).values_list("id", flat=True))


def test_remove_lock_releases_every_lock_of_the_types_and_leaves_others_locked(acme, admin):
    call = InteractionFactory(tenant=acme)
    a = artifacts_of(call)
    run(acme, admin, "add_lock", [call])  # Any
    run(acme, admin, "add_lock", [call], artifact_type=ArtifactType.VOICEMAIL)
    req = run(acme, admin, "remove_lock", [call], artifact_type=ArtifactType.EMAIL)
    assert locked_ids() == {a["customer"].pk, a["agent"].pk, a["voicemail"].pk}
    item = req.items.get()
    assert (item.matched, item.unlocked) == (1, 1)
    req = run(acme, admin, "remove_lock", [call], artifact_type=AUDIO, audio_recording_type=AGENT)
    assert locked_ids() == {a["customer"].pk, a["voicemail"].pk}
    run(acme, admin, "remove_lock", [call])  # Any: voicemail stays
    assert locked_ids() == {a["voicemail"].pk}


def test_delete_skips_locked_and_is_complete_with_the_skips_shown(acme, admin, file_storages):
    locked_call, free_call = InteractionFactory(tenant=acme), InteractionFactory(tenant=acme)
    held, free = artifacts_of(locked_call), artifacts_of(free_call)
    run(acme, admin, "add_lock", [locked_call])
    req = run(acme, admin, "delete", [locked_call, free_call])
    assert req.status == ManagementRequest.Status.COMPLETE
    items = {i.interaction_id: i for i in req.items.all()}
    assert (
        items[locked_call.pk].matched,
        items[locked_call.pk].deleted,
        items[locked_call.pk].skipped_locked,
    ) == (3, 0, 3)
    assert (items[free_call.pk].matched, items[free_call.pk].deleted) == (3, 3)
    for key in ("customer", "agent", "email"):
        held[key].refresh_from_db()
        assert held[key].state == ArtifactState.STORED
        gone = Artifact.objects.get(pk=free[key].pk)
        assert gone.state == ArtifactState.DELETED and gone.deleted_by == admin.username
        assert gone.deletion_reason == f"Artifacts Management Request {req.pk} (Delete)"
        assert not (file_storages[0] / gone.storage_key).exists()
    # Script and Voicemail are not covered by Any: untouched.
    assert Artifact.objects.get(pk=free["voicemail"].pk).state == ArtifactState.STORED
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED, request_id=req.pk).count() == 3


def test_delete_with_remove_locks_unlocks_then_deletes(acme, admin):
    call = InteractionFactory(tenant=acme)
    a = artifacts_of(call)
    run(acme, admin, "add_lock", [call])
    req = run(acme, admin, "delete", [call], remove_locks=True)
    item = req.items.get()
    assert (item.matched, item.unlocked, item.deleted, item.skipped_locked) == (3, 3, 3, 0)
    assert Artifact.objects.get(pk=a["customer"].pk).state == ArtifactState.DELETED
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.LOCK_REMOVED, request_id=req.pk).exists()


def test_processing_twice_changes_nothing_more(acme, admin):
    call = InteractionFactory(tenant=acme)
    artifacts_of(call)
    req = run(acme, admin, "add_lock", [call])
    ManagementRequest.objects.filter(pk=req.pk).update(status=ManagementRequest.Status.QUEUED)
    req.items.update(status="pending")
    process_request(req.pk)
    assert Lock.objects.count() == 10  # Any = 10 (type, audio type) pairs, once


def test_locked_interactions_limit_is_enforced_with_a_clear_message(acme, admin):
    acme.locked_interactions_limit = 2
    acme.save()
    calls = [InteractionFactory(tenant=acme) for _ in range(3)]
    run(acme, admin, "add_lock", calls[:2])
    with pytest.raises(ValidationError, match="the limit for Acme is 2 locked interactions"):
        run(acme, admin, "add_lock", calls[2:])
    run(acme, admin, "add_lock", calls[:1])  # already locked: no new locked interaction
    assert ManagementRequest.objects.count() == 2  # the refused one was not saved


def test_permissions_for_request_types_come_from_the_actors_own_grants(acme, member):
    supervisor = member(acme, SUPERVISOR)
    call = InteractionFactory(tenant=acme)
    run(acme, supervisor, "add_lock", [call])
    with pytest.raises(PermissionDenied):
        run(acme, supervisor, "delete", [call])
    with pytest.raises(PermissionDenied):
        run(acme, supervisor, "remove_lock", [call])
    deleter = UserFactory()
    role = RoleFactory(
        tenant=acme,
        name="Compliance without remove lock",
        permissions=set(DEFAULT_ROLES["Compliance Officer"]) - {"artifacts_management_remove_lock_requests"},
    )
    MembershipFactory(user=deleter, tenant=acme, role=role)
    run(acme, deleter, "delete", [call])
    with pytest.raises(PermissionDenied, match="Remove Locks to Process Request"):
        run(acme, deleter, "delete", [call], remove_locks=True)
    assert ManagementRequest.objects.filter(created_by_user=supervisor).count() == 1


def test_cancel_and_retry_need_the_permissions_of_the_request(acme, member):
    from artifacts.services import cancel_management_request, retry_management_request

    compliance, supervisor = member(acme, "Compliance Officer"), member(acme, SUPERVISOR)
    call = InteractionFactory(tenant=acme)
    queued = run(acme, compliance, "delete", [call], process=False)
    with pytest.raises(PermissionDenied, match="ARTIFACTS_MANAGEMENT_REQUESTS_CREATE"):
        cancel_management_request(queued.pk, user_actor(member(acme, "Viewer")))
    fail_job(queued, "storage unreachable")
    with pytest.raises(PermissionDenied, match="ARTIFACTS_MANAGEMENT_DELETE_REQUESTS"):
        retry_management_request(queued.pk, user_actor(supervisor))
    assert ManagementRequest.objects.get(pk=queued.pk).status == ManagementRequest.Status.ERROR
    retry_management_request(queued.pk, user_actor(compliance))
    assert ManagementRequest.objects.get(pk=queued.pk).status == ManagementRequest.Status.QUEUED
