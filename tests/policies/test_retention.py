"""Which policy decides an artifact's dates: longest retention wins, keep forever beats delete,
the default policy decides what no selecting policy does; dates are shown where artifacts are."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from artifacts.models import Artifact
from core.vocabulary import ArtifactType, AudioRecordingType, ContentKey, Direction, Origin
from interactions.models import Interaction
from policies import services
from policies.models import LifecyclePolicy
from policies.retention import FOREVER, Schedule, earliest_deletion
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, management_request

pytestmark = pytest.mark.django_db


def dates(artifact):
    row = Schedule.for_tenant(artifact.tenant_id).annotate(Artifact.objects.filter(pk=artifact.pk)).get()
    return row.retention_days, row.delete_on, row.archive_on


def aged(interaction, days, **fields):
    return ArtifactFactory(interaction=interaction, created_at=timezone.now() - timedelta(days=days), **fields)


def test_default_schedule_dialer_recordings_30_days_everything_else_365(acme):
    dialer = InteractionFactory(tenant=acme, direction=Direction.OUTBOUND, origin=Origin.DIALER)
    queue = InteractionFactory(tenant=acme, direction=Direction.INBOUND, origin=Origin.QUEUE)
    recording = aged(dialer, 1)
    transcript = aged(
        dialer, 1, artifact_type=ArtifactType.MESSAGING_TRANSCRIPT, content_key=ContentKey.CHAT_TRANSCRIPT
    )
    inbound = aged(queue, 1)
    assert dates(recording)[0] == 30
    assert dates(recording)[1] == recording.created_at + timedelta(days=30)
    assert dates(transcript)[0] == 365
    assert dates(inbound)[0] == 365
    assert set(LifecyclePolicy.objects.filter(tenant=acme).values_list("name", flat=True)) == {
        "Outbound dialer recordings",
        "Everything else",
    }


def test_longest_retention_wins_among_selecting_policies(acme):
    call = InteractionFactory(tenant=acme)
    services.create_policy(acme.pk, SYSTEM, name="Voice 400", channel="voice", delete_after_days=400)
    services.create_policy(acme.pk, SYSTEM, name="Audio 90", artifact_type="audio_recording", delete_after_days=90)
    artifact = aged(call, 1)
    assert dates(artifact)[0] == 400


def test_keep_forever_beats_any_delete(acme):
    call = InteractionFactory(tenant=acme)
    services.create_policy(
        acme.pk,
        SYSTEM,
        name="Keep QM",
        audio_recording_type="",
        keep_forever=True,
        artifact_type="audio_recording",
    )
    services.create_policy(acme.pk, SYSTEM, name="Voice 10", channel="voice", delete_after_days=10)
    artifact = aged(call, 100)
    retention, delete_on, _archive = dates(artifact)
    assert retention == FOREVER and delete_on is None


def test_archive_only_policy_leaves_deletion_to_the_default(acme):
    call = InteractionFactory(tenant=acme)
    services.create_policy(acme.pk, SYSTEM, name="Archive audio", artifact_type="audio_recording", archive_after_days=7)
    artifact = aged(call, 1)
    retention, _delete_on, archive_on = dates(artifact)
    assert retention == 365
    assert archive_on == artifact.created_at + timedelta(days=7)


def test_disabled_policies_decide_nothing(acme):
    default = LifecyclePolicy.objects.get(tenant=acme, is_default=True)
    services.update_policy(default.pk, SYSTEM, enabled=False)
    artifact = aged(InteractionFactory(tenant=acme), 1)
    assert dates(artifact)[1] is None


def test_earliest_deletion_ignores_locked_and_deleted_artifacts(acme):
    call = InteractionFactory(tenant=acme, direction=Direction.OUTBOUND, origin=Origin.DIALER)
    recording = aged(call, 2)
    aged(call, 1, artifact_type=ArtifactType.EMAIL, content_key=ContentKey.ATTACHMENT)
    row = Interaction.objects.annotate(first=earliest_deletion(acme)).get(pk=call.pk)
    assert row.first == recording.created_at + timedelta(days=30)
    management_request(
        acme,
        SYSTEM,
        "add_lock",
        [call],
        artifact_type="audio_recording",
        audio_recording_type=AudioRecordingType.CONFERENCE_CUSTOMER,
        process=True,
    )
    row = Interaction.objects.annotate(first=earliest_deletion(acme)).get(pk=call.pk)
    email = Artifact.objects.get(interaction=call, artifact_type=ArtifactType.EMAIL)
    assert row.first == email.created_at + timedelta(days=365)


def test_interaction_page_shows_each_artifacts_archive_and_deletion_date(acme, member):
    from tests.matrix import client_for

    call = InteractionFactory(tenant=acme, direction=Direction.OUTBOUND, origin=Origin.DIALER)
    recording = aged(call, 40)
    email = aged(call, 1, artifact_type=ArtifactType.EMAIL, content_key=ContentKey.ATTACHMENT)
    services.create_policy(
        acme.pk, SYSTEM, name="Keep email", artifact_type="email", keep_forever=True, archive_after_days=30
    )
    client = client_for(member(acme, "Viewer"))
    html = client.get(f"/t/acme/interactions/{call.guid}/").content.decode()
    row = html[html.index(f'id="artifact-{recording.pk}"') :]
    due = (recording.created_at + timedelta(days=30)).astimezone(ZoneInfo(acme.time_zone)).date().isoformat()
    assert f"Delete {due}" in row[:3000] and "due: at the next sweep" in row[:3000]
    row = html[html.index(f'id="artifact-{email.pk}"') :]
    archive = (email.created_at + timedelta(days=30)).astimezone(ZoneInfo(acme.time_zone)).date().isoformat()
    assert f"Archive {archive}" in row[:3000] and "Kept forever" in row[:3000]
    management_request(acme, SYSTEM, "add_lock", [call], process=True)
    html = client.get(f"/t/acme/interactions/{call.guid}/").content.decode()
    row = html[html.index(f'id="artifact-{recording.pk}"') :]
    assert "kept while locked" in row[:3000]
