"""Ingestion runs against the fake Twilio: voice with every leg, plain and encrypted, chat transcripts,
idempotent re-runs, faults (tampered tag, absent and deleted recordings, 429), content arriving under a
lock, and a run killed mid-way that the next run resumes."""

import hashlib
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rq import SimpleWorker

from accounts.models import AuditEvent
from artifacts.models import Artifact
from artifacts.services import add_locks
from artifacts.storage import get_storage
from config import jobs
from core.vocabulary import ANY, ArtifactType, AudioRecordingType, Channel
from ingestion import ingest, services
from ingestion.models import IngestionRun
from interactions.models import Interaction
from interactions.services import create_interaction
from tests.factories import SYSTEM
from tests.ingestion.conftest import OPERATOR
from tests.matrix import client_for
from tests.workers import kill_worker, shared_storage, start_worker, wait_for, worker_env

pytestmark = pytest.mark.django_db


def run_now(connection, **options):
    """``manage.py twilio_flex ingest ID`` in this process; returns the run row."""
    args = ["twilio_flex", "ingest", str(connection.pk)]
    if "since" in options:
        args += ["--since", options["since"].isoformat()]
    call_command(*args)
    return IngestionRun.objects.filter(connection=connection).order_by("-pk").first()


def content(artifact):
    return b"".join(get_storage("active").iter_bytes(artifact.storage_key))


def test_a_voice_task_becomes_one_interaction_with_every_legs_recording(twilio, make_connection, acme, member):
    services.create_metadata_label(acme.pk, OPERATOR, name="Segment")
    connection = make_connection(metadata_mapping=[["customers.segment", "Segment"]], agent_name_format="last_first")
    task = twilio.add_voice_task()
    run = run_now(connection)
    assert (run.status, run.tasks, run.interactions_created, run.artifacts_stored, run.errors) == (
        "complete",
        1,
        1,
        3,
        0,
    )
    interaction = Interaction.objects.get(tenant=acme)
    assert (interaction.channel, interaction.direction, interaction.from_address, interaction.to_address) == (
        Channel.VOICE,
        "inbound",
        "+15551230001",
        "+15559870000",
    )
    assert (interaction.agent_name, interaction.agent_id) == ("Smith, Alice", task["worker"])
    assert (interaction.source_task_id, interaction.source_call_id) == (task["task"], task["call"])
    assert interaction.duration_seconds == 185
    assert interaction.metadata == {"Queue": "Support", "Segment": "gold", "Twilio Conference SID": task["conference"]}
    media = task["media"]
    by_sid = {a.idempotency_key.removeprefix("twilio:"): a for a in Artifact.objects.filter(interaction=interaction)}
    assert set(by_sid) == {media["customer"], media["worker"], media["conference"]}
    assert by_sid[media["customer"]].audio_recording_type == AudioRecordingType.CONFERENCE_CUSTOMER
    assert by_sid[media["worker"]].audio_recording_type == AudioRecordingType.CONFERENCE_AGENT
    assert by_sid[media["conference"]].audio_recording_type == AudioRecordingType.CONFERENCE_CUSTOMER
    for recording_sid, artifact in by_sid.items():
        assert content(artifact) == media[recording_sid]
        assert artifact.sha256 == hashlib.sha256(media[recording_sid]).hexdigest()
        assert (artifact.artifact_type, artifact.content_type) == (ArtifactType.AUDIO_RECORDING, "audio/wav")
    stored = AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_STORED, tenant=acme)
    assert {e.actor_label for e in stored} == {"Twilio Flex “Flex US”"} and {e.actor_kind for e in stored} == {
        "ingestion"
    }
    connection.refresh_from_db()
    assert connection.cursor == run.until
    # The recordings play in the browser.
    viewer = client_for(member(acme, "Viewer"))
    page = viewer.get(f"/t/acme/interactions/{interaction.guid}/").content.decode()
    assert page.count("<audio") == 3
    played = viewer.get(f"/t/acme/artifacts/{by_sid[media['worker']].pk}/play/")
    assert played.status_code == 200 and b"".join(played.streaming_content) == media[media["worker"]]


def test_a_second_run_changes_nothing(twilio, make_connection, acme):
    connection = make_connection()
    twilio.add_voice_task()
    twilio.add_chat_task()
    first = run_now(connection)
    assert (first.interactions_created, first.artifacts_stored) == (2, 4)
    events_before = AuditEvent.objects.filter(tenant=acme).count()
    downloads_before = len(twilio.requests_to(r"\.wav$"))
    second = run_now(connection, since=timezone.now() - timedelta(hours=2))
    assert (second.status, second.tasks, second.interactions_created, second.artifacts_stored, second.errors) == (
        "complete",
        2,
        0,
        0,
        0,
    )
    assert len(twilio.requests_to(r"\.wav$")) == downloads_before, "nothing downloaded again"
    assert Interaction.objects.count() == 2 and Artifact.objects.count() == 4
    new_events = AuditEvent.objects.filter(tenant=acme).order_by("seq")[events_before:]
    assert [e.kind for e in new_events] == [AuditEvent.Kind.INGESTION_FINISHED]


def test_encrypted_recordings_round_trip_and_a_tampered_tag_stores_nothing(
    twilio, make_connection, rsa_key, file_storages
):
    key, pem, cr = rsa_key
    connection = make_connection(public_key_sid=cr, private_key=pem)
    task = twilio.add_voice_task(encrypt_for=(key.public_key(), cr))
    plain_sid, _ = twilio.add_recording(call_sid=task["call"], source="StartCallRecordingAPI")
    tampered = task["media"]["conference"]
    media = bytearray(twilio.media[tampered])
    media[-1] ^= 0x01  # the last byte of the GCM tag
    twilio.media[tampered] = bytes(media)
    run = run_now(connection)
    assert (run.artifacts_stored, run.errors) == (3, 1)
    assert run.error_details[0]["item"] == tampered
    assert "GCM tag does not verify" in run.error_details[0]["message"]
    stored = {a.idempotency_key.removeprefix("twilio:"): a for a in Artifact.objects.all()}
    assert set(stored) == {task["media"]["customer"], task["media"]["worker"], plain_sid}
    for recording_sid in (task["media"]["customer"], task["media"]["worker"]):
        assert content(stored[recording_sid]) == task["media"][recording_sid]  # decrypted exactly
        assert stored[recording_sid].size == len(task["media"][recording_sid])
    active, _ = file_storages
    assert len([p for p in active.rglob("*") if p.is_file()]) == 3, "no bytes of the tampered recording kept"
    # Plain first, then encrypted (the order of downloads).
    downloads = [r["path"].rsplit("/", 1)[-1].split(".")[0] for r in twilio.requests_to(r"\.wav$")]
    assert downloads[0] == plain_sid


def test_an_encrypted_recording_without_a_key_is_an_item_error(twilio, make_connection, rsa_key):
    key, _, cr = rsa_key
    connection = make_connection()
    twilio.add_voice_task(encrypt_for=(key.public_key(), cr))
    run = run_now(connection)
    assert (run.artifacts_stored, run.errors) == (0, 3)
    assert all("encrypted but the connection has no private key" in d["message"] for d in run.error_details)
    assert run.interactions_created == 1, "the contact is kept; its recordings are reported"


def test_absent_and_deleted_recordings_are_skipped(twilio, make_connection):
    connection = make_connection()
    task = twilio.add_voice_task()
    twilio.recordings[task["media"]["worker"]]["status"] = "absent"
    twilio.fail_next(f"/Recordings/{task['media']['conference']}.wav", status=404)
    gone = "RE" + "f" * 32
    twilio.events[-1]["event_data"]["task_attributes"] = json.dumps(
        {
            **json.loads(twilio.events[-1]["event_data"]["task_attributes"]),
            "conversations": {
                "media": [{"type": "VoiceRecording", "url": f"https://api.twilio.com/x/Recordings/{gone}"}]
            },
        }
    )
    run = run_now(connection)
    assert (run.artifacts_stored, run.skipped, run.errors) == (1, 3, 0)
    assert Artifact.objects.get().idempotency_key == f"twilio:{task['media']['customer']}"


def test_a_chat_task_becomes_a_messaging_transcript(twilio, make_connection, acme, client, member):
    connection = make_connection()
    chat = twilio.add_chat_task(channel_type="whatsapp")
    run = run_now(connection)
    assert (run.interactions_created, run.artifacts_stored) == (1, 1)
    interaction = Interaction.objects.get()
    assert (interaction.channel, interaction.agent_name, interaction.source_call_id) == (
        Channel.WHATSAPP,
        "Bob Jones",
        chat["conversation"],
    )
    artifact = Artifact.objects.get()
    assert (artifact.artifact_type, artifact.content_key) == (ArtifactType.MESSAGING_TRANSCRIPT, "chatTranscript")
    document = json.loads(content(artifact))
    assert document["channel"] == "whatsapp"
    assert [(m["from"], m["author"], m["text"]) for m in document["messages"]] == [
        ("customer", "Carla", "Hello, my parcel is late."),
        ("agent", "bob", "Let me check that for you."),
        ("customer", "Carla", "Thanks!"),
    ]
    # It reads in the browser as a conversation.
    client.force_login(member(acme, "Viewer"))
    page = client.get(f"/t/acme/interactions/{interaction.guid}/")
    assert page.status_code == 200 and "Let me check that for you." in page.content.decode()


def test_products_not_enabled_are_not_ingested(twilio, make_connection):
    connection = make_connection(digital_enabled=False)
    twilio.add_chat_task()
    run = run_now(connection)
    assert (run.tasks, run.interactions_created, run.skipped) == (1, 0, 1)


def test_content_arriving_under_a_lock_is_locked(twilio, make_connection, acme):
    connection = make_connection()
    task = twilio.add_voice_task()
    earlier, _ = create_interaction(
        acme.pk,
        SYSTEM,
        channel="voice",
        direction="inbound",
        started_at=timezone.now() - timedelta(minutes=10),
        source_system=connection.source_system,
        source_task_id=task["task"],
    )
    add_locks(acme.pk, [earlier.pk], SYSTEM, selection=ANY, reason="litigation hold")
    run = run_now(connection)
    assert (run.interactions_created, run.artifacts_stored) == (0, 3)
    assert Artifact.objects.filter(interaction=earlier).locked().count() == 3
    reasons = AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_STORED).values_list("reason", flat=True)
    assert all("locked on arrival" in r for r in reasons)


def test_429_then_success(twilio, make_connection):
    connection = make_connection()
    twilio.add_voice_task()
    twilio.fail_next("/Events", status=429, times=2, retry_after=0)
    twilio.fail_next(".wav", status=503, times=1)
    run = run_now(connection)
    assert (run.status, run.artifacts_stored, run.errors) == ("complete", 3, 0)
    assert len(twilio.requests_to("/Events")) >= 4


def test_throttled_beyond_the_retries_the_run_fails_and_the_cursor_stays(twilio, make_connection, settings):
    settings.TWILIO_MAX_RETRIES = 1
    connection = make_connection()
    twilio.add_voice_task()
    twilio.fail_next("/Events", status=429, times=5, retry_after=0)
    with pytest.raises(CommandError, match=r"Twilio answered 429 \(error 20429: Too Many Requests\)"):
        run_now(connection)
    run = IngestionRun.objects.get()
    assert run.status == "error" and run.error_message.endswith("resumes from the last ingested task.")
    connection.refresh_from_db()
    assert connection.cursor is None


@pytest.mark.django_db(transaction=True)
def test_a_killed_run_is_resumed_from_its_cursor(twilio, make_connection, rq_queue, settings):
    data_dir = shared_storage(settings)
    connection = make_connection()
    first = twilio.add_voice_task(when=timezone.now() - timedelta(minutes=30))
    second = twilio.add_voice_task(when=timezone.now() - timedelta(minutes=3))
    held = second["media"]["customer"]
    twilio.hold_media(held)
    run = services.start_ingestion(connection.pk, OPERATOR, trigger=IngestionRun.Trigger.PAGE)
    worker = start_worker(worker_env(DATA_DIR=str(data_dir), TWILIO_API_BASE_URL=twilio.url))
    try:
        wait_for(lambda: twilio.requests_to(f"{held}.wav"), timeout=60, message="the second task's download")
        run.refresh_from_db()
        assert (run.status, run.tasks, run.artifacts_stored) == ("in_progress", 2, 3)
    finally:
        kill_worker(worker)
    wait_for(lambda: jobs.reap().get("twilio_flex_ingestion") == [run.pk], message="the reaper to find the lost run")
    twilio.release()
    connection.refresh_from_db()
    assert connection.cursor is not None and connection.cursor < second_event_time(twilio, second)
    resumed = ingest.schedule_connections()
    assert len(resumed) == 1
    SimpleWorker([rq_queue], connection=rq_queue.connection).work(burst=True)
    again = IngestionRun.objects.get(pk=resumed[0])
    # The first task is read again (the cursor is inclusive) and changes nothing; the killed run had
    # created the second interaction before it died, and its counts say so.
    assert (again.status, again.tasks, again.interactions_created, again.artifacts_stored) == ("complete", 2, 0, 3)
    run.refresh_from_db()
    assert (run.interactions_created, run.artifacts_stored) == (2, 3)
    assert Interaction.objects.count() == 2 and Artifact.objects.count() == 6
    for recording_sid in (first["media"]["customer"], first["media"]["worker"], first["media"]["conference"]):
        assert len(twilio.requests_to(f"{recording_sid}.wav")) == 1, "the finished task is not fetched again"


def second_event_time(twilio, task):
    from ingestion.flex import parse_time

    event = next(
        e for e in twilio.events if e["event_type"] == "task.completed" and e["event_data"]["task_sid"] == task["task"]
    )
    return parse_time(event["event_date"])
