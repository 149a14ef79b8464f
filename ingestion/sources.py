"""The stored copy's verification, and deleting the source recording at Twilio.

A recording is deleted at Twilio only after Holdfast has read its own stored copy back and its
SHA-256 matches the one computed while it was written; never before. A failed deletion is kept on
the recording's row and retried (every minute, by the ``ingestion_retries`` periodic task), and
each deletion is audited.
"""

import logging

from django.db import transaction
from django.utils import timezone
from twilio.base.exceptions import TwilioRestException

from accounts import audit
from accounts.models import AuditEvent
from artifacts.storage import storage_of

from .twilio_client import TwilioUnreachable

log = logging.getLogger(__name__)
MAX_DELETE_ATTEMPTS = 10


def verify_copy(artifact):
    """None when the stored bytes read back match the artifact's SHA-256, else what is wrong."""
    name = artifact.storage_name
    if name is None:
        return f"Artifact {artifact.pk} is gone: its copy cannot be verified."
    try:
        _, digest = storage_of(artifact, name).sha256_of(artifact.storage_key, artifact.storage_version)
    except Exception as exc:  # a storage that cannot be read is a finding, reported on the run
        return f"The stored copy of artifact {artifact.pk} cannot be read back ({exc}); the source is kept."
    if digest != artifact.sha256:
        return f"The stored copy of artifact {artifact.pk} does not match its SHA-256; the source is kept."
    return None


def delete_source(ctx, ingested):
    """Verify the stored copy again, then DELETE the recording at Twilio; record and audit it.
    Returns True when the source is gone."""
    artifact = ingested.artifact
    problem = verify_copy(artifact)
    error = ""
    if problem is None:
        try:
            ctx.client.api.v2010.account.recordings(ingested.recording_sid).delete()
        except TwilioRestException as exc:
            if exc.status != 404:  # already gone at Twilio: as good as deleted
                error = f"Twilio refused the deletion ({exc.status}: {exc.msg})"
        except TwilioUnreachable as exc:
            error = f"Twilio could not be reached ({exc})"
    else:
        error = problem
    with transaction.atomic():
        row = type(ingested).objects.select_for_update(no_key=True).get(pk=ingested.pk)
        if row.source_deleted_at is not None:
            return True
        row.delete_attempts += 1
        if error:
            row.delete_error = error[:500]
            row.save(update_fields=["delete_attempts", "delete_error"])
            log.warning("Source recording %s not deleted: %s", row.recording_sid, error)
            return False
        row.source_deleted_at, row.delete_error = timezone.now(), ""
        row.save(update_fields=["delete_attempts", "delete_error", "source_deleted_at"])
        audit.record(
            artifact.tenant_id,
            AuditEvent.Kind.SOURCE_RECORDING_DELETED,
            ctx.actor,
            artifact_id=artifact.pk,
            reason=f"Recording {row.recording_sid} deleted at Twilio after its stored copy was verified",
            recording_sid=row.recording_sid,
            sha256=artifact.sha256,
            connection=row.connection_id,
        )
    return True


class _SourceContext:
    """The parts of an ingestion context a deletion needs, for retries outside a run."""

    def __init__(self, connection):
        from core import secrets

        from .actors import connection_actor
        from .twilio_client import client_for

        self.connection = connection
        self.actor = connection_actor(connection)
        self.client = client_for(connection.account_sid, secrets.decrypt(connection.auth_token_encrypted))


def retry_deletions(limit=200):
    """Retry the source deletions that failed (connections that still ask for them)."""
    from .models import IngestedRecording

    pending = (
        IngestedRecording.objects.filter(
            source_deleted_at__isnull=True,
            connection__delete_source=True,
            delete_attempts__gt=0,
            delete_attempts__lt=MAX_DELETE_ATTEMPTS,
        )
        .select_related("connection", "artifact")
        .order_by("pk")[:limit]
    )
    contexts, done = {}, 0
    for ingested in pending:
        ctx = contexts.get(ingested.connection_id)
        if ctx is None:
            ctx = contexts[ingested.connection_id] = _SourceContext(ingested.connection)
        done += bool(delete_source(ctx, ingested))
    return done
