"""Processing Artifacts Management Requests: the RQ job, its failure handler, and the reaper.

A request is processed in bounded batches of its pending items (at most 200 interactions and
``MANAGEMENT_REQUEST_BATCH_ARTIFACTS`` artifacts per batch, default 5,000), each batch one
transaction of set-based SQL whose statement count does not grow with the number of artifacts.
Items are idempotent: a finished item is never redone, and lock rows are unique per request
item. Deletion holds row locks on the artifacts from the "not locked" re-check until the
tombstones commit, so a lock committed before the delete reaches an artifact always wins.
"""

import logging
from collections import Counter
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.audit import SystemActor, actor_fields
from accounts.models import AuditEvent, Tenant
from interactions.choices import lock_targets

from . import holds
from .models import Artifact, Lock, ManagementRequest, ManagementRequestItem
from .storage import StorageError, get_storage
from .validation import check_locked_interactions_limit

log = logging.getLogger(__name__)

Status = ManagementRequest.Status
ItemStatus = ManagementRequestItem.Status
RequestType = ManagementRequest.RequestType
_ADVISORY_NAMESPACE = 7301  # pg advisory lock key space of management requests
WORKER_LOST = "The worker processing this request stopped (worker lost). Retry to finish it."


# --- who is processing a request -------------------------------------------------------------
@contextmanager
def processing_slot(request_id):
    """Hold the PostgreSQL session advisory lock of a request while processing it.

    A worker that dies loses its connection and so the lock: the reaper recognises a lost request
    by being able to take the lock of a request marked In Progress. Yields whether it was taken.
    On databases without advisory locks (SQLite, inline development runs) it always succeeds.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_ADVISORY_NAMESPACE, request_id])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_ADVISORY_NAMESPACE, request_id])


def request_actor(req):
    """The audit actor of work done for a request: its creator, on the request's behalf."""
    return req.created_by_user or SystemActor(req.created_by)


def _audit_rows(req, kind, rows, reason):
    """Bulk-append audit events (one INSERT) for ``rows`` of (interaction guid, artifact id, details)."""
    actor = actor_fields(request_actor(req))
    AuditEvent.objects.bulk_create(
        AuditEvent(
            tenant_id=req.tenant_id,
            kind=kind,
            interaction_guid=guid,
            artifact_id=artifact_id,
            request_id=req.pk,
            reason=reason,
            details=details,
            **actor,
        )
        for guid, artifact_id, details in rows
    )


# --- the job ---------------------------------------------------------------------------------
def process_request(request_id):
    """Run a Queued request to Complete or Error (called by the runner in ``config.jobs``)."""
    with processing_slot(request_id) as mine:
        if not mine:
            log.info("request %s is being processed elsewhere", request_id)
            return
        with transaction.atomic():
            req = ManagementRequest.objects.select_for_update().get(pk=request_id)
            if req.status != Status.QUEUED:
                log.info("request %s is %s: nothing to do", request_id, req.status)
                return
            req.status, req.started_at, req.attempts = Status.IN_PROGRESS, timezone.now(), req.attempts + 1
            req.error_message = ""
            req.save(update_fields=["status", "started_at", "attempts", "error_message"])
        # A crash after an earlier batch committed may have left storage holds behind the locks.
        holds.sync_legal_holds(Artifact.objects.filter(interaction__in=_interactions(req)))
        handler = {
            RequestType.ADD_LOCK: _add_locks,
            RequestType.REMOVE_LOCK: _remove_locks,
            RequestType.DELETE: _delete,
        }[req.request_type]
        for batch in _pending_batches(req):
            handler(req, batch)
        _finish(req)


def _interactions(req):
    return ManagementRequestItem.objects.filter(request=req).values("interaction_id")


def _pending_batches(req):
    """Pending items in batches of at most ``MANAGEMENT_REQUEST_BATCH_ARTIFACTS`` artifacts."""
    limit = settings.MANAGEMENT_REQUEST_BATCH_ARTIFACTS
    items = list(
        ManagementRequestItem.objects.filter(request=req, status=ItemStatus.PENDING)
        .annotate(artifact_count=Count("interaction__artifacts"))
        .select_related("interaction")
        .order_by("position")
    )
    batch, size = [], 0
    for item in items:
        if batch and size + item.artifact_count > limit:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.artifact_count
    if batch:
        yield batch


def _pairs(req):
    return lock_targets(req.artifact_type, req.audio_recording_type)


def _matching(req, items):
    """The present artifacts of ``items`` that the request's artifact type selects."""
    return (
        Artifact.objects.filter(interaction_id__in=[i.interaction_id for i in items])
        .selected(_pairs(req))
        .present()
    )


def _row_lock(artifacts):
    """Take row locks on ``artifacts`` in id order (one statement; consistent order, no deadlock)."""
    return list(artifacts.order_by("id").select_for_update().values_list("id", flat=True))


def _count_by_interaction(artifacts):
    return Counter(
        dict(artifacts.values("interaction_id").annotate(n=Count("id")).values_list("interaction_id", "n"))
    )


def _save_items(items, **status):
    now = timezone.now()
    for item in items:
        item.finished_at = now
        for field, value in status.items():
            setattr(item, field, value)
    ManagementRequestItem.objects.bulk_update(
        items,
        ["status", "matched", "locked", "unlocked", "deleted", "skipped_locked", "error", "finished_at"],
    )


def _release_locks(req, items, now):
    """Release every active lock of the request's types on ``items``' interactions; audit each."""
    released = list(
        Lock.objects.active(now)
        .filter(interaction_id__in=[i.interaction_id for i in items])
        .covering(_pairs(req))
        .values_list("id", "interaction__guid", "artifact_type", "audio_recording_type")
    )
    actor = actor_fields(request_actor(req))
    Lock.objects.filter(id__in=[r[0] for r in released]).update(
        released_at=now,
        released_by=actor["actor_label"],
        released_by_user=actor["actor_user"],
        release_request=req,
    )
    _audit_rows(
        req,
        AuditEvent.Kind.LOCK_REMOVED,
        [
            (guid, None, {"lock": lock_id, "artifact_type": t, "audio_recording_type": a})
            for lock_id, guid, t, a in released
        ],
        reason=f"Remove Lock by Artifacts Management Request {req.pk}",
    )


def _add_locks(req, items):
    with transaction.atomic():
        # Serializes lock additions of a tenant (the limit check). NO KEY UPDATE, so that concurrent
        # inserts referencing the tenant (audit events of a delete holding artifact rows) don't deadlock.
        tenant = Tenant.objects.select_for_update(no_key=True).get(pk=req.tenant_id)
        matching = _matching(req, items)
        _row_lock(matching)
        try:
            check_locked_interactions_limit(tenant, [i.interaction_id for i in items])
        except Exception as exc:
            _save_items(items, status=ItemStatus.ERROR, error=" ".join(getattr(exc, "messages", [str(exc)])))
            return
        actor = actor_fields(request_actor(req))
        Lock.objects.bulk_create(
            [
                Lock(
                    tenant_id=req.tenant_id,
                    interaction_id=item.interaction_id,
                    artifact_type=t,
                    audio_recording_type=a,
                    selection=req.artifact_type,
                    expires_at=req.lock_expires_at,
                    request=req,
                    created_by=actor["actor_label"],
                    created_by_user=actor["actor_user"],
                )
                for item in items
                for t, a in _pairs(req)
            ],
            ignore_conflicts=True,
        )
        counts = _count_by_interaction(matching)
        _audit_rows(
            req,
            AuditEvent.Kind.LOCK_ADDED,
            [
                (
                    item.interaction.guid,
                    None,
                    {
                        "artifact_type": req.artifact_type,
                        "audio_recording_type": req.audio_recording_type,
                        "expires_at": req.lock_expires_at.isoformat() if req.lock_expires_at else None,
                        "artifacts_locked": counts[item.interaction_id],
                    },
                )
                for item in items
            ],
            reason=req.description or f"Add Lock by Artifacts Management Request {req.pk}",
        )
        for item in items:
            item.matched = item.locked = counts[item.interaction_id]
        _save_items(items, status=ItemStatus.DONE)
    holds.sync_legal_holds(matching)


def _remove_locks(req, items):
    now = timezone.now()
    with transaction.atomic():
        matching = _matching(req, items)
        _row_lock(matching)
        before = set(matching.locked(now).values_list("id", flat=True))
        _release_locks(req, items, now)
        still = set(matching.locked(now).values_list("id", flat=True))
        unlocked = Counter(
            Artifact.objects.filter(id__in=before - still).values_list("interaction_id", flat=True)
        )
        matched = _count_by_interaction(matching)
        for item in items:
            item.matched, item.unlocked = matched[item.interaction_id], unlocked[item.interaction_id]
        _save_items(items, status=ItemStatus.DONE)
    holds.sync_legal_holds(matching)


def _delete(req, items):
    now = timezone.now()
    with transaction.atomic():
        matching = _matching(req, items)
        candidates = _row_lock(matching)
        if req.remove_locks:
            before = set(matching.locked(now).values_list("id", flat=True))
            _release_locks(req, items, now)
        # Re-checked after the row locks are held: a lock committed before this point wins.
        deletable = list(
            Artifact.objects.filter(id__in=candidates)
            .not_locked(now)
            .values_list(
                "id", "interaction_id", "interaction__guid", "storage_key", "storage_version", "state"
            )
        )
        deletable_ids = [row[0] for row in deletable]
        # Holds left by released or lapsed locks would make the storage refuse the delete.
        holds.sync_legal_holds(Artifact.objects.filter(id__in=deletable_ids))
        failed = _delete_bytes(deletable, deletable_ids)
        gone = [row for row in deletable if row[3] not in failed]
        actor = actor_fields(request_actor(req))
        reason = f"Artifacts Management Request {req.pk} (Delete)"
        Artifact.objects.filter(id__in=[row[0] for row in gone]).update(
            state="deleted",
            deleted_at=now,
            deleted_by=actor["actor_label"],
            deleted_by_user=actor["actor_user"],
            deletion_reason=reason,
            legal_hold=False,
        )
        _audit_rows(
            req,
            AuditEvent.Kind.ARTIFACT_DELETED,
            [(guid, pk, {"storage_key": key}) for pk, _i, guid, key, _v, _s in gone],
            reason=reason,
        )
        matched = Counter(
            i for i in Artifact.objects.filter(id__in=candidates).values_list("interaction_id", flat=True)
        )
        deleted = Counter(row[1] for row in gone)
        refused = Counter(row[1] for row in deletable if row[3] in failed)
        unlocked = Counter()
        if req.remove_locks:
            unlocked = Counter(
                Artifact.objects.filter(id__in=before & set(deletable_ids)).values_list(
                    "interaction_id", flat=True
                )
            )
        skipped = set(candidates) - set(deletable_ids)
        skipped_by = Counter(Artifact.objects.filter(id__in=skipped).values_list("interaction_id", flat=True))
        done, errored = [], []
        for item in items:
            iid = item.interaction_id
            item.matched, item.deleted, item.skipped_locked = matched[iid], deleted[iid], skipped_by[iid]
            item.unlocked = unlocked[iid]
            if refused[iid]:
                item.error = (
                    f"Storage refused to delete {refused[iid]} artifact(s): "
                    + "; ".join(
                        sorted({failed[row[3]] for row in deletable if row[1] == iid and row[3] in failed})
                    )[:500]
                )
                errored.append(item)
            else:
                done.append(item)
        _save_items(done, status=ItemStatus.DONE)
        _save_items(errored, status=ItemStatus.ERROR)


def _delete_bytes(rows, deleting_ids):
    """Delete the objects of ``rows`` from their storages, ≤ 1,000 keys per S3 call.

    Keys still used by another present artifact (shared benchmark blobs) are left in place.
    Returns ``{key: reason}`` for keys the storage refused.
    """
    keys = {row[3] for row in rows}
    shared = set(
        Artifact.objects.present()
        .filter(storage_key__in=keys)
        .exclude(id__in=deleting_ids)
        .values_list("storage_key", flat=True)
    )
    failed = {}
    by_storage = {}
    for _pk, _i, _g, key, version, state in rows:
        if key not in shared:
            by_storage.setdefault(Artifact(state=state).storage_name, {})[key] = version
    for name, objects in by_storage.items():
        result = get_storage(name).delete_many(objects.items())
        failed.update(result.failed)
    return failed


def _finish(req):
    with transaction.atomic():
        req = ManagementRequest.objects.select_for_update().get(pk=req.pk)
        errors = ManagementRequestItem.objects.filter(request=req, status=ItemStatus.ERROR).count()
        req.finished_at = timezone.now()
        if errors:
            req.status, req.retryable = Status.ERROR, True
            req.error_message = (
                f"{errors} interaction(s) could not be processed; see their results. Retry to redo them."
            )
            kind = AuditEvent.Kind.REQUEST_FAILED
        else:
            req.status, req.retryable, req.error_message = Status.COMPLETE, False, ""
            kind = AuditEvent.Kind.REQUEST_COMPLETED
        req.save(update_fields=["status", "retryable", "error_message", "finished_at"])
        totals = req.items.aggregate(
            matched=_sum("matched"),
            locked=_sum("locked"),
            unlocked=_sum("unlocked"),
            deleted=_sum("deleted"),
            skipped_locked=_sum("skipped_locked"),
        )
        _audit_rows(
            req, kind, [(None, None, totals)], reason=req.error_message or req.get_request_type_display()
        )


def _sum(field):
    return Coalesce(Sum(field), 0)


def fail_request(request_id, exc):
    """Record a crash or storage failure: the request goes to Error and can be retried."""
    message = str(exc)
    if isinstance(exc, StorageError | OSError) or "botocore" in type(exc).__module__:
        message = f"Storage error: {exc}"
    with transaction.atomic():
        req = ManagementRequest.objects.select_for_update().get(pk=request_id)
        if req.status not in (Status.IN_PROGRESS, Status.QUEUED):
            return
        req.status, req.retryable, req.finished_at = Status.ERROR, True, timezone.now()
        req.error_message = f"{type(exc).__name__}: {message}"[:2000]
        req.save(update_fields=["status", "retryable", "finished_at", "error_message"])
        _audit_rows(req, AuditEvent.Kind.REQUEST_FAILED, [(None, None, {})], reason=req.error_message)


def reap_lost_requests(_pk=None):
    """Turn In Progress requests that no worker holds into Error ("worker lost", retryable).

    Runs every minute from the RQ cron schedule (``config/schedule.py``). Returns the ids reaped.
    """
    if connection.vendor != "postgresql":
        return []
    reaped = []
    for request_id in ManagementRequest.objects.filter(status=Status.IN_PROGRESS).values_list(
        "id", flat=True
    ):
        with processing_slot(request_id) as free:
            if not free:
                continue  # a live worker holds it
            with transaction.atomic():
                req = ManagementRequest.objects.select_for_update().get(pk=request_id)
                if req.status != Status.IN_PROGRESS:
                    continue
                req.status, req.retryable, req.finished_at = Status.ERROR, True, timezone.now()
                req.error_message = WORKER_LOST
                req.save(update_fields=["status", "retryable", "finished_at", "error_message"])
                _audit_rows(req, AuditEvent.Kind.REQUEST_FAILED, [(None, None, {})], reason=WORKER_LOST)
            reaped.append(request_id)
    if reaped:
        log.warning("reaped lost management requests: %s", reaped)
    return reaped
