"""Deleting and archiving artifacts that the caller holds row-locked and has re-checked as unlocked.

The one implementation of both, used by Delete requests (:mod:`artifacts.processing`) and by the
lifecycle sweep (:mod:`policies.sweep`). Callers take the row locks and re-check
:meth:`~artifacts.models.ArtifactQuerySet.not_locked` first, in the same transaction, so a lock
committed before they reached an artifact always wins; these functions do the rest with set-based
SQL and batched storage calls.

``rows`` are tuples ``(id, interaction_id, storage_key, storage_version, state)`` as
:data:`ROW_FIELDS` selects them.
"""

import logging

from django.db.models import F
from django.db.models.functions import JSONObject

from accounts import audit
from accounts.audit import actor_fields
from accounts.models import AuditEvent
from interactions.choices import ArtifactState

from . import holds
from .models import Artifact
from .storage import StorageError, get_storage
from .storage import copy as copy_object

log = logging.getLogger(__name__)

ROW_FIELDS = ("id", "interaction_id", "storage_key", "storage_version", "state")


def _keys_in_use_elsewhere(rows):
    """Storage keys of ``rows`` that another present artifact still uses (shared benchmark blobs).

    The keys are passed as a list, not a subquery: with a subquery PostgreSQL hashes the whole
    artifact table (~0.5 s per batch at 1M rows) instead of probing the storage_key index.
    """
    ids = [row[0] for row in rows]
    keys = sorted({row[2] for row in rows})
    return set(
        Artifact.objects.present()
        .exclude(id__in=ids)
        .filter(storage_key__in=keys)
        .values_list("storage_key", flat=True)
    )


def delete_bytes(rows, *, storage=None):
    """Delete the objects of ``rows`` from their storages, ≤ 1,000 keys per S3 call.

    ``storage`` forces one storage (the active copy of artifacts just archived); by default each
    row's state names it. Holds left by released or lapsed locks are cleared first, since they
    would make the storage refuse. Keys another present artifact still uses stay in place.
    Returns ``{key: reason}`` for keys the storage refused.
    """
    ids = [row[0] for row in rows]
    if not ids:
        return {}
    holds.sync_legal_holds(Artifact.objects.filter(id__in=ids))
    shared = _keys_in_use_elsewhere(rows)
    by_storage = {}
    for _pk, _interaction_id, key, version, state in rows:
        if key not in shared:
            by_storage.setdefault(storage or Artifact(state=state).storage_name, {})[key] = version
    failed = {}
    for name, objects in by_storage.items():
        failed.update(get_storage(name).delete_many(objects.items()).failed)
    return failed


def _audit_each(ids, kind, tenant_id, actor, reason, request_id=None):
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
    who = actor_fields(actor)
    Artifact.objects.filter(id__in=ids).update(
        state=ArtifactState.DELETED,
        deleted_at=now,
        deleted_by=who["actor_label"],
        deleted_by_user=who["actor_user"],
        deletion_reason=reason,
        legal_hold=False,
    )
    _audit_each(ids, AuditEvent.Kind.ARTIFACT_DELETED, tenant_id, actor, reason, request_id)


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
    _audit_each(ids, AuditEvent.Kind.ARTIFACT_ARCHIVED, tenant_id, actor, reason)
