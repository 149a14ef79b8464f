"""The retention sweep: deletes and archives what is due, never what is locked, and says so."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from artifacts.models import Artifact, Lock
from artifacts.storage import get_storage
from config import jobs
from core.vocabulary import ArtifactState, ArtifactType, ContentKey, Direction, Origin
from policies import services, sweep
from policies.models import LifecyclePolicy, SweepRun
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, management_request

pytestmark = pytest.mark.django_db


def aged(interaction, days, **fields):
    return ArtifactFactory(interaction=interaction, created_at=timezone.now() - timedelta(days=days), **fields)


def dialer_call(tenant):
    return InteractionFactory(tenant=tenant, direction=Direction.OUTBOUND, origin=Origin.DIALER)


def run_sweep(tenant):
    run = services.start_sweep(tenant.pk, SYSTEM, SweepRun.Trigger.COMMAND, enqueue=False)
    jobs.work("lifecycle_sweep", run.pk)
    run.refresh_from_db()
    return run


def state(artifact):
    return Artifact.objects.get(pk=artifact.pk).state


def test_due_artifacts_are_deleted_with_tombstones_and_the_policy_as_actor(acme):
    call = dialer_call(acme)
    due = aged(call, 31)
    young = aged(call, 29)
    transcript = aged(call, 31, artifact_type=ArtifactType.MESSAGING_TRANSCRIPT, content_key=ContentKey.CHAT_TRANSCRIPT)
    run = run_sweep(acme)
    assert (run.status, run.deleted, run.archived, run.skipped_locked, run.errors) == ("complete", 1, 0, 0, 0)
    gone = Artifact.objects.get(pk=due.pk)
    assert gone.state == ArtifactState.DELETED and gone.deleted_at is not None
    assert gone.deleted_by == "Lifecycle policy “Outbound dialer recordings”"
    assert "delete after 30 days" in gone.deletion_reason
    assert not get_storage("active").exists(due.storage_key)
    assert state(young) == state(transcript) == ArtifactState.STORED, "365 days for everything else"
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.ARTIFACT_DELETED, artifact_id=due.pk)
    assert event.actor_label == gone.deleted_by and event.actor_user is None
    assert event.interaction_guid == call.guid
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SWEEP_FINISHED, details__sweep=run.pk).count() == 1
    # Running again finds nothing more: nothing is deleted twice.
    again = run_sweep(acme)
    assert again.deleted == 0
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED, artifact_id=due.pk).count() == 1


def test_policies_deciding_in_one_batch_each_name_their_own_deletions(acme):
    """One pass of the delete path serves every policy of a batch; each tombstone and audit event
    still names the policy that decided it, with its own rule."""
    dialer = aged(dialer_call(acme), 31)
    other = aged(InteractionFactory(tenant=acme), 366)
    run = run_sweep(acme)
    assert (run.status, run.deleted) == ("complete", 2)
    decided = {
        e.artifact_id: (e.actor_label, e.reason)
        for e in AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED)
    }
    assert decided == {
        dialer.pk: ("Lifecycle policy “Outbound dialer recordings”",
                    "Lifecycle policy “Outbound dialer recordings”: delete after 30 days"),
        other.pk: ("Lifecycle policy “Everything else”", "Lifecycle policy “Everything else”: delete after 365 days"),
    }  # fmt: skip


def test_locked_artifacts_are_exempt_and_counted(acme):
    locked_call, free_call = dialer_call(acme), dialer_call(acme)
    held = aged(locked_call, 40)
    free = aged(free_call, 40)
    management_request(acme, SYSTEM, "add_lock", [locked_call], process=True)
    run = run_sweep(acme)
    assert (run.deleted, run.skipped_locked) == (1, 1)
    assert state(held) == ArtifactState.STORED and state(free) == ArtifactState.DELETED
    assert get_storage("active").exists(held.storage_key)


def test_expired_lock_makes_the_artifact_eligible_and_its_expiry_is_audited_once(acme):
    call = dialer_call(acme)
    artifact = aged(call, 40)
    management_request(acme, SYSTEM, "add_lock", [call], process=True)
    assert run_sweep(acme).deleted == 0
    # The lock's date passes (it was set to the end of a day; move it into the past).
    Lock.objects.filter(interaction=call).update(expires_at=timezone.now() - timedelta(minutes=1))
    run = run_sweep(acme)
    assert (run.deleted, run.locks_expired) == (1, 10)  # Any = one lock row per covered type
    assert state(artifact) == ArtifactState.DELETED
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.LOCK_EXPIRED, interaction_guid=call.guid).count() == 10
    assert run_sweep(acme).locks_expired == 0


def test_removed_lock_with_a_past_date_is_deleted_at_the_next_run(acme):
    call = dialer_call(acme)
    artifact = aged(call, 40)
    management_request(acme, SYSTEM, "add_lock", [call], process=True)
    assert run_sweep(acme).skipped_locked == 1
    management_request(acme, SYSTEM, "remove_lock", [call], process=True)
    assert run_sweep(acme).deleted == 1
    assert state(artifact) == ArtifactState.DELETED


def test_archive_copies_verifies_and_removes_the_source_and_stays_downloadable(acme, member):
    call = InteractionFactory(tenant=acme)
    services.create_policy(acme.pk, SYSTEM, name="Archive voice", channel="voice", archive_after_days=10)
    old = aged(call, 11, content=b"RIFF-archived-bytes" * 100)
    new = aged(call, 9)
    run = run_sweep(acme)
    assert (run.archived, run.deleted, run.errors) == (1, 0, 0)
    moved = Artifact.objects.get(pk=old.pk)
    assert moved.state == ArtifactState.ARCHIVED and moved.archived_at is not None
    assert not get_storage("active").exists(old.storage_key)
    assert get_storage("archive").exists(old.storage_key)
    assert state(new) == ArtifactState.STORED
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.ARTIFACT_ARCHIVED, artifact_id=old.pk)
    assert event.actor_label == "Lifecycle policy “Archive voice”"
    client = Client()
    client.force_login(member(acme, "Viewer"))
    response = client.get(f"/t/acme/artifacts/{old.pk}/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"RIFF-archived-bytes" * 100


def test_a_bad_archive_copy_keeps_the_source_and_records_an_error(acme):
    call = InteractionFactory(tenant=acme)
    services.create_policy(acme.pk, SYSTEM, name="Archive voice", channel="voice", archive_after_days=10)
    rotten, fine = aged(call, 11), aged(call, 12)
    # The bytes no longer match the checksum recorded at ingestion (bit rot, a bad disk ...).
    Artifact.objects.filter(pk=rotten.pk).update(sha256="0" * 64)
    run = run_sweep(acme)
    assert (run.status, run.archived, run.errors) == ("error", 1, 1)
    assert run.error_details[0]["artifact"] == rotten.pk and "SHA-256" in run.error_details[0]["error"]
    assert state(rotten) == ArtifactState.STORED and get_storage("active").exists(rotten.storage_key)
    assert not get_storage("archive").exists(rotten.storage_key), "the bad copy is removed"
    assert state(fine) == ArtifactState.ARCHIVED
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SWEEP_FAILED, details__sweep=run.pk).exists()


def test_archived_artifacts_are_deleted_from_the_archive_when_their_date_comes(acme):
    call = InteractionFactory(tenant=acme)
    services.create_policy(acme.pk, SYSTEM, name="Voice", channel="voice", archive_after_days=10, delete_after_days=400)
    artifact = aged(call, 20)
    assert run_sweep(acme).archived == 1
    Artifact.objects.filter(pk=artifact.pk).update(created_at=timezone.now() - timedelta(days=401))
    assert run_sweep(acme).deleted == 1
    assert not get_storage("archive").exists(artifact.storage_key)


def test_dry_run_changes_nothing_and_prints_what_it_would_do(acme, capsys):
    call = dialer_call(acme)
    aged(call, 31)
    aged(call, 32)
    locked_call = dialer_call(acme)
    aged(locked_call, 31)
    management_request(acme, SYSTEM, "add_lock", [locked_call], process=True)
    call_command("apply_lifecycle_policies", "--tenant", "acme", "--dry-run")
    out = capsys.readouterr().out
    assert "nothing was changed" in out
    row = next(line for line in out.splitlines() if line.startswith("acme"))
    assert row.split()[1:4] == ["2", "0", "1"]
    assert not SweepRun.objects.exists()
    assert not Artifact.objects.filter(state=ArtifactState.DELETED).exists()


@pytest.mark.django_db(transaction=True)  # jobs.run closes the connection, as a worker does
def test_command_sweeps_and_reports(acme, globex, capsys):
    aged(dialer_call(acme), 31)
    aged(dialer_call(globex), 31)
    call_command("apply_lifecycle_policies", "--tenant", "acme")
    out = capsys.readouterr().out
    assert "acme" in out and "globex" not in out
    run = SweepRun.objects.get()
    assert (run.tenant, run.trigger, run.status, run.deleted) == (acme, "command", "complete", 1)
    assert Artifact.objects.filter(tenant=globex, state=ArtifactState.STORED).count() == 1


def test_command_names_an_unknown_tenant(acme):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--tenant: no tenant with the slug 'nope'"):
        call_command("apply_lifecycle_policies", "--tenant", "nope")


def test_preview_numbers_equal_what_the_sweep_then_does(acme):
    calls = [InteractionFactory(tenant=acme) for _ in range(3)]
    for call in calls:
        aged(call, 50)
        aged(call, 15)
        aged(call, 5)
    management_request(acme, SYSTEM, "add_lock", [calls[0]], process=True)
    change = services.build_policy(acme.pk, name="Voice", channel="voice", archive_after_days=10, delete_after_days=40)
    numbers = services.preview(acme.pk, change=change)
    assert (numbers["delete"], numbers["archive"], numbers["locked"]) == (2, 2, 2)
    services.create_policy(acme.pk, SYSTEM, name="Voice", channel="voice", archive_after_days=10, delete_after_days=40)
    run = run_sweep(acme)
    assert (run.deleted, run.archived, run.skipped_locked) == (2, 2, 2)


def test_preview_of_disabling_a_keep_forever_policy(acme):
    call = InteractionFactory(tenant=acme)
    aged(call, 400)
    keep = services.create_policy(acme.pk, SYSTEM, name="Keep voice", channel="voice", keep_forever=True)
    assert services.preview(acme.pk)["total_delete"] == 0
    disabled = services.build_policy(acme.pk, keep.pk, enabled=False)
    assert services.preview(acme.pk, change=disabled)["delete"] == 1
    assert services.preview(acme.pk, remove=keep.pk)["delete"] == 1


@pytest.mark.django_db(transaction=True)  # jobs.run closes the connection, as a worker does
def test_schedule_creates_one_run_per_tenant_and_day_and_catches_up(acme, globex, settings):
    settings.LIFECYCLE_SWEEP_HOUR = 2
    settings.JOBS_INLINE = True
    now = timezone.now()
    first = sweep.schedule_daily_sweeps(now=now)
    assert len(first) == 2
    assert sweep.schedule_daily_sweeps(now=now) == [], "idempotent within the day"
    runs = SweepRun.objects.filter(trigger="schedule")
    assert runs.count() == 2 and all(r.status == "complete" for r in runs), "inline jobs ran them"
    # The scheduler was down for three days: one run for the current day does all that is due.
    later = now + timedelta(days=3)
    assert len(sweep.schedule_daily_sweeps(now=later)) == 2
    assert SweepRun.objects.filter(trigger="schedule").count() == 4


@pytest.mark.django_db(transaction=True)  # jobs.run closes the connection, as a worker does
def test_schedule_resumes_a_failed_run(acme, settings):
    settings.JOBS_INLINE = True
    now = timezone.now()
    day = sweep.sweep_day(acme, now)
    run = SweepRun.objects.create(
        tenant=acme, trigger="schedule", scheduled_for=day, created_by="Daily schedule", status="error", attempts=1
    )
    aged(dialer_call(acme), 31)
    assert sweep.schedule_daily_sweeps(now=now) == [run.pk]
    run.refresh_from_db()
    assert (run.status, run.attempts, run.deleted) == ("complete", 2, 1)


def test_default_policy_cannot_be_deleted(acme):
    from django.core.exceptions import ValidationError

    default = LifecyclePolicy.objects.get(tenant=acme, is_default=True)
    with pytest.raises(ValidationError, match="cannot be deleted"):
        services.delete_policy(default.pk, SYSTEM)


def test_scheduled_sweeps_wait_for_the_tenants_start_day(acme, globex):
    """Demo data gets tomorrow as its first sweep day: the first start deletes nothing unseen."""
    from accounts.services import update_tenant

    now = timezone.now()
    day = sweep.sweep_day(acme, now)
    update_tenant(acme.pk, SYSTEM, sweeps_start_on=day + timedelta(days=1))
    aged(dialer_call(acme), 31)
    enqueued = sweep.schedule_daily_sweeps(now=now)
    assert not SweepRun.objects.filter(tenant=acme).exists() and len(enqueued) == 1, "globex only"
    assert sweep.schedule_daily_sweeps(now=now + timedelta(days=1)) != []
    assert SweepRun.objects.filter(tenant=acme, scheduled_for=day + timedelta(days=1)).exists()


def test_seed_demo_starts_the_demo_tenants_sweeps_tomorrow(db):
    from zoneinfo import ZoneInfo

    from accounts.models import Tenant

    call_command("seed_demo", "--interactions", "0", "--tenant", "acme", verbosity=0)
    acme = Tenant.objects.get(slug="acme")
    assert acme.sweeps_start_on == timezone.localdate(timezone.now(), ZoneInfo(acme.time_zone)) + timedelta(days=1)
    sweep.schedule_daily_sweeps()
    assert not SweepRun.objects.filter(tenant=acme).exists()
