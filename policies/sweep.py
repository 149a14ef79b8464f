"""The retention sweep: apply a tenant's Artifacts Lifecycle Policies, batch by batch.

How it runs in production (see also ``config/schedule.py`` and the README):

- ``rqcron config.schedule`` enqueues :func:`schedule_daily_sweeps` every hour. For each tenant it
  makes sure a scheduled :class:`~policies.models.SweepRun` exists for the tenant-local day (from
  ``LIFECYCLE_SWEEP_HOUR`` on; before that hour, for the day before) and enqueues it. A day the
  scheduler missed (it was down) is caught up at its next start: the sweep works "as of now", so
  one run does everything that became due meanwhile. A run that failed is enqueued again (up to
  ``LIFECYCLE_SWEEP_ATTEMPTS`` times), one stuck in Queued for an hour too.
- A worker runs :func:`run_sweep` through :func:`config.jobs.run`, which claims the run row and
  holds the tenant's slot, so two sweeps of one tenant never overlap; :func:`config.jobs.reap`
  (every minute) turns an In Progress run whose worker died into Error, and the hourly scheduler
  then resumes it.
- ``manage.py apply_lifecycle_policies`` runs the same function in the operator's process.

Each batch: select up to ``LIFECYCLE_SWEEP_BATCH`` due, unlocked artifacts by id (keyset) and hand
each deciding policy's share to the one delete (or archive) path,
:func:`artifacts.services.delete_artifacts` — which locks the rows, re-checks "not locked" under
the row locks (a lock committed meanwhile wins) and commits its decision before deleting the bytes
(≤ 1,000 keys per S3 call), then writes tombstones and audit events with the policy as the actor —
and add the counts to the run row in the tombstones' transaction. The share of a policy with
*Export before deleting* is exported and verified first (:mod:`artifacts.export_gate`); what no
verified export holds is kept and counted as an error of the run (tried again at the next run).
Batches are pipelined: a batch's bytes go in a storage thread while the next batch is selected and
decided, and its tombstones follow that decision. A run killed at any point resumes where the data
says it is: nothing is deleted twice, no tombstone is missing, and deletions decided but not
finished (at most two batches) are finished and counted on the run by the resumed run itself, or
by the resume that runs every minute.
"""

import logging
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from accounts import audit
from accounts.actors import acting_for, system_actor
from accounts.models import AuditEvent, Tenant
from accounts.permissions import ARTIFACTS_MANAGEMENT_DELETE_REQUESTS, MANAGE_LIFECYCLE_POLICIES, VIEW_INTERACTIONS
from artifacts import disposal
from artifacts import services as artifact_services
from artifacts.models import Artifact, active_lock_exists
from config import jobs

from . import services
from .models import SweepRun
from .retention import Schedule

log = logging.getLogger(__name__)

Status = SweepRun.Status
#: What the sweep and the policies acting in it may do: apply policies, delete and archive content.
SWEEP_GRANTS = frozenset({MANAGE_LIFECYCLE_POLICIES, ARTIFACTS_MANAGEMENT_DELETE_REQUESTS, VIEW_INTERACTIONS})
SWEEP_ACTOR = system_actor("lifecycle-sweep", "Lifecycle sweep", SWEEP_GRANTS)
SCHEDULE_ACTOR = system_actor("lifecycle-schedule", "Daily schedule", SWEEP_GRANTS)
MAX_ERROR_DETAILS = 200
WORKER_LOST = "The worker running this sweep stopped (worker lost). The schedule resumes it within the hour."


def policy_actor(rule, tenant_id):
    """The actor of what a policy does: the policy itself, by name, on its own tenant only."""
    return system_actor(
        f"policy:{rule.policy_id}", f"Lifecycle policy “{rule.name}”", SWEEP_GRANTS, tenant_id=tenant_id, register=False
    )


# --- the job -----------------------------------------------------------------------------------
def run_sweep(run):
    """Run a claimed (In Progress) sweep of one tenant to Complete or Error (``config.jobs.run``).

    The run acts for whoever started it (the schedule, an operator's command, a user on the page),
    who must still hold the manage permission when it runs; what it deletes or moves is done by the
    deciding policy. Two sweeps of a tenant never overlap (the job kind's slot is the tenant).
    """
    actor = acting_for(run)
    actor.require(run.tenant_id, MANAGE_LIFECYCLE_POLICIES, doing="run the lifecycle sweep (nothing was done)")
    now = timezone.now()
    schedule = Schedule.for_tenant(run.tenant_id)
    _record_lapsed_locks(run, now)
    _count_locked(run, schedule, now)
    _delete_due(run, schedule, now)
    _archive_due(run, schedule, now)
    _finish(run)


def _due(schedule, tenant_id, condition):
    return schedule.annotate(Artifact.objects.filter(tenant_id=tenant_id)).filter(condition)


def _batches(run, schedule, condition, policy_field, size):
    """Yield ``{artifact id: deciding policy id}`` per batch of due, unlocked artifacts (keyset by
    id). The delete and archive paths lock the rows and re-check "not locked" themselves."""
    after = 0
    while True:
        candidates = dict(
            _due(schedule, run.tenant_id, condition)
            .filter(id__gt=after)
            .not_locked()
            .order_by("id")
            .values_list("id", policy_field)[:size]
        )
        if not candidates:
            return
        after = max(candidates)
        yield candidates
        jobs.beat(run)


def _count(run, action):
    """``then`` of the delete / archive path: add a batch's outcome to the run, in the
    transaction that records it (exact after a crash)."""

    def count(result):
        errors = [{"artifact": pk, "action": action, "error": message} for pk, message in result.failed.items()]
        why = f"not deleted, not exported: {result.export_error or 'no verified export holds it'}"
        errors += [{"artifact": pk, "action": "export before delete", "error": why} for pk in result.unexported]
        done = {"deleted" if action == "delete" else "archived": len(result.done)}
        _add(run, **done, skipped_locked=len(result.skipped_locked), errors=errors)

    return count


def _by_policy(rules, candidates, action):
    """``[(policy actor, reason, ids)]``: each deciding policy's share of a batch, with that policy
    as the actor and its rule as the reason (``rules``: ``{policy id: (rule, actor)}``); to delete,
    ``[(policy actor, reason, ids, needs export)]`` (the policy's Export Before Deleting)."""
    by_policy = {}
    for pk, policy_id in candidates.items():
        by_policy.setdefault(policy_id, []).append(pk)
    shares = []
    for policy_id, ids in by_policy.items():
        rule, actor = rules[policy_id]
        days = rule.delete_after_days if action == "delete" else rule.archive_after_days
        share = (actor, f"Lifecycle policy “{rule.name}”: {action} after {days} days", ids)
        shares.append((*share, rule.require_export) if action == "delete" else share)
    return shares


def _delete_due(run, schedule, now):
    """Delete the due, unlocked artifacts batch by batch: one pass of the delete path per batch
    for all the policies that decide in it."""
    rules = _with_actors(schedule, run.tenant_id)
    condition = Schedule.delete_due(now)
    job = f"{SweepRun.job_kind}:{run.pk}"
    # Pipelined: a batch's bytes go (in the storage thread) while the next batch is selected and
    # decided; its tombstones follow that decision. Each decision commits before its bytes go, so a
    # worker killed anywhere leaves at most two batches *being deleted*, which the resume finishes.
    _finish_own_decisions(run, job, now)
    finishing = None
    with disposal.storage_pipeline() as storage:
        for candidates in _batches(run, schedule, condition, "deleting_policy", settings.LIFECYCLE_SWEEP_BATCH):
            finish = artifact_services.begin_deleting_by_decider(
                run.tenant_id,
                _by_policy(rules, candidates, "delete"),
                job=job,
                now=now,
                then=_count(run, "delete"),
                storage=storage,
            )
            if finishing is not None:
                finishing()
            finishing = finish
        if finishing is not None:
            finishing()


def _finish_own_decisions(run, job, now):
    """A resumed run first finishes the deletions its killed attempt decided (up to two batches of
    the pipeline), counting them on itself (the periodic resume leaves an In Progress run's alone)."""
    own = Artifact.objects.deleting().filter(tenant_id=run.tenant_id, deletion_job=job)
    count = _count(run, "delete")
    after = 0
    while ids := list(own.filter(id__gt=after).order_by("id").values_list("id", flat=True)[: disposal.BATCH]):
        after = ids[-1]
        disposal.finish_deletions(
            ids,
            now=now,
            job=job,
            then=lambda done, refused: count(artifact_services.Disposal(done=done, failed=refused)),
        )


def _archive_due(run, schedule, now):
    rules = _with_actors(schedule, run.tenant_id)
    condition = Schedule.archive_due(now)
    for candidates in _batches(run, schedule, condition, "archiving_policy", settings.LIFECYCLE_ARCHIVE_BATCH):
        for actor, reason, ids in _by_policy(rules, candidates, "archive"):
            artifact_services.archive_artifacts(run.tenant_id, ids, actor, reason, now=now, then=_count(run, "archive"))


def _with_actors(schedule, tenant_id):
    """``{policy id: (rule, its policy's actor)}`` for the schedule (actors made once per sweep)."""
    return {rule.policy_id: (rule, policy_actor(rule, tenant_id)) for rule in schedule.rules}


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
    """Audit each lock whose expiry passed (once), counting them on the run in the same transaction."""
    artifact_services.record_lapsed_locks(
        run.tenant_id,
        SWEEP_ACTOR,
        now=now,
        then=lambda n: SweepRun.objects.filter(pk=run.pk).update(locks_expired=F("locks_expired") + n),
    )


def _count_locked(run, schedule, now):
    """How many due artifacts locks keep this run (a count as of the run's start)."""
    due = Schedule.delete_due(now) | Schedule.archive_due(now)
    count = _due(schedule, run.tenant_id, due).filter(active_lock_exists(now)).count()
    SweepRun.objects.filter(pk=run.pk).update(skipped_locked=count)


def _finish(run):
    run.refresh_from_db(fields=["errors"])
    message = (
        f"{run.errors} artifact(s) could not be deleted or archived (see the details); "
        "they stay where they are and are tried again at the next run."
    )

    def record_outcome(row):
        audit.record(
            row.tenant_id,
            AuditEvent.Kind.SWEEP_FAILED if row.errors else AuditEvent.Kind.SWEEP_FINISHED,
            SWEEP_ACTOR,
            reason=row.error_message or f"Sweep {row.pk}",
            sweep=row.pk,
            deleted=row.deleted,
            archived=row.archived,
            skipped_locked=row.skipped_locked,
            locks_expired=row.locks_expired,
            errors=row.errors,
        )

    if run.errors:
        jobs.finish(run, Status.ERROR, error_message=message, retryable=True, then=record_outcome)
    else:
        jobs.finish(run, Status.COMPLETE, then=record_outcome)


def count_finished_deletions(run_id, count):
    """Deletions this run decided and the resume finished after its worker died count on the run."""
    SweepRun.objects.filter(pk=run_id).update(deleted=F("deleted") + count)


def record_failure(run, message):
    """The audit event of a sweep that failed (crash, storage, lost grants, lost worker)."""
    audit.record(run.tenant_id, AuditEvent.Kind.SWEEP_FAILED, SWEEP_ACTOR, reason=message, sweep=run.pk)


# --- the daily schedule -------------------------------------------------------------------------
def sweep_day(tenant, now):
    """The tenant-local day whose scheduled run should exist at ``now``."""
    local = timezone.localtime(now, zoneinfo.ZoneInfo(tenant.time_zone))
    day = local.date()
    return day if local.hour >= settings.LIFECYCLE_SWEEP_HOUR else day - timedelta(days=1)


def schedule_daily_sweeps(now=None):
    """Make sure every tenant has its scheduled run for today (or yesterday before the sweep
    hour), enqueue new ones, and resume failed or stuck ones. Idempotent; runs hourly."""
    now = now or timezone.now()
    enqueued = []
    for tenant in Tenant.objects.only("id", "time_zone", "sweeps_start_on"):
        day = sweep_day(tenant, now)
        if tenant.sweeps_start_on and day < tenant.sweeps_start_on:
            continue  # e.g. demo data just loaded: nobody has looked at it yet
        run = services.schedule_sweep(
            tenant.pk,
            day,
            SCHEDULE_ACTOR,
            stuck_before=now - timedelta(hours=1),
            attempts=settings.LIFECYCLE_SWEEP_ATTEMPTS,
        )
        if run is not None:
            enqueued.append(run.pk)
    return enqueued
