"""The contact-status webhook (the seed's payload, signed, retried, logged), deleting source
recordings at Twilio only after the stored copy is verified, and the recording status callback."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.utils import timezone
from twilio.request_validator import RequestValidator

from accounts.models import AuditEvent
from artifacts.storage import get_storage
from config import jobs
from core import secrets
from ingestion import services, sources, webhooks
from ingestion.actors import connection_actor
from ingestion.models import IngestedRecording, IngestionRun, WebhookDelivery
from ingestion.twilio_client import client_for
from interactions.models import Interaction

pytestmark = pytest.mark.django_db


class Receiver:
    """A webhook receiver on loopback answering ``statuses`` in turn (then 204); logs every POST."""

    def __init__(self, statuses=()):
        self.statuses, self.received = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/holdfast-events"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.DEBUG = True  # plain http to a loopback receiver is accepted in development only
    made = []

    def make(statuses=()):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.stop()


def run_now(connection):
    call_command("twilio_flex", "ingest", str(connection.pk))
    return IngestionRun.objects.filter(connection=connection).order_by("-pk").first()


def verify_signature(secret, header, body):
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]), int(parts["t"])


def test_contact_status_payload_and_signature(twilio, make_connection, receiver, acme):
    hook = receiver()
    connection = make_connection(webhook_url=hook.url)
    secret = secrets.decrypt(connection.webhook_secret_encrypted)
    task = twilio.add_voice_task()
    chat = twilio.add_chat_task()
    run_now(connection)
    assert len(hook.received) == 2
    by_leg = {json.loads(r["body"])["legId"]: r for r in hook.received}
    voice = Interaction.objects.get(source_task_id=task["task"])
    body = by_leg[task["call"]]["body"]
    assert json.loads(body) == {
        "ccrId": voice.pk,
        "sessionId": str(voice.guid),
        "legId": task["call"],
        "tenantId": acme.pk,
        "status": "COMPLETE",
    }
    valid, stamp = verify_signature(secret, by_leg[task["call"]]["headers"]["X-Holdfast-Signature"], body)
    assert valid and abs(stamp - timezone.now().timestamp()) < 300
    assert not verify_signature("whsec_other", by_leg[task["call"]]["headers"]["X-Holdfast-Signature"], body)[0]
    assert json.loads(by_leg[chat["conversation"]]["body"])["status"] == "COMPLETE"
    assert WebhookDelivery.objects.filter(state="delivered", attempts=1, last_status=204).count() == 2
    run_now(connection)
    assert len(hook.received) == 2, "a second run tells nothing twice"


def test_a_contact_with_a_failed_recording_is_reported_failed(twilio, make_connection, receiver):
    hook = receiver()
    connection = make_connection(webhook_url=hook.url)
    task = twilio.add_voice_task()
    twilio.recordings[task["media"]["worker"]]["encryption_details"] = {"encrypted_cek": "x", "iv": "y"}
    run_now(connection)
    payload = json.loads(hook.received[0]["body"])
    assert payload["status"] == "FAILED"
    assert payload["failureReason"] == "Some of the contact's content could not be stored; Holdfast retries it."


def test_deliveries_are_retried_with_backoff_then_given_up(twilio, make_connection, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    hook = receiver([500, 503])
    connection = make_connection(webhook_url=hook.url)
    twilio.add_voice_task()
    run_now(connection)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
    first_due = delivery.next_attempt_at
    assert timedelta(seconds=59) < first_due - timezone.now() <= timedelta(seconds=61)
    assert webhooks.deliver_due(now=first_due - timedelta(seconds=1)) == 0 and len(hook.received) == 1
    assert webhooks.deliver_due(now=first_due) == 0  # 503
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.next_attempt_at - first_due == timedelta(seconds=120)
    assert webhooks.deliver_due(now=delivery.next_attempt_at) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 3, 204)
    assert len(hook.received) == 3 and len({r["body"] for r in hook.received}) == 1

    hook.statuses = [500] * 10
    other = make_connection(name="Other", webhook_url=hook.url)
    twilio.add_voice_task()
    run_now(other)
    for day in range(1, 6):
        webhooks.deliver_due(now=timezone.now() + timedelta(days=day))
    given_up = WebhookDelivery.objects.get(connection=other)
    assert (given_up.state, given_up.attempts) == ("failed", 4)


def test_source_recordings_are_deleted_only_after_the_copy_is_verified(twilio, make_connection, acme):
    connection = make_connection(delete_source=True)
    task = twilio.add_voice_task()
    twilio.fail_next(f"/Recordings/{task['media']['worker']}.json", status=500, times=10, method="DELETE")
    run_now(connection)
    deleted = IngestedRecording.objects.filter(source_deleted_at__isnull=False)
    assert {r.recording_sid for r in deleted} == {task["media"]["customer"], task["media"]["conference"]}
    for recording in (task["media"]["customer"], task["media"]["conference"]):
        fetched = twilio.requests_to(f"{recording}.wav")[0]["at"]
        removed = twilio.requests_to(f"{recording}.json", method="DELETE")
        assert len(removed) == 1 and removed[0]["at"] > fetched
        assert twilio.recordings[recording].get("_deleted")
    events = AuditEvent.objects.filter(kind=AuditEvent.Kind.SOURCE_RECORDING_DELETED, tenant=acme)
    assert events.count() == 2 and all(e.details["sha256"] for e in events)
    failed = IngestedRecording.objects.get(recording_sid=task["media"]["worker"])
    assert failed.source_deleted_at is None and "Twilio refused the deletion (500" in failed.delete_error
    # Retried later (the periodic task), audited once it succeeds.
    twilio.faults.clear()
    assert sources.retry_deletions() == 1
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SOURCE_RECORDING_DELETED).count() == 3


def test_a_copy_that_does_not_verify_keeps_the_source(twilio, make_connection):
    connection = make_connection()
    task = twilio.add_voice_task()
    run_now(connection)
    ingested = IngestedRecording.objects.get(recording_sid=task["media"]["customer"])
    storage = get_storage("active")
    path = storage.backend.path(ingested.artifact.storage_key)
    with open(path, "r+b") as fh:  # the stored copy is damaged
        fh.write(b"XXXX")

    class Ctx:
        actor = connection_actor(connection)
        client = client_for(connection.account_sid, twilio.auth_token)

    assert sources.delete_source(Ctx, ingested) is False
    ingested.refresh_from_db()
    assert "does not match its SHA-256; the source is kept" in ingested.delete_error
    assert not twilio.requests_to(r"\.json$", method="DELETE") and not twilio.recordings[task["media"]["customer"]].get(
        "_deleted"
    )


def test_recording_status_callback_signature(client, twilio, make_connection):
    connection = make_connection()
    url = f"http://testserver/hooks/twilio/{connection.uuid}/recording-status"
    params = {
        "AccountSid": twilio.account_sid,
        "CallSid": "CA" + "1" * 32,
        "RecordingSid": "RE" + "2" * 32,
        "RecordingStatus": "completed",
    }
    signature = RequestValidator(twilio.auth_token).compute_signature(url, params)
    accepted = client.post(url, params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert accepted.status_code == 204
    run = IngestionRun.objects.get()
    assert (run.trigger, run.call_sid, run.status) == ("callback", "CA" + "1" * 32, "queued")
    assert run.actor_label == "Twilio Flex “Flex US”"
    forged = RequestValidator("not-the-token").compute_signature(url, params)
    assert client.post(url, params, HTTP_X_TWILIO_SIGNATURE=forged).status_code == 403
    assert (
        client.post(url, {**params, "CallSid": "CA" + "3" * 32}, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403
    )
    assert client.post(url, params).status_code == 403
    assert IngestionRun.objects.count() == 1
    unknown = "http://testserver/hooks/twilio/00000000-0000-0000-0000-000000000000/recording-status"
    assert client.post(unknown, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 404


def test_a_callback_run_fetches_the_calls_new_recording(twilio, make_connection):
    connection = make_connection()
    task = twilio.add_voice_task()
    run_now(connection)
    late, _ = twilio.add_recording(call_sid=task["call"], source="StartCallRecordingAPI")
    run = services.start_ingestion(
        connection.pk, connection_actor(connection), trigger="callback", call_sid=task["call"], enqueue=False
    )
    jobs.work(run.job_kind, run.pk)
    run.refresh_from_db()
    assert (run.status, run.artifacts_stored) == ("complete", 1)
    assert IngestedRecording.objects.filter(recording_sid=late).exists()
