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

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, Count, F, Sum, Value
from django.db.models.functions import Cast, Coalesce, JSONObject
from django.utils import timezone

from accounts import audit
from accounts.audit import SystemActor, actor_fields
from accounts.models import AuditEvent, Tenant
from config import jobs
from interactions.choices import lock_targets

from . import disposal, holds
from .models import Artifact, Lock, ManagementRequest, ManagementRequestItem
from .storage import StorageError
from .validation import check_locked_interactions_limit

log = logging.getLogger(__name__)

Status = ManagementRequest.Status
ItemStatus = ManagementRequestItem.Status
RequestType = ManagementRequest.RequestType
_ADVISORY_NAMESPACE = 7301  # pg advisory lock key space of management requests
WORKER_LOST = "The worker processing this request stopped (worker lost). Retry to finish it."


# --- who is processing a request -------------------------------------------------------------
def processing_slot(request_id):
    """The advisory slot a live worker holds while processing a request (see :func:`config.jobs.slot`)."""
    return jobs.slot(_ADVISORY_NAMESPACE, request_id)


def request_actor(req):
    """The audit actor of work done for a request: its creator, on the request's behalf."""
    return req.created_by_user or SystemActor(req.created_by)


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
    return Artifact.objects.filter(interaction_id__in=[i.interaction_id for i in items]).selected(_pairs(req)).present()


def _row_lock(artifacts):
    """Take row locks on ``artifacts`` in id order (one statement; consistent order, no deadlock)."""
    return list(artifacts.order_by("id").select_for_update().values_list("id", flat=True))


def _count_by_interaction(artifacts):
    return Counter(dict(artifacts.values("interaction_id").annotate(n=Count("id")).values_list("interaction_id", "n")))


_RESULT_FIELDS = ("status", "matched", "locked", "unlocked", "deleted", "skipped_locked", "error")


def _save_items(items, **status):
    """Write the items' results in one UPDATE (``UPDATE ... FROM (VALUES ...)`` on PostgreSQL).

    Django's ``bulk_update`` builds one CASE expression per field and row, which costs more
    Python time than the whole batch's SQL; elsewhere (SQLite in development) it is fine.
    """
    if not items:
        return
    now = timezone.now()
    for item in items:
        item.finished_at = now
        for field, value in status.items():
            setattr(item, field, value)
    if connection.vendor != "postgresql":
        ManagementRequestItem.objects.bulk_update(items, [*_RESULT_FIELDS, "finished_at"])
        return
    table = ManagementRequestItem._meta.db_table
    rows = ", ".join(["(%s::bigint, %s, %s::int, %s::int, %s::int, %s::int, %s::int, %s)"] * len(items))
    params = [value for item in items for value in (item.pk, *(getattr(item, f) for f in _RESULT_FIELDS))]
    assignments = ", ".join(f"{f} = v.{f}" for f in _RESULT_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS i SET {assignments}, finished_at = %s "
            f"FROM (VALUES {rows}) AS v(id, {', '.join(_RESULT_FIELDS)}) WHERE i.id = v.id",
            [now, *params],
        )


def _release_locks(req, items, now):
    """Release every active lock of the request's types on ``items``' interactions; audit each."""
    actor = actor_fields(request_actor(req))
    Lock.objects.active(now).filter(interaction_id__in=[i.interaction_id for i in items]).covering(_pairs(req)).update(
        released_at=now,
        released_by=actor["actor_label"],
        released_by_user=actor["actor_user"],
        release_request=req,
    )
    audit.record_rows(
        Lock.objects.filter(release_request=req, released_at=now).values(
            interaction_guid=F("interaction__guid"),
            artifact_id=Cast(Value(None), BigIntegerField()),
            details=JSONObject(lock="id", artifact_type="artifact_type", audio_recording_type="audio_recording_type"),
        ),
        req.tenant_id,
        AuditEvent.Kind.LOCK_REMOVED,
        request_actor(req),
        request_id=req.pk,
        reason=f"Remove Lock by Artifacts Management Request {req.pk}",
    )


def _insert_locks(req, items):
    """One ``INSERT ... SELECT`` of a lock per item and (type, audio type) pair; a row that exists
    already (the same request item run twice) is skipped by the unique constraint."""
    actor = actor_fields(request_actor(req))
    base = ManagementRequestItem.objects.filter(pk__in=[i.pk for i in items]).order_by()
    parts = [base.annotate(t=Value(t), a=Value(a)).values("interaction_id", "t", "a") for t, a in _pairs(req)]
    sql, params = parts[0].union(*parts[1:], all=True).query.sql_with_params()
    columns = (
        "tenant_id, interaction_id, artifact_type, audio_recording_type, selection, expires_at, created_at, "
        "created_by_user_id, created_by, request_id, released_by"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Lock._meta.db_table} ({columns}) "
            f"SELECT %s, src.interaction_id, src.t, src.a, %s, %s, %s, %s, %s, %s, '' FROM ({sql}) src "
            # "WHERE 1 = 1": SQLite (development) would otherwise parse ON CONFLICT as a join's ON.
            "WHERE 1 = 1 ON CONFLICT DO NOTHING",
            [
                req.tenant_id,
                req.artifact_type,
                req.lock_expires_at,
                timezone.now(),
                getattr(actor["actor_user"], "pk", None),
                actor["actor_label"],
                req.pk,
                *params,
            ],
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
        _insert_locks(req, items)
        counts = _count_by_interaction(matching)
        for item in items:
            item.matched = item.locked = counts[item.interaction_id]
        _save_items(items, status=ItemStatus.DONE)
        audit.record_rows(
            ManagementRequestItem.objects.filter(pk__in=[i.pk for i in items]).values(
                interaction_guid=F("interaction__guid"),
                artifact_id=Cast(Value(None), BigIntegerField()),
                details=JSONObject(
                    artifact_type=Value(req.artifact_type),
                    audio_recording_type=Value(req.audio_recording_type),
                    expires_at=Value(req.lock_expires_at.isoformat() if req.lock_expires_at else ""),
                    artifacts_locked="locked",
                ),
            ),
            req.tenant_id,
            AuditEvent.Kind.LOCK_ADDED,
            request_actor(req),
            request_id=req.pk,
            reason=req.description or f"Add Lock by Artifacts Management Request {req.pk}",
        )
    holds.sync_legal_holds(matching)


def _release_and_count(req, items, matching, now):
    """Release the request's locks on ``items`` and return, per interaction, how many matched
    artifacts that unlocked. Every active lock on a matched artifact has the artifact's own
    (interaction, type, audio type), which the request selects, so all of them are released; and
    the caller holds the artifacts' rows, so no lock can be added meanwhile: the artifacts locked
    before the release are exactly the ones it unlocks."""
    unlocked = _count_by_interaction(matching.locked(now))
    _release_locks(req, items, now)
    return unlocked


def _remove_locks(req, items):
    now = timezone.now()
    with transaction.atomic():
        matching = _matching(req, items)
        _row_lock(matching)
        unlocked = _release_and_count(req, items, matching, now)
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
        matched = _count_by_interaction(matching)
        unlocked = Counter()
        if req.remove_locks:
            unlocked = _release_and_count(req, items, matching, now)
        # Re-checked after the row locks are held: a lock committed before this point wins.
        deletable = list(Artifact.objects.filter(id__in=candidates).not_locked(now).values_list(*disposal.ROW_FIELDS))
        failed = disposal.delete_bytes(deletable)
        disposal.tombstone(
            [row[0] for row in deletable if row[2] not in failed],
            tenant_id=req.tenant_id,
            actor=request_actor(req),
            reason=f"Artifacts Management Request {req.pk} (Delete)",
            now=now,
            request_id=req.pk,
        )
        deletable_by = Counter(row[1] for row in deletable)
        refusals = {}
        for _pk, interaction_id, key, _version, _state in deletable:
            if key in failed:
                refusals.setdefault(interaction_id, []).append(failed[key])
        done, errored = [], []
        for item in items:
            iid = item.interaction_id
            refused = refusals.get(iid, [])
            item.matched, item.unlocked = matched[iid], unlocked[iid]
            item.deleted, item.skipped_locked = deletable_by[iid] - len(refused), matched[iid] - deletable_by[iid]
            if refused:
                item.error = f"Storage refused to delete {len(refused)} artifact(s): {'; '.join(sorted(set(refused)))}"
                errored.append(item)
            else:
                done.append(item)
        _save_items(done, status=ItemStatus.DONE)
        _save_items(errored, status=ItemStatus.ERROR)


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
        audit.record(
            req.tenant_id,
            kind,
            request_actor(req),
            request_id=req.pk,
            reason=req.error_message or req.get_request_type_display(),
            **totals,
        )


def _sum(field):
    return Coalesce(Sum(field), 0)


def _mark_error(req, message):
    """Put a request (row-locked by the caller) in Error, retryable, and audit the failure."""
    req.status, req.retryable, req.finished_at, req.error_message = Status.ERROR, True, timezone.now(), message
    req.save(update_fields=["status", "retryable", "finished_at", "error_message"])
    audit.record(req.tenant_id, AuditEvent.Kind.REQUEST_FAILED, request_actor(req), request_id=req.pk, reason=message)


def fail_request(request_id, exc):
    """Record a crash or storage failure: the request goes to Error and can be retried."""
    message = str(exc)
    if isinstance(exc, StorageError | OSError) or "botocore" in type(exc).__module__:
        message = f"Storage error: {exc}"
    with transaction.atomic():
        req = ManagementRequest.objects.select_for_update().get(pk=request_id)
        if req.status not in (Status.IN_PROGRESS, Status.QUEUED):
            return
        _mark_error(req, f"{type(exc).__name__}: {message}"[:2000])


def reap_lost_requests(_pk=None):
    """Turn In Progress requests that no worker holds into Error ("worker lost", retryable).

    Runs every minute from the RQ cron schedule (``config/schedule.py``). Returns the ids reaped.
    """
    if connection.vendor != "postgresql":
        return []
    reaped = []
    for request_id in ManagementRequest.objects.filter(status=Status.IN_PROGRESS).values_list("id", flat=True):
        with processing_slot(request_id) as free:
            if not free:
                continue  # a live worker holds it
            with transaction.atomic():
                req = ManagementRequest.objects.select_for_update().get(pk=request_id)
                if req.status != Status.IN_PROGRESS:
                    continue
                _mark_error(req, WORKER_LOST)
            reaped.append(request_id)
    if reaped:
        log.warning("reaped lost management requests: %s", reaped)
    return reaped
