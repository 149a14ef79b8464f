"""Creating and correcting interactions and storing content go through audited, idempotent services,
and support staff's admin edits use them too (with the retention effect shown and recorded)."""

import io
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.actors import user_actor
from accounts.models import AuditEvent
from artifacts.models import Artifact
from artifacts.services import store_artifact
from artifacts.storage import get_storage
from core.vocabulary import ArtifactType, AudioRecordingType, ContentKey, Direction, Origin
from interactions import services
from interactions.models import Interaction
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, management_request

pytestmark = pytest.mark.django_db

CALL = {
    "channel": "voice",
    "direction": "outbound",
    "origin": "dialer",
    "source_system": "twilio-flex",
    "source_task_id": "WT" + "a" * 32,
    "source_call_id": "CA" + "b" * 32,
}


def test_create_interaction_is_audited_and_idempotent_by_source_ids(acme, globex):
    first, created = services.create_interaction(acme.pk, SYSTEM, started_at=timezone.now(), **CALL)
    assert created
    again, created_again = services.create_interaction(acme.pk, SYSTEM, started_at=timezone.now(), **CALL)
    assert (again.pk, created_again) == (first.pk, False)
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.INTERACTION_CREATED)
    assert event.interaction_guid == first.guid and event.details["source_task_id"] == CALL["source_task_id"]
    # The same ids in another tenant are another tenant's interaction.
    other, created_other = services.create_interaction(globex.pk, SYSTEM, started_at=timezone.now(), **CALL)
    assert created_other and other.pk != first.pk


def test_the_database_refuses_a_second_interaction_for_one_source_task(acme):
    InteractionFactory(tenant=acme, source_system="twilio-flex", source_task_id="WT1")
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        InteractionFactory(tenant=acme, source_system="twilio-flex", source_task_id="WT1")


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"channel": "fax"}, "channel"),
        ({"direction": "sideways"}, "direction"),
        ({"started_at": None}, "started_at"),
        ({"colour": "blue"}, "colour"),
        ({"metadata": {"": "x"}}, "metadata"),
    ],
)
def test_bad_fields_name_the_field_and_save_nothing(acme, fields, field):
    data = {"channel": "voice", "direction": "inbound", "started_at": timezone.now(), **fields}
    with pytest.raises(ValidationError) as raised:
        services.create_interaction(acme.pk, SYSTEM, **data)
    assert field in raised.value.message_dict
    assert not Interaction.objects.exists()


def test_only_ingestion_sources_operators_and_support_create_or_correct(acme, member):
    admin = user_actor(member(acme, "Administrator"))
    with pytest.raises(PermissionDenied, match="INGEST_CONTENT"):
        services.create_interaction(acme.pk, admin, started_at=timezone.now(), **CALL)
    call = InteractionFactory(tenant=acme)
    with pytest.raises(PermissionDenied, match="INGEST_CONTENT"):
        services.update_interaction(call.pk, admin, channel="email")
    with pytest.raises(PermissionDenied, match="INGEST_CONTENT"):
        store_artifact(call.pk, actor=admin, artifact_type="email", content_key="transcript",
                       filename="x.eml", stream=io.BytesIO(b"x"))  # fmt: skip


def test_store_artifact_is_audited_idempotent_and_locked_on_arrival(acme, file_storages):
    call = InteractionFactory(tenant=acme)
    management_request(acme, SYSTEM, "add_lock", [call], process=True)
    kwargs = {
        "actor": SYSTEM,
        "artifact_type": ArtifactType.AUDIO_RECORDING,
        "audio_recording_type": AudioRecordingType.CONFERENCE_AGENT,
        "content_key": ContentKey.CALL_RECORDING,
        "filename": "agent.wav",
        "idempotency_key": "RE" + "c" * 32,
    }
    first = store_artifact(call.pk, stream=io.BytesIO(b"RIFF" * 64), **kwargs)
    again = store_artifact(call.pk, stream=io.BytesIO(b"RIFF" * 64), **kwargs)
    assert again.pk == first.pk and Artifact.objects.count() == 1
    active, _ = file_storages
    assert len([p for p in active.rglob("*") if p.is_file()]) == 1, "the second store wrote nothing"
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.ARTIFACT_STORED)
    assert event.artifact_id == first.pk and event.details["locked_on_arrival"] is True
    assert "locked on arrival" in event.reason
    assert Artifact.objects.filter(pk=first.pk).locked().exists()


def test_a_row_that_cannot_be_saved_leaves_no_bytes_behind(acme, file_storages):
    call = InteractionFactory(tenant=acme)
    with pytest.raises(ValidationError):
        store_artifact(call.pk, actor=SYSTEM, artifact_type="email", content_key="not a key!",
                       filename="x.eml", stream=io.BytesIO(b"x" * 10))  # fmt: skip
    active, _ = file_storages
    assert not [p for p in active.rglob("*") if p.is_file()]
    assert not get_storage("active").exists("anything")


def test_update_reports_and_records_the_retention_effect(acme):
    call = InteractionFactory(tenant=acme, direction=Direction.INBOUND, origin=Origin.QUEUE)
    recording = ArtifactFactory(interaction=call, created_at=timezone.now() - timedelta(days=40))
    _, effect = services.update_interaction(call.pk, SYSTEM, direction=Direction.OUTBOUND, origin=Origin.DIALER)
    assert [e["artifact"] for e in effect] == [recording.pk]
    before, after = effect[0]["before"], effect[0]["after"]
    assert after < before, "outbound dialer recordings go after 30 days instead of 365"
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.INTERACTION_CHANGED)
    assert event.details["changed"]["direction"] == ["inbound", "outbound"]
    assert event.details["retention_effect"] == effect
    _, none = services.update_interaction(call.pk, SYSTEM, agent_name="Someone Else")
    assert none == []


def test_admin_edit_of_a_selected_field_needs_confirmation_and_is_audited(admin_client, acme):
    call = InteractionFactory(tenant=acme, direction=Direction.INBOUND, origin=Origin.QUEUE)
    ArtifactFactory(interaction=call, created_at=timezone.now() - timedelta(days=40))
    url = reverse("admin:interactions_interaction_change", args=[call.pk])
    page = admin_client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update({"direction": "outbound", "origin": "dialer", "metadata": '{"campaign": "spring"}'})
    data.update({"artifacts-TOTAL_FORMS": "0", "artifacts-INITIAL_FORMS": "0"})
    for name in ("started_at", "ended_at"):
        moment = timezone.localtime(getattr(call, name))
        data.pop(name, None)
        data[f"{name}_0"], data[f"{name}_1"] = moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S")
    refused = admin_client.post(url, data)
    assert refused.status_code == 200, "the form comes back asking for the confirmation"
    assert "Deletion dates change for 1 artifact(s)" in refused.content.decode()
    assert Interaction.objects.get(pk=call.pk).direction == "inbound"
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.INTERACTION_CHANGED).exists()

    data["confirm_retention_change"] = "on"
    saved = admin_client.post(url, data, follow=True)
    assert saved.status_code == 200
    assert Interaction.objects.get(pk=call.pk).direction == "outbound"
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.INTERACTION_CHANGED)
    assert event.source == "admin" and event.details["retention_effect"]


def test_admin_tenant_edit_goes_through_the_service(admin_client, acme):
    url = reverse("admin:accounts_tenant_change", args=[acme.pk])
    data = {
        "name": acme.name,
        "time_zone": "Asia/Kolkata",
        "locked_interactions_limit": "5",
        "storage_region": "default",
        "lock_expiry_notice_days": "14",
        "export_retention_days": "7",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    acme.refresh_from_db()
    assert (acme.time_zone, acme.locked_interactions_limit) == ("Asia/Kolkata", 5)
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.TENANT_CHANGED)
    assert event.details["changed"]["time_zone"] == ["Europe/Paris", "Asia/Kolkata"]
    assert event.source == "admin"
    bad = admin_client.post(url, {**data, "time_zone": "Mars/Olympus"})
    assert bad.status_code == 200 and "not a known time zone" in bad.content.decode()
