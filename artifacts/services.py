"""State changes of artifacts. Ingestion is here; locks, requests and deletes build on it later."""

import logging
import mimetypes

from django.db import transaction
from django.utils import timezone

from interactions.models import Interaction

from .models import Artifact
from .storage import get_storage, new_key

log = logging.getLogger(__name__)


def store_artifact(
    interaction_id,
    *,
    artifact_type,
    content_key,
    filename,
    stream,
    content_type="",
    audio_recording_type="",
    created_at=None,
):
    """Write ``stream`` to active storage and record it as an artifact of the interaction.

    The bytes are written first (SHA-256 and size computed while writing); the row is then
    validated and inserted in one transaction. If the row cannot be saved, the bytes are deleted
    again so that no unrecorded content is left in storage.
    """
    interaction = Interaction.objects.only("id", "tenant_id").get(pk=interaction_id)
    content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    storage = get_storage("active")
    stored = storage.write(new_key(interaction.tenant_id, filename), stream, content_type)
    artifact = Artifact(
        tenant_id=interaction.tenant_id,
        interaction_id=interaction.pk,
        artifact_type=artifact_type,
        audio_recording_type=audio_recording_type or "",
        content_key=content_key,
        storage_key=stored.key,
        storage_version=stored.version,
        filename=filename,
        content_type=content_type,
        size=stored.size,
        sha256=stored.sha256,
        created_at=created_at or timezone.now(),
    )
    try:
        artifact.full_clean(exclude=["tenant", "interaction"])
        with transaction.atomic():
            artifact.save(force_insert=True)
    except Exception:
        log.warning("Artifact row for %s not saved; removing its bytes", stored.key)
        storage.delete_many([(stored.key, stored.version)])
        raise
    return artifact
