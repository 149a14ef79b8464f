"""One ingestion run of a Twilio Flex connection (the ``twilio_flex_ingestion`` job kind).

TaskRouter keeps *events* for 30 days while tasks vanish minutes after they complete, so a run
reads the ``task.completed`` and ``task.canceled`` events between the connection's cursor and the
run's start, oldest first, and turns each task into an interaction (``create_interaction``,
idempotent by task SID) with its content (``store_artifact``, idempotent by the Twilio SID of the
content): every leg's completed recordings for voice, the conversation's transcript for digital.
After each task the run's counts and the connection's cursor move in one transaction, so a run
that dies resumes from the last finished task and ends with exact totals. A failure of one item
(a recording whose tag does not verify, a key that does not fit) is recorded on the run row and
the run goes on; Twilio being unreachable or throttling beyond the retries stops the run (Error):
the next run starts again from the cursor.
"""

import json
import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException

from accounts import audit
from accounts.actors import acting_for
from accounts.models import AuditEvent
from accounts.permissions import INGEST_CONTENT
from artifacts.models import Artifact
from artifacts.services import store_artifact
from config import jobs
from core import secrets
from core.vocabulary import ArtifactType, Channel, ContentKey
from interactions.services import update_interaction

from . import crypto, flex, sources, validation, webhooks
from .models import IngestedRecording, IngestionRun
from .twilio_client import HoldfastHttpClient, TwilioUnreachable, client_for, download_slot, media_url

log = logging.getLogger(__name__)

WORKER_LOST = "The ingestion stopped (its worker was lost). The next run resumes from the last ingested task."
#: The first run of a connection reads this far back (TaskRouter keeps events for 30 days).
FIRST_RUN_LOOKBACK = timedelta(days=1)
MEDIA_CHUNK = 1024 * 1024
#: Task fields a later event may correct on an existing interaction.
UPDATABLE = ("ended_at", "duration_seconds", "agent_id", "agent_name", "metadata")


class ItemError(Exception):
    """One item (a recording, a transcript) failed; the run records it and goes on."""


class Context:
    """What a run works with: the connection, its actor, the Twilio client and the counters."""

    def __init__(self, run, http_client=None):
        self.run = run
        self.connection = run.connection
        self.actor = acting_for(run)
        self.actor.require(run.tenant_id, INGEST_CONTENT, doing="ingest content")
        self.http = http_client or HoldfastHttpClient()
        self.auth = (self.connection.account_sid, secrets.decrypt(self.connection.auth_token_encrypted))
        self.client = client_for(*self.auth, http_client=self.http)
        pem = secrets.decrypt(self.connection.private_key_encrypted)
        self.private_key = validation.load_private_key(pem) if pem else None
        self.verify = bool(self.connection.delete_source or self.connection.webhook_url)
        self.calls_counted = 0

    def new_counts(self):
        return Counts(self.run.pk)

    def calls_since(self):
        calls, self.calls_counted = self.http.calls - self.calls_counted, self.http.calls
        return calls


def _workspace(ctx):
    return ctx.client.taskrouter.v1.workspaces(ctx.connection.workspace_sid)


def task_events(ctx, since, until):
    """The task events between ``since`` and ``until``, oldest first (as plain dicts)."""
    found = {}
    for event_type in flex.TASK_EVENTS:
        for event in _workspace(ctx).events.stream(
            event_type=event_type, start_date=since, end_date=until, page_size=200
        ):
            found[event.sid] = {
                "sid": event.sid,
                "type": event.event_type,
                "event_date": event.event_date,
                "ms": event.event_date_ms or 0,
                "event_data": event.event_data or {},
            }
    return sorted(found.values(), key=lambda e: (e["ms"] or e["event_date"].timestamp() * 1000, e["sid"]))


def accepted_reservations(ctx, events, until):
    """``{task SID: worker}`` of the reservations accepted from the oldest task's creation to
    ``until``: one paged list for the whole run instead of a call per task."""
    created = [flex.parse_time(e["event_data"].get("task_date_created")) or e["event_date"] for e in events]
    start = min(created) - timedelta(minutes=1)
    workers = {}
    for event in _workspace(ctx).events.stream(
        event_type=flex.RESERVATION_EVENT, start_date=start, end_date=until, page_size=200
    ):
        data = event.event_data or {}
        if data.get("task_sid"):
            workers[data["task_sid"]] = {
                k: data.get(k) or "" for k in ("worker_sid", "worker_name", "worker_attributes")
            }
    return workers


def worker_of(ctx, task_sid, workers):
    """The worker who accepted the task's reservation: ``{"worker_sid", "worker_name",
    "worker_attributes"}`` or {} (one events call per task not seen accepted in the window)."""
    if task_sid in workers:
        return workers[task_sid]
    worker = {}
    for event in _workspace(ctx).events.stream(event_type=flex.RESERVATION_EVENT, task_sid=task_sid, page_size=20):
        data = event.event_data or {}
        worker = {k: data.get(k) or "" for k in ("worker_sid", "worker_name", "worker_attributes")}
    workers[task_sid] = worker
    return worker


def process_run(run):
    """The job kind's ``process``: ingest events since the cursor (or ``since``), then finish.

    Twilio unreachable, or refusing beyond the retries, ends the run in Error saying so; the next
    run resumes from the cursor (the last task finished)."""
    try:
        _process(run)
    except TwilioUnreachable as exc:
        jobs.finish(
            run,
            IngestionRun.Status.ERROR,
            retryable=True,
            error_message=(f"Twilio could not be reached ({exc}). {RESUMES}"),
        )
    except TwilioException as exc:
        jobs.finish(run, IngestionRun.Status.ERROR, retryable=True, error_message=f"{twilio_failure(exc)} {RESUMES}")


def twilio_failure(exc):
    """What Twilio answered, in a sentence: ``Twilio answered 429 (error 20429: Too Many Requests).``"""
    if isinstance(exc, TwilioRestException):
        return f"Twilio answered {exc.status} (error {exc.code}: {exc.msg})."
    response = exc.args[1] if len(exc.args) > 1 else None  # a page the library could not fetch
    status = getattr(response, "status_code", None)
    try:
        body = json.loads(getattr(response, "text", "") or "{}")
    except ValueError:
        body = {}
    if status is None:
        return f"Twilio failed: {exc}."
    return f"Twilio answered {status} (error {body.get('code', '?')}: {body.get('message', 'no message')})."


RESUMES = "The next run resumes from the last ingested task."


def _process(run):
    ctx = Context(run)
    now = timezone.now()
    connection = ctx.connection
    if run.until is None:
        run.until = now
        IngestionRun.objects.filter(pk=run.pk).update(until=now)
    since = run.since or connection.cursor or (run.until - FIRST_RUN_LOOKBACK)
    events = task_events(ctx, since, run.until)
    workers = accepted_reservations(ctx, events, run.until) if events else {}
    for event in events:
        jobs.beat(run)
        counts, errors = ctx.new_counts(), []
        ingest_task(ctx, event, workers, counts, errors)
        _advance(ctx, counts, errors, event["event_date"])
    if run.call_sid:
        counts, errors = ctx.new_counts(), []
        ingest_call(ctx, run.call_sid, counts, errors)
        _advance(ctx, counts, errors, None)
    _advance(ctx, ctx.new_counts(), [], run.until)
    run.refresh_from_db()

    def then(row):
        audit.record(
            row.tenant_id,
            AuditEvent.Kind.INGESTION_FINISHED,
            ctx.actor,
            reason=f"Twilio Flex ingestion {row.pk}: {row.tasks} tasks, {row.interactions_created} interactions, "
            f"{row.artifacts_stored} artifacts stored, {row.skipped} skipped, {row.errors} errors",
            run=row.pk,
            tasks=row.tasks,
            interactions_created=row.interactions_created,
            artifacts_stored=row.artifacts_stored,
            skipped=row.skipped,
            errors=row.errors,
        )

    jobs.finish(run, IngestionRun.Status.COMPLETE, then=then)


class Counts(dict):
    """A run's counters, written through to its row as they change (``UPDATE … = x + n``): a run
    killed mid-way keeps exact totals of what it did."""

    def __init__(self, run_id):
        super().__init__(tasks=0, interactions_created=0, artifacts_stored=0, skipped=0, errors=0)
        self.run_id = run_id

    def __setitem__(self, key, value):
        delta = value - self.get(key, 0)
        super().__setitem__(key, value)
        if delta:
            IngestionRun.objects.filter(pk=self.run_id).update(**{key: F(key) + delta})


def _advance(ctx, counts, errors, cursor):
    """After a task: the Twilio calls it took, and the connection's cursor (one transaction)."""
    with transaction.atomic():
        IngestionRun.objects.filter(pk=ctx.run.pk).update(twilio_calls=F("twilio_calls") + ctx.calls_since())
        if cursor is not None:
            connection = type(ctx.connection).objects.select_for_update(no_key=True).get(pk=ctx.connection.pk)
            if connection.cursor is None or cursor > connection.cursor:
                connection.cursor = cursor
                connection.save(update_fields=["cursor"])


def _error(errors, counts, item, message):
    """Record one item's failure on the run row (kept even if the run dies later)."""
    detail = {"item": item, "message": message[:500], "at": timezone.now().isoformat(timespec="seconds")}
    errors.append(detail)
    with transaction.atomic():
        row = IngestionRun.objects.select_for_update(no_key=True).only("error_details").get(pk=counts.run_id)
        if len(row.error_details) < IngestionRun.MAX_ERROR_DETAILS:
            IngestionRun.objects.filter(pk=row.pk).update(error_details=[*row.error_details, detail])
    counts["errors"] += 1
    log.warning("Twilio Flex ingestion: %s: %s", item, message)


def ingest_task(ctx, event, workers, counts, errors):
    """One task: its interaction (created, or corrected) and its content; then its webhook."""
    data = event["event_data"]
    task_sid = data.get("task_sid") or ""
    counts["tasks"] += 1
    worker = worker_of(ctx, task_sid, workers) if task_sid else {}
    fields = flex.interaction_fields(ctx.connection, event, worker)
    if fields is None:
        counts["skipped"] += 1
        return
    from interactions.services import create_interaction

    interaction, created = create_interaction(ctx.run.tenant_id, ctx.actor, **fields)
    if created:
        counts["interactions_created"] += 1
    else:
        changes = {
            name: fields[name]
            for name in UPDATABLE
            if getattr(interaction, name) != fields[name] and fields[name] not in (None, "", {})
        }
        if changes:
            interaction, _ = update_interaction(interaction.pk, ctx.actor, **changes)
    attributes = flex.attributes_of(data)
    before = counts["errors"]
    stored = []
    if fields["channel"] == Channel.VOICE:
        stored = ingest_voice(ctx, interaction, attributes, counts, errors, task_sid)
    else:
        stored = ingest_transcript(ctx, interaction, fields["channel"], attributes, worker, counts, errors, task_sid)
    failed = counts["errors"] > before
    if ctx.connection.webhook_url and (stored or failed or created):
        leg = fields["source_call_id"]
        reason = "Some of the contact's content could not be stored; Holdfast retries it." if failed else None
        webhooks.contact_status(ctx.connection, interaction, leg, failure_reason=reason)


def ingest_call(ctx, call_sid, counts, errors):
    """A recording status callback's call: its recordings, when its task's interaction exists."""
    from interactions.models import Interaction

    interaction = Interaction.objects.filter(
        tenant_id=ctx.run.tenant_id, source_system=ctx.connection.source_system, source_call_id=call_sid
    ).first()
    if interaction is None:
        return  # the task has not completed yet: the events will bring it
    recordings = _recordings(ctx, call_sid=call_sid)
    for recording in recordings.values():
        _store_recording(
            ctx, interaction, recording, flex.recording_type(recording, call_sid, {}), counts, errors, call_sid
        )


def _plain(recording):
    return {
        "sid": recording.sid,
        "call_sid": recording.call_sid or "",
        "conference_sid": recording.conference_sid or "",
        "status": recording.status or "",
        "source": recording.source or "",
        "channels": recording.channels,
        "encryption_details": recording.encryption_details or None,
        "start_time": recording.start_time,
    }


def _recordings(ctx, **filters):
    return {r.sid: _plain(r) for r in ctx.client.api.v2010.account.recordings.stream(page_size=100, **filters)}


def ingest_voice(ctx, interaction, attributes, counts, errors, task_sid):
    """Every leg's recordings: the task's call, each conference participant's call, the conference
    itself, and what Flex lists in ``conversations.media``; plain ones first, then encrypted."""
    call_sid = str(attributes.get("call_sid") or "")
    conference = attributes.get("conference") if isinstance(attributes.get("conference"), dict) else {}
    conference_sid = str(conference.get("sid") or "")
    legs = flex.conference_legs(attributes)
    found = {}
    try:
        if call_sid:
            found.update(_recordings(ctx, call_sid=call_sid))
        if conference_sid:
            try:
                for participant in ctx.client.api.v2010.account.conferences(conference_sid).participants.stream():
                    if participant.call_sid and participant.call_sid not in legs:
                        label = (participant.label or "").lower()
                        legs[participant.call_sid] = (
                            "worker"
                            if label in ("worker", "agent")
                            else ("customer" if label == "customer" else "external")
                        )
            except TwilioRestException as exc:
                if exc.status != 404:  # a finished conference may be gone: its legs come from the attributes
                    raise
            for leg in legs:
                if leg != call_sid:
                    found.update(_recordings(ctx, call_sid=leg))
            found.update(_recordings(ctx, conference_sid=conference_sid))
        for sid in flex.flex_media_recordings(attributes):
            if sid not in found:
                try:
                    found[sid] = _plain(ctx.client.api.v2010.account.recordings(sid).fetch())
                except TwilioRestException as exc:
                    if exc.status != 404:
                        raise
                    counts["skipped"] += 1  # listed by Flex, deleted at Twilio since
    except TwilioRestException as exc:
        _error(errors, counts, task_sid, f"Twilio refused the recordings list ({exc.status}: {exc.msg})")
        return []
    stored = []
    ordered = sorted(found.values(), key=lambda r: (bool(r["encryption_details"]), r["sid"]))
    # The recordings stored already (a re-run): one query for the task, nothing downloaded again.
    known = set(
        Artifact.objects.filter(
            tenant_id=ctx.run.tenant_id, idempotency_key__in=[f"twilio:{sid}" for sid in found]
        ).values_list("idempotency_key", flat=True)
    )
    for recording in ordered:
        kind = flex.recording_type(recording, call_sid, legs)
        artifact = _store_recording(ctx, interaction, recording, kind, counts, errors, task_sid, known)
        if artifact is not None:
            stored.append(artifact)
    return stored


def _store_recording(ctx, interaction, recording, audio_type, counts, errors, task_sid, known=None):
    """Store one recording (streamed, decrypted when encrypted); returns the artifact when new."""
    sid = recording["sid"]
    key = f"twilio:{sid}"
    stored = (
        key in known
        if known is not None
        else (Artifact.objects.filter(tenant_id=ctx.run.tenant_id, idempotency_key=key).exists())
    )
    if stored:
        return None
    if recording["status"] != "completed":
        counts["skipped"] += 1
        return None
    details = recording["encryption_details"]
    try:
        if details and ctx.private_key is None:
            raise ItemError("the recording is encrypted but the connection has no private key")
        with download_slot(ctx.connection.account_sid):
            response = ctx.http.stream(media_url(ctx.connection.account_sid, sid), ctx.auth)
            try:
                if response.status_code == 404:
                    counts["skipped"] += 1  # deleted at Twilio between the list and the download
                    return None
                if response.status_code != 200:
                    raise ItemError(f"Twilio answered {response.status_code} for its media")
                chunks = response.iter_content(MEDIA_CHUNK)
                if details:
                    cek, iv = crypto.unwrap_cek(ctx.private_key, details)
                    reader = crypto.DecryptingReader(chunks, cek, iv)
                else:
                    reader = crypto.ChunkReader(chunks)
                artifact = store_artifact(
                    interaction.pk,
                    actor=ctx.actor,
                    artifact_type=ArtifactType.AUDIO_RECORDING,
                    audio_recording_type=audio_type,
                    content_key=ContentKey.CALL_RECORDING,
                    filename=f"{sid}.wav",
                    stream=reader,
                    content_type="audio/wav",
                    created_at=recording["start_time"] or None,
                    idempotency_key=key,
                )
            finally:
                response.close()
    except (ItemError, crypto.RecordingIntegrityError) as exc:
        _error(errors, counts, sid, f"Recording {sid} not stored: {exc}.")
        return None
    with transaction.atomic():  # one commit for the count and the row
        counts["artifacts_stored"] += 1
        ingested, _ = IngestedRecording.objects.get_or_create(
            connection=ctx.connection,
            recording_sid=sid,
            defaults={"artifact": artifact, "call_sid": recording["call_sid"], "encrypted": bool(details)},
        )
    if ctx.verify:
        problem = sources.verify_copy(artifact)
        if problem:
            _error(errors, counts, sid, problem)
            return artifact
    if ctx.connection.delete_source:
        sources.delete_source(ctx, ingested)
    return artifact


def ingest_transcript(ctx, interaction, channel, attributes, worker, counts, errors, task_sid):
    """The task's conversation as a Messaging Transcript (once per conversation)."""
    conversation_sid = str(attributes.get("conversationSid") or "")
    if not conversation_sid:
        counts["skipped"] += 1
        return []
    key = f"twilio:{conversation_sid}:transcript"
    if Artifact.objects.filter(tenant_id=ctx.run.tenant_id, idempotency_key=key).exists():
        return []
    try:
        messages = [
            {"author": m.author, "body": m.body, "date_created": m.date_created, "media": m.media or []}
            for m in ctx.client.conversations.v1.conversations(conversation_sid).messages.stream(page_size=100)
        ]
    except TwilioRestException as exc:
        if exc.status == 404:
            counts["skipped"] += 1
            return []
        _error(errors, counts, conversation_sid, f"Twilio refused the conversation's messages ({exc.status}).")
        return []
    document = flex.transcript(
        channel, messages, worker_name=(worker or {}).get("worker_name", ""), attributes=attributes
    )
    body = json.dumps(document, ensure_ascii=False, indent=1).encode()
    artifact = store_artifact(
        interaction.pk,
        actor=ctx.actor,
        artifact_type=ArtifactType.MESSAGING_TRANSCRIPT,
        content_key=ContentKey.CHAT_TRANSCRIPT,
        filename="chat-transcript.json",
        stream=crypto.ChunkReader([body]),
        content_type="application/json",
        idempotency_key=key,
    )
    counts["artifacts_stored"] += 1
    if ctx.verify:
        problem = sources.verify_copy(artifact)
        if problem:
            _error(errors, counts, conversation_sid, problem)
    return [artifact]


def record_failure(row, message):
    """``on_failed``: nothing to add — the run row holds the message; the next run resumes."""


def schedule_connections():
    """Periodic: queue a run for every enabled connection that has none queued or running."""
    from .actors import connection_actor
    from .models import TwilioFlexConnection
    from .services import start_ingestion

    started = []
    busy = IngestionRun.objects.filter(status__in=(IngestionRun.Status.QUEUED, IngestionRun.Status.IN_PROGRESS))
    for connection in TwilioFlexConnection.objects.filter(enabled=True).exclude(pk__in=busy.values("connection_id")):
        run = start_ingestion(connection.pk, connection_actor(connection), trigger=IngestionRun.Trigger.SCHEDULE)
        started.append(run.pk)
    return started


def retry_pending():
    """Periodic: webhook deliveries and source deletions that are due again."""
    return {"webhooks": webhooks.deliver_due(), "deletions": sources.retry_deletions()}
