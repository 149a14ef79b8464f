"""Building blocks of the delete and archive paths (:func:`artifacts.services.delete_artifacts`,
:func:`artifacts.services.archive_artifacts`): storage calls in batches, tombstones and audit events
in set-based SQL. Nothing here checks permissions or locks: the services do, under row locks.

``rows`` are tuples ``(id, interaction_id, storage_key, storage_version, state)`` as
:data:`ROW_FIELDS` selects them.
"""

import logging

from django.db.models import F
from django.db.models.functions import JSONObject

from accounts import audit
from accounts.models import AuditEvent
from core.vocabulary import ArtifactState

from . import holds
from .models import Artifact
from .storage import StorageError, get_storage
from .storage import copy as copy_object

log = logging.getLogger(__name__)

ROW_FIELDS = ("id", "interaction_id", "storage_key", "storage_version", "state")


def delete_bytes(rows, *, storage=None):
    """Delete the objects of ``rows`` from their storages, ≤ 1,000 keys per S3 call.

    ``storage`` forces one storage (the active copy of artifacts just archived); by default each
    row's state names it. Holds left by released or lapsed locks are cleared first, since they
    would make the storage refuse. Storage keys are unique per artifact, so no other artifact's
    bytes can go with them. Returns ``{key: reason}`` for keys the storage refused.
    """
    ids = [row[0] for row in rows]
    if not ids:
        return {}
    holds.sync_legal_holds(Artifact.objects.filter(id__in=ids))
    by_storage = {}
    for _pk, _interaction_id, key, version, state in rows:
        by_storage.setdefault(storage or Artifact(state=state).storage_name, {})[key] = version
    failed = {}
    for name, objects in by_storage.items():
        failed.update(get_storage(name).delete_many(objects.items()).failed)
    return failed


def audit_each(ids, kind, tenant_id, actor, reason, request_id=None):
    """One audit event of ``kind`` per artifact of ``ids``, in one ``INSERT ... SELECT``."""
    audit.record_rows(
        Artifact.objects.filter(id__in=ids).values(
            interaction_guid=F("interaction__guid"),
            artifact_id=F("id"),
            details=JSONObject(storage_key="storage_key"),
        ),
        tenant_id,
        kind,
        actor,
        request_id=request_id,
        reason=reason,
    )


def tombstone(ids, *, tenant_id, actor, reason, now, request_id=None):
    """Mark ``ids`` deleted (by ``actor``, for ``reason``) and audit one event per artifact."""
    if not ids:
        return
    who = actor.audit_columns()
    Artifact.objects.filter(id__in=ids).update(
        state=ArtifactState.DELETED,
        deleted_at=now,
        deleted_by=who["actor_label"],
        deleted_by_user_id=who["actor_user_id"],
        deletion_reason=reason[:300],
        legal_hold=False,
    )
    audit_each(ids, AuditEvent.Kind.ARTIFACT_DELETED, tenant_id, actor, reason, request_id)


def copy_to_archive(rows):
    """Copy each artifact of ``rows`` (``(id, storage_key, storage_version, sha256, content_type)``)
    to the archive storage and verify its SHA-256 there.

    Returns ``(copied, errors)``: ``copied`` maps id → the archive object's version, ``errors``
    maps id → why the copy failed (the source is kept, untouched, for those).
    """
    copied, errors = {}, {}
    for pk, key, version, sha256, content_type in rows:
        try:
            stored = copy_object(key, "active", "archive", sha256, version=version, content_type=content_type)
        except (StorageError, OSError) as exc:
            errors[pk] = str(exc)
        except Exception as exc:  # botocore's ClientError / EndpointConnectionError and the like
            if "botocore" not in type(exc).__module__:
                raise
            errors[pk] = f"Storage error: {exc}"
        else:
            copied[pk] = stored.version
    return copied, errors


def mark_archived(copied, *, tenant_id, actor, reason, now):
    """Record the artifacts of ``copied`` (id → archive version) as archived; audit each."""
    if not copied:
        return
    ids = list(copied)
    Artifact.objects.filter(id__in=ids).update(
        state=ArtifactState.ARCHIVED, archived_at=now, storage_version="", legal_hold=False
    )
    versioned = [Artifact(pk=pk, storage_version=v) for pk, v in copied.items() if v]
    if versioned:
        Artifact.objects.bulk_update(versioned, ["storage_version"])
    audit_each(ids, AuditEvent.Kind.ARTIFACT_ARCHIVED, tenant_id, actor, reason)
