"""State changes of Artifacts Lifecycle Policies, the impact preview, and starting sweeps.

Views, the admin, commands and jobs call these only. Each change runs in one transaction and
writes its audit event; every change (create, edit, enable, disable, delete) can be previewed
first with :func:`preview`, which runs the same SQL the sweep selects with.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.forms.models import model_to_dict
from django.utils import timezone

from accounts import audit
from accounts.models import AuditEvent, Tenant
from accounts.permissions import MANAGE_LIFECYCLE_POLICIES
from artifacts.models import Artifact, Lock, active_lock_exists
from config import jobs
from core.vocabulary import PRESENT_STATES, ArtifactType, Direction, Origin

from .models import LifecyclePolicy, PolicyChange, SweepRun
from .retention import Schedule, rules_for

#: Longest number of days a policy may name (100 years).
MAX_DAYS = 36_500
POLICY_FIELDS = (
    "name",
    "enabled",
    "artifact_type",
    "audio_recording_type",
    "channel",
    "direction",
    "origin",
    "archive_after_days",
    "delete_after_days",
    "keep_forever",
    "require_export",
)
SELECTORS = ("artifact_type", "audio_recording_type", "channel", "direction", "origin")

#: The schedule every new tenant starts with (editable like any other).
DEFAULT_POLICIES = (
    {
        "name": "Outbound dialer recordings",
        "artifact_type": ArtifactType.AUDIO_RECORDING,
        "direction": Direction.OUTBOUND,
        "origin": Origin.DIALER,
        "delete_after_days": 30,
    },
    {"name": "Everything else", "is_default": True, "delete_after_days": 365},
)


def _require(actor, tenant_id):
    actor.require(tenant_id, MANAGE_LIFECYCLE_POLICIES, doing="manage Artifacts Lifecycle Policies")


def validate_policy(policy):
    """Raise a ``ValidationError`` naming each field that is wrong; the one validator of policies."""
    errors = {}
    policy.name = (policy.name or "").strip()
    if not policy.name:
        errors["name"] = "Enter a name."
    elif (
        LifecyclePolicy.objects.filter(tenant_id=policy.tenant_id, name__iexact=policy.name)
        .exclude(pk=policy.pk)
        .exists()
    ):
        errors["name"] = f"A policy named “{policy.name}” exists already."
    for field in ("archive_after_days", "delete_after_days"):
        days = getattr(policy, field)
        if days is not None and not 1 <= days <= MAX_DAYS:
            errors[field] = f"Enter a number of days from 1 to {MAX_DAYS}."
    if policy.keep_forever and policy.delete_after_days is not None:
        errors["delete_after_days"] = "A policy that keeps forever cannot also delete: clear one of the two."
    elif policy.archive_after_days is None and policy.delete_after_days is None and not policy.keep_forever:
        errors["delete_after_days"] = "Choose what happens: archive after, delete after, or keep forever."
    elif (
        "delete_after_days" not in errors
        and "archive_after_days" not in errors
        and policy.archive_after_days is not None
        and policy.delete_after_days is not None
        and policy.delete_after_days <= policy.archive_after_days
    ):
        errors["delete_after_days"] = f"must be more days than Archive After ({policy.archive_after_days})."
    if policy.audio_recording_type and policy.artifact_type != ArtifactType.AUDIO_RECORDING:
        errors["audio_recording_type"] = "only applies to the Artifact Type Audio Recording; choose Any."
    if policy.is_default and any(getattr(policy, f) for f in SELECTORS):
        errors["artifact_type"] = (
            "The default policy applies to everything no other policy decides: it has no selectors."
        )
    try:
        policy.full_clean(exclude=["tenant", *errors], validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, " ".join(messages))
    if errors:
        raise ValidationError(errors)


def _snapshot(policy):
    return model_to_dict(policy, fields=POLICY_FIELDS)


def _audit(policy, kind, actor, **details):
    audit.record(policy.tenant_id, kind, actor, reason=policy.name, policy=policy.pk, **details)


def build_policy(tenant_id, policy_id=None, **fields):
    """An unsaved policy with ``fields`` applied (a new one, or a copy of ``policy_id``'s row)."""
    policy = LifecyclePolicy(tenant_id=tenant_id) if policy_id is None else _policy_of_tenant(policy_id, tenant_id)
    return _apply(policy, fields)


def _policy(policy_id, *, lock=False):
    qs = LifecyclePolicy.objects.select_for_update(no_key=True) if lock else LifecyclePolicy.objects
    try:
        return qs.get(pk=policy_id)
    except (LifecyclePolicy.DoesNotExist, ValueError, TypeError):
        raise ValidationError("No such lifecycle policy.") from None


def _apply(policy, fields):
    for name, value in fields.items():
        if name not in POLICY_FIELDS:
            raise ValidationError({name: "Unknown field."})
        setattr(policy, name, value)
    return policy


def _policy_of_tenant(policy_id, tenant_id, *, lock=False):
    qs = LifecyclePolicy.objects.filter(tenant_id=tenant_id)
    if lock:
        qs = qs.select_for_update(no_key=True)
    try:
        return qs.get(pk=policy_id)
    except (LifecyclePolicy.DoesNotExist, ValueError, TypeError):
        raise ValidationError("No such lifecycle policy in this tenant.") from None


@transaction.atomic
def create_policy(tenant_id, actor, **fields):
    """Create a policy; returns it. Raises ``ValidationError`` naming the fields at fault, or saying
    that the change needs a second person's approval (:func:`submit_policy_change`)."""
    _require(actor, tenant_id)
    policy = build_policy(tenant_id, **fields)
    validate_policy(policy)
    _refuse_unapproved(tenant_id, change=policy)
    return _create(policy, actor)


def _create(policy, actor, **details):
    policy.updated_by = actor.label
    policy.save()
    _audit(policy, AuditEvent.Kind.POLICY_CREATED, actor, policy_fields=_snapshot(policy), **details)
    return policy


@transaction.atomic
def update_policy(policy_id, actor, **fields):
    """Change a policy's fields (including enabling / disabling it); returns it. Refused like
    :func:`create_policy` when the change needs approval."""
    policy = _policy(policy_id, lock=True)
    _require(actor, policy.tenant_id)
    return _update(policy, actor, fields, check_approval=True)


def _update(policy, actor, fields, *, check_approval, **details):
    before = _snapshot(policy)
    validate_policy(_apply(policy, fields))
    after = _snapshot(policy)
    if after == before:
        return policy
    if check_approval:
        _refuse_unapproved(policy.tenant_id, change=policy)
    policy.updated_by = actor.label
    policy.save()
    changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    _audit(policy, AuditEvent.Kind.POLICY_CHANGED, actor, changed=changed, **details)
    return policy


@transaction.atomic
def delete_policy(policy_id, actor):
    """Delete a policy (the default policy can be edited or disabled, not deleted). Refused like
    :func:`create_policy` when the deletion needs approval."""
    policy = _policy(policy_id, lock=True)
    _require(actor, policy.tenant_id)
    _check_deletable(policy)
    _refuse_unapproved(policy.tenant_id, remove=policy.pk)
    _delete(policy, actor)


def _check_deletable(policy):
    if policy.is_default:
        raise ValidationError("The default policy cannot be deleted; disable it or change its action instead.")


def _delete(policy, actor, **details):
    _audit(policy, AuditEvent.Kind.POLICY_DELETED, actor, policy_fields=_snapshot(policy), **details)
    policy.delete()


# --- two-person approval of policy changes that delete ----------------------------------------------
def would_delete(tenant_id, *, change=None, remove=None):
    """How many artifacts a change would delete now (0 when the tenant does not require approval of
    policy changes, so the preview's query runs only where it matters)."""
    if not Tenant.objects.filter(pk=tenant_id, require_policy_approval=True).exists():
        return 0
    return preview(tenant_id, change=change, remove=remove)["delete"]


def _refuse_unapproved(tenant_id, **change):
    count = would_delete(tenant_id, **change)
    if count:
        raise ValidationError(
            f"This change would delete {count:,} artifact(s) now; this tenant requires a second person's approval "
            "of such policy changes. Submit it from the policies page: it waits there for approval."
        )


@transaction.atomic
def submit_policy_change(tenant_id, actor, action, *, policy_id=None, **fields):
    """Apply a policy change (``action``: create, update or delete), or — where the tenant requires
    approval and the change would delete artifacts now — save it as a :class:`PolicyChange` awaiting
    a second person. Returns ``(policy or None, pending change or None)``; ``ValidationError`` for
    bad fields, as the direct services."""
    _require(actor, tenant_id)
    Action = PolicyChange.Action
    if action == Action.DELETE:
        policy = _policy_of_tenant(policy_id, tenant_id, lock=True)
        _check_deletable(policy)
        count = would_delete(tenant_id, remove=policy.pk)
    else:
        policy = build_policy(tenant_id, policy_id, **fields)
        validate_policy(policy)
        count = would_delete(tenant_id, change=policy)
    if not count:
        if action == Action.CREATE:
            return _create(policy, actor), None
        if action == Action.UPDATE:
            return _update(
                _policy_of_tenant(policy_id, tenant_id, lock=True), actor, fields, check_approval=False
            ), None
        _delete(policy, actor)
        return None, None
    who = actor.audit_columns()
    change = PolicyChange.objects.create(
        tenant_id=tenant_id,
        policy_id=policy_id if action != Action.CREATE else None,
        policy_name=policy.name,
        action=action,
        fields=fields,
        would_delete=count,
        created_by_user_id=who["actor_user_id"],
        created_by=who["actor_label"],
    )
    audit.record(
        tenant_id,
        AuditEvent.Kind.POLICY_CHANGE_PROPOSED,
        actor,
        reason=f"{change.get_action_display()} “{policy.name}”: would delete {count:,} artifact(s) now",
        change=change.pk,
        policy=change.policy_id,
        action=action,
        fields=fields,
        would_delete=count,
    )
    return None, change


def _decide(change_id, actor, verb):
    """The pending change, row-locked, after checking that ``actor`` may decide it: a person who may
    manage policies and did not propose it."""
    change = PolicyChange.objects.select_for_update(no_key=True).get(pk=change_id)
    actor.require(change.tenant_id, MANAGE_LIFECYCLE_POLICIES, doing=f"{verb} policy changes")
    if actor.kind != "user" or actor.user is None:
        raise PermissionDenied(f"{actor.label} may not {verb} policy changes: approval is given by a person.")
    if change.created_by_user_id == actor.user.pk:
        raise PermissionDenied(
            f"{actor.label} may not {verb} this policy change: they proposed it. A second user who may manage "
            "lifecycle policies must decide it (two-person approval)."
        )
    if change.status != PolicyChange.Status.PENDING:
        raise ValidationError(f"This policy change is {change.get_status_display()} already.")
    who = actor.audit_columns()
    change.decided_at, change.decided_by_user_id, change.decided_by = (
        timezone.now(),
        who["actor_user_id"],
        who["actor_label"],
    )
    return change


@transaction.atomic
def approve_policy_change(change_id, actor):
    """Apply a pending policy change as it was proposed (validated again), in the approver's name with
    the proposer recorded; audited ``policy_change_approved`` and the change's own event."""
    change = _decide(change_id, actor, "approve")
    details = {"proposed_by": change.created_by, "change": change.pk}
    Action = PolicyChange.Action
    if change.action == Action.CREATE:
        policy = _create(build_policy(change.tenant_id, **change.fields), actor, **details)
    else:
        if change.policy_id is None:
            raise ValidationError("The policy of this change was deleted meanwhile; reject the change.")
        policy = _policy_of_tenant(change.policy_id, change.tenant_id, lock=True)
        if change.action == Action.DELETE:
            _check_deletable(policy)
            _delete(policy, actor, **details)
            policy = None
        else:
            policy = _update(policy, actor, dict(change.fields), check_approval=False, **details)
    change.status = PolicyChange.Status.APPROVED
    change.policy = policy  # the created or changed policy; none once deleted (its name stays)
    change.save()
    audit.record(
        change.tenant_id,
        AuditEvent.Kind.POLICY_CHANGE_APPROVED,
        actor,
        reason=f"{change.get_action_display()} “{change.policy_name}” proposed by {change.created_by}",
        change=change.pk,
    )
    return change


@transaction.atomic
def reject_policy_change(change_id, actor, reason):
    """Reject a pending policy change with a required ``reason``; nothing changes. Audited."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Reason: say why the change is rejected (required)."})
    change = _decide(change_id, actor, "reject")
    change.status, change.rejection_reason = PolicyChange.Status.REJECTED, reason[:1000]
    change.save()
    audit.record(
        change.tenant_id,
        AuditEvent.Kind.POLICY_CHANGE_REJECTED,
        actor,
        reason=change.rejection_reason,
        change=change.pk,
    )
    return change


def give_default_policies(sender, tenant, actor, **kwargs):
    """Receiver of ``accounts.signals.tenant_created``: the new tenant's default policies."""
    create_default_policies(tenant.pk, actor)


def create_default_policies(tenant_id, actor):
    """Give a new tenant the default schedule: outbound dialer recordings 30 days, the rest 365.

    Runs when a tenant is created (``accounts.signals.tenant_created``), as the tenant's creator.
    """
    _require(actor, tenant_id)
    for fields in DEFAULT_POLICIES:
        fields = dict(fields)
        is_default = fields.pop("is_default", False)
        policy = LifecyclePolicy(tenant_id=tenant_id, is_default=is_default, **fields)
        validate_policy(policy)
        policy.updated_by = actor.label
        policy.save()
        _audit(policy, AuditEvent.Kind.POLICY_CREATED, actor, policy_fields=_snapshot(policy))


# --- what the next sweep will do --------------------------------------------------------------
def _not_delete_due(now, prefix):
    """The exact complement of :meth:`Schedule.delete_due` (NULL dates are "not due")."""
    return (
        ~Q(state__in=PRESENT_STATES) | Q(**{f"{prefix}delete_on__isnull": True}) | Q(**{f"{prefix}delete_on__gt": now})
    )


def _not_archive_due(now, prefix):
    """The exact complement of :meth:`Schedule.archive_due`."""
    return (
        ~Q(state="stored")
        | Q(**{f"{prefix}archive_on__isnull": True})
        | Q(**{f"{prefix}archive_on__gt": now})
        | Q(**{f"{prefix}delete_on__lte": now})
    )


def preview(tenant_id, *, change=None, remove=None, now=None):
    """What the next sweep would do because of a change, and in all, in one query.

    ``change`` is an edited or new (unsaved) policy, ``remove`` the pk of a policy to delete.
    Returns ``{"delete", "archive", "locked"}`` for the artifacts the change makes due (the
    locked ones are kept), and ``{"total_delete", "total_archive", "total_locked"}`` for all.
    """
    now = now or timezone.now()
    before = Schedule(rules_for(tenant_id))
    after = Schedule(rules_for(tenant_id, change=change, remove=remove))
    qs = Artifact.objects.filter(tenant_id=tenant_id).present()
    qs = after.annotate(before.annotate(qs, "before_"), "after_").alias(is_locked=active_lock_exists(now))
    delete_now = Schedule.delete_due(now, "after_")
    archive_now = Schedule.archive_due(now, "after_")
    newly_deleted = delete_now & _not_delete_due(now, "before_")
    newly_archived = archive_now & _not_archive_due(now, "before_")
    unlocked, locked = Q(is_locked=False), Q(is_locked=True)
    return qs.aggregate(
        delete=Count("id", filter=newly_deleted & unlocked),
        archive=Count("id", filter=newly_archived & unlocked),
        locked=Count("id", filter=(newly_deleted | newly_archived) & locked),
        total_delete=Count("id", filter=delete_now & unlocked),
        total_archive=Count("id", filter=archive_now & unlocked),
        total_locked=Count("id", filter=(delete_now | archive_now) & locked),
    )


# --- sweeps ------------------------------------------------------------------------------------
def sweep_plan(tenant_id, now=None):
    """What a sweep of the tenant would do now: ``{"delete", "archive", "locked", "lapsed"}``
    (artifacts it would delete, move to the archive, keep because locked, and lock expiries it
    would record). The same numbers as ``apply_lifecycle_policies --dry-run`` and the page's
    confirmation: :func:`preview`'s totals, the sweep's own SQL."""
    now = now or timezone.now()
    plan = preview(tenant_id, now=now)
    lapsed = Lock.objects.filter(
        tenant_id=tenant_id, released_at__isnull=True, expires_at__lte=now, expiry_recorded_at__isnull=True
    ).count()
    return {
        "delete": plan["total_delete"],
        "archive": plan["total_archive"],
        "locked": plan["total_locked"],
        "lapsed": lapsed,
    }


@transaction.atomic
def start_sweep(tenant_id, actor, trigger, *, scheduled_for=None, enqueue=True, plan=False):
    """Create a sweep run of a tenant that acts for ``actor`` (who needs the manage permission)
    and, with ``enqueue``, send it to a worker after commit (the command runs it itself). With
    ``plan`` the run also keeps :func:`sweep_plan`'s numbers at its start, for its progress."""
    _require(actor, tenant_id)
    planned = sweep_plan(tenant_id) if plan else {}
    run = SweepRun.objects.create(
        tenant_id=tenant_id,
        trigger=trigger,
        scheduled_for=scheduled_for,
        created_by=actor.label,
        planned_delete=planned.get("delete"),
        planned_archive=planned.get("archive"),
        **actor.ref(),
    )
    audit.record(tenant_id, AuditEvent.Kind.SWEEP_STARTED, actor, reason=f"Sweep {run.pk}", sweep=run.pk)
    if enqueue:
        jobs.enqueue(run)
    return run


@transaction.atomic
def schedule_sweep(tenant_id, day, actor, *, stuck_before, attempts):
    """Make sure the tenant's scheduled run for ``day`` exists and is on its way; returns it when it
    was enqueued now: new, failed with fewer than ``attempts`` attempts, or Queued since before
    ``stuck_before``. Idempotent (one scheduled run per tenant and day)."""
    _require(actor, tenant_id)
    run, created = SweepRun.objects.select_for_update(no_key=True).get_or_create(
        tenant_id=tenant_id,
        trigger=SweepRun.Trigger.SCHEDULE,
        scheduled_for=day,
        defaults={"created_by": actor.label, **actor.ref()},
    )
    retry = run.status == SweepRun.Status.ERROR and run.attempts < attempts
    stuck = run.status == SweepRun.Status.QUEUED and run.created_at < stuck_before
    if not (created or retry or stuck):
        return None
    if created:
        audit.record(tenant_id, AuditEvent.Kind.SWEEP_STARTED, actor, reason=f"Sweep {run.pk}", sweep=run.pk)
    if retry or stuck:
        # Resumed by the schedule: the rest of the work acts for it.
        run.status = SweepRun.Status.QUEUED
        for name, value in actor.ref().items():
            setattr(run, name, value)
        run.save(update_fields=["status", *actor.ref()])
    jobs.enqueue(run)
    return run
