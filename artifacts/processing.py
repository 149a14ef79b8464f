"""Processing Artifacts Management Requests: the work of a claimed request row and the audit
record of its failure (claiming, failing and reaping rows is :mod:`config.jobs`).

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
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts import audit
from accounts.actors import acting_for, missing_names
from accounts.models import AuditEvent
from config import jobs
from core.sql import AnyOf
from core.vocabulary import PRESENT_STATES, ArtifactState

from . import holds, services
from .impact import request_artifacts
from .models import Artifact, ManagementRequest, ManagementRequestItem
from .validation import required_permissions

log = logging.getLogger(__name__)

Status = ManagementRequest.Status
ItemStatus = ManagementRequestItem.Status
RequestType = ManagementRequest.RequestType
WORKER_LOST = "The worker processing this request stopped (worker lost). Retry to finish it."


# --- the job ---------------------------------------------------------------------------------
def _require_grants(req, actor, started):
    """Refuse to go on when the actor the request acts for lost a permission it needs (removed
    from the tenant, deactivated, another role): the request goes to Error, retryable by someone
    who holds them (the redone work then acts for them)."""
    actor.forget_grants()
    missing = required_permissions(req.request_type, req.remove_locks) - actor.perms_on(req.tenant_id)
    if missing:
        done = "Nothing more was done" if started else "Nothing was done"
        raise PermissionDenied(
            f"{done}: this request acts for {actor.label}, who no longer holds {missing_names(missing)} on "
            f"{req.tenant.name} (removed from the tenant, deactivated, or given another role). Someone who "
            "holds these permissions can Retry it; the rest of the work then acts for them."
        )


def process_request(req):
    """Run a claimed (In Progress) request to Complete or Error, batch by batch, with the grants
    of the actor it acts for as they are when each batch runs (called by :func:`config.jobs.run`)."""
    actor = acting_for(req)
    _require_grants(req, actor, started=False)
    # A crash after an earlier batch committed may have left storage holds behind the locks.
    holds.sync_legal_holds(Artifact.objects.filter(interaction__in=_interactions(req)))
    handler = {
        RequestType.ADD_LOCK: _add_locks,
        RequestType.REMOVE_LOCK: _remove_locks,
        RequestType.DELETE: _delete,
    }[req.request_type]
    batches = list(_pending_batches(req))
    # Without storage holds to follow a lock change, the request's outcome commits with its last
    # batch (one transaction, one commit less): the row says In Progress until the locks and their
    # results are visible, and Complete with them. With holds, it finishes after they are placed.
    finish_with_last = req.request_type != RequestType.DELETE and not holds.legal_holds_enabled()
    finished = False
    for n, batch in enumerate(batches):
        if n:
            _require_grants(req, actor, started=True)
        last = n == len(batches) - 1
        if last and finish_with_last:
            finished = handler(req, actor, batch, finish=lambda: _finish(req, actor))
        else:
            handler(req, actor, batch)
        if not last:  # a sign of life between batches; the last one is followed by the finish
            jobs.beat(req)
    if not finished:
        _finish(req, actor)


def _interactions(req):
    return ManagementRequestItem.objects.filter(request=req).values("interaction_id")


def _pending_batches(req):
    """Pending items in batches of at most ``MANAGEMENT_REQUEST_BATCH_ARTIFACTS`` artifacts."""
    limit = settings.MANAGEMENT_REQUEST_BATCH_ARTIFACTS
    items = list(ManagementRequestItem.objects.filter(request=req, status=ItemStatus.PENDING).order_by("position"))
    # Counted per interaction in a statement of its own: a COUNT joined onto the items (and grouped by
    # every column of them) cost more than the whole lock change of the batch.
    sizes = Counter(
        dict(
            Artifact.objects.filter(AnyOf("interaction_id", [item.interaction_id for item in items]))
            .values("interaction_id")
            .annotate(n=Count("id"))
            .values_list("interaction_id", "n")
        )
    )
    batch, size = [], 0
    for item in items:
        if batch and size + sizes[item.interaction_id] > limit:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += sizes[item.interaction_id]
    if batch:
        yield batch


def _interaction_ids(items):
    return [item.interaction_id for item in items]


_RESULT_FIELDS = (
    "status", "matched", "locked", "unlocked", "deleted", "skipped_locked", "not_exported", "already_deleting", "error",
)  # fmt: skip
_RESULT_TYPES = ("text", "int", "int", "int", "int", "int", "int", "int", "text")


def _save_items(items, **status):
    """Write the items' results in one UPDATE (``UPDATE ... FROM unnest(arrays)`` on PostgreSQL).

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
    # One array per column (unnest): a few parameters however many items, where VALUES rows took
    # nine placeholders per item for Django and psycopg to build and split.
    table = ManagementRequestItem._meta.db_table
    columns = ", ".join(f"%s::{sql_type}[]" for sql_type in ("bigint", *_RESULT_TYPES))
    params = [[item.pk for item in items], *([getattr(item, f) for item in items] for f in _RESULT_FIELDS)]
    assignments = ", ".join(f"{f} = v.{f}" for f in _RESULT_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS i SET {assignments}, finished_at = %s "
            f"FROM unnest({columns}) AS v(id, {', '.join(_RESULT_FIELDS)}) WHERE i.id = v.id",
            [now, *params],
        )


def _selection(req):
    return {"selection": req.artifact_type, "audio_recording_type": req.audio_recording_type, "request": req}


def _add_locks(req, actor, items, finish=None):
    """The items' results commit with the locks; the S3 holds follow after that commit (a hold must
    never be placed by a transaction that may still roll back). ``finish()``, when given, ends the
    request in the same transaction; returns whether it did."""

    def save_results(change):
        for item in items:
            item.matched = item.locked = change.matched[item.interaction_id]
            item.already_deleting = change.deleting[item.interaction_id]
        _save_items(items, status=ItemStatus.DONE)
        if finish is not None:
            finish()

    try:
        services.add_locks(
            req.tenant_id,
            _interaction_ids(items),
            actor,
            expires_at=req.lock_expires_at,
            reason=req.description or f"Add Lock by Artifacts Management Request {req.pk}",
            matter_id=req.matter_id,
            then=save_results,
            **_selection(req),
        )
    except ValidationError as exc:  # the tenant's limit of locked interactions
        _save_items(items, status=ItemStatus.ERROR, error=" ".join(exc.messages))
        return False
    return finish is not None


def _remove_locks(req, actor, items, finish=None):
    """As :func:`_add_locks`, releasing."""

    def save_results(change):
        for item in items:
            item.matched, item.unlocked = change.matched[item.interaction_id], change.changed[item.interaction_id]
        _save_items(items, status=ItemStatus.DONE)
        if finish is not None:
            finish()

    services.release_locks(
        req.tenant_id,
        _interaction_ids(items),
        actor,
        reason=f"Remove Lock by Artifacts Management Request {req.pk}",
        matter_id=req.matter_id,
        then=save_results,
        **_selection(req),
    )
    return finish is not None


def _delete(req, actor, items):
    """Remove the request's locks (with Remove Locks to Process Request), then delete through the one
    delete path; the items' results commit with the tombstones. Counts are exact across attempts:
    what an earlier attempt of this request decided (and the resume finished) counts as deleted."""
    now = timezone.now()
    interactions = _interaction_ids(items)
    change = None
    if req.remove_locks:
        change = services.release_locks(
            req.tenant_id,
            interactions,
            actor,
            reason=f"Remove Lock by Artifacts Management Request {req.pk}",
            now=now,
            **_selection(req),
        )
    # The same selection the form's impact preview counted.
    mine = request_artifacts(req.tenant_id, interactions, req.artifact_type, req.audio_recording_type)
    candidates = list(
        mine.filter(
            Q(state__in=PRESENT_STATES) | Q(state=ArtifactState.DELETING, deletion_request_id=req.pk)
        ).values_list("id", flat=True)
    )

    def save_results(result):
        before = Counter(
            dict(
                mine.filter(state=ArtifactState.DELETED, deletion_request_id=req.pk)
                .exclude(id__in=result.done)
                .values("interaction_id")
                .annotate(n=Count("id"))
                .values_list("interaction_id", "n")
            )
        )
        # Another decision's deletions are not this request's matches (they count for their decider).
        matched = Counter(iid for pk, iid in result.interaction_of.items() if pk not in result.others) + before
        deleted = Counter(result.interaction_of[pk] for pk in result.done) + before
        refusals = {}
        for pk, reason in result.failed.items():
            refusals.setdefault(result.interaction_of[pk], []).append(reason)
        unexported = Counter(result.interaction_of[pk] for pk in result.unexported)
        done, errored = [], []
        for item in items:
            iid = item.interaction_id
            refused = refusals.get(iid, [])
            item.matched, item.deleted = matched[iid], deleted[iid]
            item.unlocked = change.changed[iid] if change else 0
            item.not_exported = unexported[iid]
            item.skipped_locked = matched[iid] - deleted[iid] - len(refused) - unexported[iid]
            problems = []
            if refused:
                problems.append(
                    f"Storage refused to delete {len(refused)} artifact(s): {'; '.join(sorted(set(refused)))}"
                )
            if unexported[iid]:
                why = result.export_error or "no verified export holds them"
                problems.append(f"{unexported[iid]} artifact(s) kept, not exported: {why}")
            if problems:
                item.error = " ".join(problems)
                errored.append(item)
            else:
                done.append(item)
        _save_items(done, status=ItemStatus.DONE)
        _save_items(errored, status=ItemStatus.ERROR)

    services.delete_artifacts(
        req.tenant_id,
        candidates,
        actor,
        f"Artifacts Management Request {req.pk} (Delete)",
        request_id=req.pk,
        job=f"{ManagementRequest.job_kind}:{req.pk}",
        now=now,
        then=save_results,
        require_export=req.require_export,
    )


def _finish(req, actor):
    # The items' failures and totals in one statement (the worker holds the request's slot: no
    # one else changes its items meanwhile).
    totals = ManagementRequestItem.objects.filter(request=req).aggregate(
        errors=Count("id", filter=Q(status=ItemStatus.ERROR)),
        matched=_sum("matched"),
        locked=_sum("locked"),
        unlocked=_sum("unlocked"),
        deleted=_sum("deleted"),
        skipped_locked=_sum("skipped_locked"),
    )
    errors = totals.pop("errors")
    message = f"{errors} interaction(s) could not be processed; see their results. Retry to redo them."

    def record_outcome(row):
        audit.record(
            row.tenant_id,
            AuditEvent.Kind.REQUEST_FAILED if errors else AuditEvent.Kind.REQUEST_COMPLETED,
            actor,
            request_id=row.pk,
            reason=row.error_message or row.get_request_type_display(),
            **totals,
        )

    if errors:
        jobs.finish(req, Status.ERROR, error_message=message, retryable=True, then=record_outcome)
    else:
        jobs.finish(req, Status.COMPLETE, then=record_outcome)


def _sum(field):
    return Coalesce(Sum(field), 0)


def record_failure(req, message):
    """The audit event of a request that failed (crash, storage, lost grants, lost worker)."""
    audit.record(req.tenant_id, AuditEvent.Kind.REQUEST_FAILED, acting_for(req), request_id=req.pk, reason=message)


def lost_requests():
    """Reap lost jobs now (``manage.py artifacts_requests reap``); returns the request ids reaped."""
    return jobs.reap().get(ManagementRequest.job_kind, [])
