"""The retention sweep: apply a tenant's Artifacts Lifecycle Policies, batch by batch.

How it runs in production (see also ``config/schedule.py`` and the README):

- ``rqcron config.schedule`` enqueues :func:`schedule_daily_sweeps` every hour. For each tenant it
  makes sure a scheduled :class:`~policies.models.SweepRun` exists for the tenant-local day (from
  ``LIFECYCLE_SWEEP_HOUR`` on; before that hour, for the day before) and enqueues it. A day the
  scheduler missed (it was down) is caught up at its next start: the sweep works "as of now", so
  one run does everything that became due meanwhile. A run that failed is enqueued again (up to
  ``LIFECYCLE_SWEEP_ATTEMPTS`` times), one stuck in Queued for an hour too.
- A worker runs :func:`run_sweep` through :func:`config.jobs.run`. It holds the tenant's advisory
  slot, so two sweeps of one tenant never overlap; :func:`reap_lost_sweeps` (every minute) turns a
  Running run whose worker died into Error, and the hourly scheduler then resumes it.
- ``manage.py apply_lifecycle_policies`` runs the same function in the operator's process.

Each batch is one transaction: select up to ``LIFECYCLE_SWEEP_BATCH`` due, unlocked artifacts by
id (keyset, ``FOR UPDATE`` of the artifact rows), re-check "not locked" with a fresh snapshot now
that the rows are held (a lock committed meanwhile wins), delete the bytes (≤ 1,000 keys per S3
call), write tombstones and audit events per deciding policy, and add the batch's counts to the
run row. A run killed between batches resumes where the data says it is: finished batches are
committed with their counts, nothing is deleted twice, and no tombstone is missing.
"""

import logging
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import BigIntegerField, F, Value
from django.db.models.functions import Cast, JSONObject
from django.utils import timezone

from accounts import audit
from accounts.audit import SystemActor
from accounts.models import AuditEvent, Tenant
from artifacts import disposal, holds
from artifacts.models import Artifact, Lock, active_lock_exists
from config import jobs

from .models import SweepRun
from .retention import Schedule
from .services import enqueue_sweep

log = logging.getLogger(__name__)

Status = SweepRun.Status
SWEEP_NAMESPACE = 7302  # pg advisory lock key space of tenant sweeps
SWEEP_ACTOR = SystemActor("Lifecycle sweep")
SCHEDULE_ACTOR = SystemActor("Daily schedule")
MAX_ERROR_DETAILS = 200
WORKER_LOST = "The worker running this sweep stopped (worker lost). The schedule resumes it within the hour."


def policy_actor(rule):
    """The audit actor of what a policy does: the policy itself, by name."""
    return SystemActor(f"Lifecycle policy “{rule.name}”")


# --- the job -----------------------------------------------------------------------------------
def run_sweep(run_id):
    """Run a Queued sweep of one tenant to Complete or Error (called by ``config.jobs.run``)."""
    tenant_id = SweepRun.objects.values_list("tenant_id", flat=True).get(pk=run_id)
    with jobs.slot(SWEEP_NAMESPACE, tenant_id) as mine:
        if not mine:
            log.info("sweep %s: another sweep of tenant %s is running; left queued", run_id, tenant_id)
            return
        with transaction.atomic():
            run = SweepRun.objects.select_for_update().get(pk=run_id)
            if run.status != Status.QUEUED:
                log.info("sweep %s is %s: nothing to do", run_id, run.status)
                return
            run.status, run.attempts, run.error_message = Status.RUNNING, run.attempts + 1, ""
            run.started_at = run.started_at or timezone.now()
            run.save(update_fields=["status", "attempts", "error_message", "started_at"])
        now = timezone.now()
        schedule = Schedule.for_tenant(tenant_id)
        _record_lapsed_locks(run, now)
        _count_locked(run, schedule, now)
        _delete_due(run, schedule, now)
        _archive_due(run, schedule, now)
        _finish(run)


def _due(schedule, tenant_id, condition):
    return schedule.annotate(Artifact.objects.filter(tenant_id=tenant_id)).filter(condition)


def _batches(run, schedule, condition, policy_field, size):
    """Yield ``(rows, locked_rows_count)`` per batch, each inside its own transaction.

    The caller's work on a batch runs while this generator is suspended at ``yield``, that is inside
    the batch's transaction and under its row locks: it commits when the caller asks for the next
    batch, and an exception in the caller rolls the whole batch back.

    ``rows`` are :data:`artifacts.disposal.ROW_FIELDS` plus the deciding policy's id, for the due
    artifacts that are still unlocked once their rows are held.
    """
    after = 0
    while True:
        with transaction.atomic():
            candidates = dict(
                _due(schedule, run.tenant_id, condition)
                .filter(id__gt=after)
                .not_locked()
                .order_by("id")
                .select_for_update(of=("self",))
                .values_list("id", policy_field)[:size]
            )
            if not candidates:
                return
            after = max(candidates)
            # A fresh snapshot now that the rows are held: a lock committed meanwhile wins.
            rows = [
                (*row, candidates[row[0]])
                for row in Artifact.objects.filter(id__in=candidates).not_locked().values_list(*disposal.ROW_FIELDS)
            ]
            yield rows, len(candidates) - len(rows)


def _delete_due(run, schedule, now):
    rules = {r.policy_id: r for r in schedule.rules}
    condition = Schedule.delete_due(now)
    for rows, raced in _batches(run, schedule, condition, "deleting_policy", settings.LIFECYCLE_SWEEP_BATCH):
        failed = disposal.delete_bytes([row[:5] for row in rows])
        by_policy, errors = {}, []
        for pk, _interaction_id, key, *_rest, policy_id in rows:
            if key in failed:
                errors.append({"artifact": pk, "action": "delete", "error": failed[key]})
            else:
                by_policy.setdefault(policy_id, []).append(pk)
        _per_policy(run, rules, by_policy, disposal.tombstone, "delete", now)
        _add(run, deleted=len(rows) - len(errors), skipped_locked=raced, errors=errors)


def _archive_due(run, schedule, now):
    rules = {r.policy_id: r for r in schedule.rules}
    condition = Schedule.archive_due(now)
    for rows, raced in _batches(run, schedule, condition, "archiving_policy", settings.LIFECYCLE_ARCHIVE_BATCH):
        facts = {
            pk: (sha256, content_type)
            for pk, sha256, content_type in Artifact.objects.filter(id__in=[r[0] for r in rows]).values_list(
                "id", "sha256", "content_type"
            )
        }
        copied, copy_errors = disposal.copy_to_archive(
            [(pk, key, version, *facts[pk]) for pk, _iid, key, version, _state, _policy in rows]
        )
        # Sources go only once their copy is verified; a bad copy keeps the source.
        failed = disposal.delete_bytes([row[:5] for row in rows if row[0] in copied], storage="active")
        errors = [{"artifact": pk, "action": "archive", "error": message} for pk, message in copy_errors.items()]
        by_policy = {}
        for pk, _iid, key, *_rest, policy_id in rows:
            if pk not in copied:
                continue
            if key in failed:
                errors.append({"artifact": pk, "action": "archive", "error": f"Source not removed: {failed[key]}"})
                continue
            by_policy.setdefault(policy_id, {})[pk] = copied[pk]
        _per_policy(run, rules, by_policy, disposal.mark_archived, "archive", now)
        _add(run, archived=sum(len(m) for m in by_policy.values()), skipped_locked=raced, errors=errors)


def _per_policy(run, rules, by_policy, apply, action, now):
    """``apply`` (tombstone or mark archived) each policy's share of a batch, with that policy as
    the actor and its rule as the reason."""
    for policy_id, artifacts in by_policy.items():
        rule = rules[policy_id]
        days = rule.delete_after_days if action == "delete" else rule.archive_after_days
        apply(
            artifacts,
            tenant_id=run.tenant_id,
            actor=policy_actor(rule),
            reason=f"Lifecycle policy “{rule.name}”: {action} after {days} days",
            now=now,
        )


def _add(run, *, deleted=0, archived=0, skipped_locked=0, errors=()):
    """Add a batch's counts to the run row, in the batch's transaction (exact after a crash)."""
    changes = {
        "deleted": F("deleted") + deleted,
        "archived": F("archived") + archived,
        "skipped_locked": F("skipped_locked") + skipped_locked,
        "errors": F("errors") + len(errors),
    }
    if errors:
        for error in errors:
            log.warning("sweep %s: %s of artifact %s failed: %s", run.pk, error["action"], error["artifact"], error)
        room = MAX_ERROR_DETAILS - len(run.error_details)
        if room > 0:
            run.error_details = [*run.error_details, *errors[:room]]
            changes["error_details"] = run.error_details
    SweepRun.objects.filter(pk=run.pk).update(**changes)


def _record_lapsed_locks(run, now):
    """Audit each lock whose expiry passed (once), and clear the S3 holds nothing holds any more."""
    lapsed = Lock.objects.filter(
        tenant_id=run.tenant_id, released_at__isnull=True, expires_at__lte=now, expiry_recorded_at__isnull=True
    )
    while True:
        with transaction.atomic():
            ids = list(lapsed.order_by("id").select_for_update().values_list("id", flat=True)[:1000])
            if not ids:
                return
            Lock.objects.filter(id__in=ids).update(expiry_recorded_at=now)
            audit.record_rows(
                Lock.objects.filter(id__in=ids).values(
                    interaction_guid=F("interaction__guid"),
                    artifact_id=Cast(Value(None), BigIntegerField()),
                    details=JSONObject(
                        lock="id",
                        artifact_type="artifact_type",
                        audio_recording_type="audio_recording_type",
                        expires_at="expires_at",
                    ),
                ),
                run.tenant_id,
                AuditEvent.Kind.LOCK_EXPIRED,
                SWEEP_ACTOR,
                reason="Lock expiry date passed",
            )
            SweepRun.objects.filter(pk=run.pk).update(locks_expired=F("locks_expired") + len(ids))
        interactions = Lock.objects.filter(id__in=ids).values("interaction_id")
        holds.sync_legal_holds(Artifact.objects.filter(interaction_id__in=interactions))


def _count_locked(run, schedule, now):
    """How many due artifacts locks keep this run (a count as of the run's start)."""
    due = Schedule.delete_due(now) | Schedule.archive_due(now)
    count = _due(schedule, run.tenant_id, due).filter(active_lock_exists(now)).count()
    SweepRun.objects.filter(pk=run.pk).update(skipped_locked=count)


def _finish(run):
    with transaction.atomic():
        run = SweepRun.objects.select_for_update().get(pk=run.pk)
        run.finished_at = timezone.now()
        if run.errors:
            run.status = Status.ERROR
            run.error_message = (
                f"{run.errors} artifact(s) could not be deleted or archived (see the details); "
                "they stay where they are and are tried again at the next run."
            )
            kind = AuditEvent.Kind.SWEEP_FAILED
        else:
            run.status, run.error_message, kind = Status.COMPLETE, "", AuditEvent.Kind.SWEEP_FINISHED
        run.save(update_fields=["finished_at", "status", "error_message"])
        audit.record(
            run.tenant_id,
            kind,
            SWEEP_ACTOR,
            reason=run.error_message or f"Sweep {run.pk}",
            sweep=run.pk,
            deleted=run.deleted,
            archived=run.archived,
            skipped_locked=run.skipped_locked,
            locks_expired=run.locks_expired,
            errors=run.errors,
        )


def fail_sweep(run_id, exc):
    """Record a crash or storage failure: the run goes to Error; the schedule resumes it."""
    with transaction.atomic():
        run = SweepRun.objects.select_for_update().get(pk=run_id)
        if run.status not in (Status.QUEUED, Status.RUNNING):
            return
        _mark_error(run, f"{type(exc).__name__}: {exc}"[:2000])


def _mark_error(run, message):
    run.status, run.finished_at, run.error_message = Status.ERROR, timezone.now(), message
    run.save(update_fields=["status", "finished_at", "error_message"])
    audit.record(run.tenant_id, AuditEvent.Kind.SWEEP_FAILED, SWEEP_ACTOR, reason=message, sweep=run.pk)


def reap_lost_sweeps(_pk=None):
    """Turn Running sweeps whose worker died into Error (every minute, from ``config/schedule.py``)."""
    reaped = []
    for run_id, tenant_id in SweepRun.objects.filter(status=Status.RUNNING).values_list("id", "tenant_id"):
        with jobs.slot(SWEEP_NAMESPACE, tenant_id) as free:
            if not free:
                continue
            with transaction.atomic():
                run = SweepRun.objects.select_for_update().get(pk=run_id)
                if run.status == Status.RUNNING:
                    _mark_error(run, WORKER_LOST)
                    reaped.append(run_id)
    if reaped:
        log.warning("reaped lost sweeps: %s", reaped)
    return reaped


# --- the daily schedule -------------------------------------------------------------------------
def sweep_day(tenant, now):
    """The tenant-local day whose scheduled run should exist at ``now``."""
    local = timezone.localtime(now, zoneinfo.ZoneInfo(tenant.time_zone))
    day = local.date()
    return day if local.hour >= settings.LIFECYCLE_SWEEP_HOUR else day - timedelta(days=1)


def schedule_daily_sweeps(_pk=None, now=None):
    """Make sure every tenant has its scheduled run for today (or yesterday before the sweep
    hour), enqueue new ones, and resume failed or stuck ones. Idempotent; runs hourly."""
    now = now or timezone.now()
    stuck_before = now - timedelta(hours=1)
    enqueued = []
    for tenant in Tenant.objects.only("id", "time_zone"):
        day = sweep_day(tenant, now)
        with transaction.atomic():
            run, created = SweepRun.objects.select_for_update().get_or_create(
                tenant=tenant,
                trigger=SweepRun.Trigger.SCHEDULE,
                scheduled_for=day,
                defaults={"created_by": SCHEDULE_ACTOR.label},
            )
            retry = run.status == Status.ERROR and run.attempts < settings.LIFECYCLE_SWEEP_ATTEMPTS
            stuck = run.status == Status.QUEUED and run.created_at < stuck_before
            if not (created or retry or stuck):
                continue
            if retry:
                run.status = Status.QUEUED
                run.save(update_fields=["status"])
            enqueue_sweep(run)
            enqueued.append(run.pk)
    return enqueued
