"""Audited reads of artifact content: plays, downloads (whole artifacts and email attachments) and
content shown on the interaction page. Every read goes through here, and so into the audit trail.

What counts as one play: a media element fetches a recording in many ``Range`` requests (the first
from byte 0, then one per seek or buffer refill). A response that starts at byte 0 — no ``Range``,
or a range from 0 — begins a new read and is recorded. A range that starts later is a seek (or a
resumed download) of a read already recorded, *if* the same user has a recorded read of that
artifact of the same kind in the last :data:`CONTINUATION_WINDOW`; otherwise it is recorded as a
read of its own, so that fetching a file in pieces that skip byte 0 cannot avoid the trail.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import AuditEvent
from accounts.permissions import ACCESS_CONTENT

Kind = AuditEvent.Kind

#: How long after a recorded play or download later ranges of the same artifact count as its seeks.
CONTINUATION_WINDOW = timedelta(hours=4)


def _is_continuation(artifact, actor, kind, byte_range):
    if byte_range is None or byte_range[0] == 0:
        return False
    since = timezone.now() - CONTINUATION_WINDOW
    return AuditEvent.objects.filter(
        artifact_id=artifact.pk,
        kind=kind,
        actor_kind=actor.kind,
        actor_key=actor.key,
        occurred_at__gte=since,
        tenant_id=artifact.tenant_id,
    ).exists()


@transaction.atomic
def record_content_read(artifact, actor, kind, byte_range=None, **details):
    """Record a play (``ARTIFACT_PLAYED``) or download (``ARTIFACT_DOWNLOADED``) of ``artifact``.

    ``byte_range`` is the ``(start, end)`` the response serves, or None for the whole file. Returns
    the audit event, or None when the response only continues a read already recorded (a seek).
    """
    actor.require(artifact.tenant_id, ACCESS_CONTENT, doing="play or download content")
    if kind not in (Kind.ARTIFACT_PLAYED, Kind.ARTIFACT_DOWNLOADED):
        raise ValueError(f"{kind} is not a content read.")
    if _is_continuation(artifact, actor, kind, byte_range):
        return None
    if byte_range is not None:
        details["range"] = f"bytes {byte_range[0]}-{byte_range[1]}/{artifact.size}"
    return audit.record(
        artifact.tenant_id,
        kind,
        actor,
        interaction_guid=artifact.interaction.guid,
        artifact_id=artifact.pk,
        filename=artifact.filename,
        **details,
    )


@transaction.atomic
def record_attachment_download(artifact, actor, position, filename):
    """Record the download of attachment ``position`` (named ``filename``) of an email artifact."""
    actor.require(artifact.tenant_id, ACCESS_CONTENT, doing="download attachments")
    return audit.record(
        artifact.tenant_id,
        Kind.ARTIFACT_DOWNLOADED,
        actor,
        interaction_guid=artifact.interaction.guid,
        artifact_id=artifact.pk,
        attachment=filename,
        attachment_position=position,
    )


@transaction.atomic
def record_views(interaction, artifacts, actor):
    """Record one ``ARTIFACT_VIEWED`` per artifact whose content the page showed to ``actor``."""
    actor.require(interaction.tenant_id, ACCESS_CONTENT, doing="read content")
    return [
        audit.record(
            interaction.tenant_id,
            Kind.ARTIFACT_VIEWED,
            actor,
            interaction_guid=interaction.guid,
            artifact_id=artifact.pk,
            filename=artifact.filename,
        )
        for artifact in artifacts
    ]
