"""State changes of legal matters (named holds): create, edit, release, close.

A matter groups the locks that Add Lock requests naming it created. Releasing it (or closing it,
which releases it) is a Remove Lock request for exactly its locks, through the one request service
(validator, permissions, two-person approval where the tenant requires it, the worker, the audit
trail): locks of other matters, or of no matter, on the same content stay. Matters are never
deleted. Who may: the lock permissions — creating and editing a matter needs what an Add Lock needs,
releasing and closing what a Remove Lock needs.
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import AuditEvent, Membership, Tenant
from core.vocabulary import ALL

from .models import Lock, ManagementRequest, Matter
from .services import create_management_request
from .validation import required_permissions

RequestType = ManagementRequest.RequestType
#: The most interactions one release request holds (its rows count them in small integers).
MAX_RELEASE_INTERACTIONS = 32_000
#: What each field of a matter may hold, and how the form names it.
LIMITS = {"case_id": ("Case Id", 100), "name": ("Name", 200), "reason": ("Reason", 5000)}
EDITABLE = ("name", "reason", "owner_id", "review_on")


def _clean(tenant, errors, *, case_id=None, name, reason, owner_id, review_on):
    """The matter's values, stripped and checked; problems go to ``errors`` keyed by field."""
    values = {"name": (name or "").strip(), "reason": (reason or "").strip()}
    if case_id is not None:
        values["case_id"] = (case_id or "").strip()
    for field, value in values.items():
        label, most = LIMITS[field]
        allowed = "\n\r\t" if field == "reason" else ""
        if not value:
            errors[field] = f"{label}: required."
        elif any((ord(c) < 32 and c not in allowed) or ord(c) == 127 for c in value):
            errors[field] = f"{label}: contains control characters (such as NUL); remove them."
        elif len(value) > most:
            errors[field] = f"{label}: at most {most:,} characters ({len(value):,} entered)."
    owner = None
    if owner_id in (None, ""):
        errors["owner"] = "Owner: choose the member of the tenant responsible for this matter."
    else:
        owner = (
            Membership.objects.filter(tenant=tenant, user_id=owner_id, user__is_active=True)
            .values_list("user_id", flat=True)
            .first()
            if str(owner_id).isdigit()
            else None
        )
        if owner is None:
            errors["owner"] = f"Owner: not an active member of {tenant.name}."
    if review_on is not None and not isinstance(review_on, dt.date):
        errors["review_on"] = "Review Date: enter a date as YYYY-MM-DD."
    values.update(owner_id=owner, review_on=review_on)
    return values


@transaction.atomic
def create_matter(tenant_id, actor, *, case_id, name, reason, owner_id, review_on=None):
    """Create an open legal matter; the case id is unique per tenant. ``ValidationError`` keyed by
    field (nothing saved) for bad input; audited ``matter_created``."""
    tenant = Tenant.objects.get(pk=tenant_id)
    actor.require(tenant, *required_permissions(RequestType.ADD_LOCK), doing="create legal matters")
    errors = {}
    values = _clean(tenant, errors, case_id=case_id, name=name, reason=reason, owner_id=owner_id, review_on=review_on)
    if "case_id" not in errors and Matter.objects.filter(tenant=tenant, case_id=values["case_id"]).exists():
        errors["case_id"] = f"Case Id: {tenant.name} already has a matter {values['case_id']}; case ids are unique."
    if errors:
        raise ValidationError(errors)
    who = actor.audit_columns()
    matter = Matter.objects.create(
        tenant=tenant, created_by_user_id=who["actor_user_id"], created_by=who["actor_label"], **values
    )
    audit.record(
        tenant.pk,
        AuditEvent.Kind.MATTER_CREATED,
        actor,
        reason=matter.reason,
        matter=matter.pk,
        case_id=matter.case_id,
        name=matter.name,
        owner=matter.owner.get_username(),
        review_on=matter.review_on.isoformat() if matter.review_on else None,
    )
    return matter


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


@transaction.atomic
def update_matter(matter_id, actor, **fields):
    """Change an open matter's name, reason, owner or review date (the case id stays). Audited
    ``matter_changed`` with each change's before and after; nothing saved on a refusal."""
    matter = Matter.objects.select_for_update(no_key=True, of=("self",)).select_related("tenant").get(pk=matter_id)
    actor.require(matter.tenant_id, *required_permissions(RequestType.ADD_LOCK), doing="edit legal matters")
    if not matter.is_open:
        raise ValidationError(f"Matter {matter.case_id} is closed; a closed matter is kept as it was.")
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "This field of a matter cannot be changed."})
    current = {field: getattr(matter, field) for field in EDITABLE}
    errors = {}
    values = _clean(matter.tenant, errors, **{**current, **fields})
    if errors:
        raise ValidationError(errors)
    changed = {
        field: [_plain(current[field]), _plain(values[field])] for field in EDITABLE if current[field] != values[field]
    }
    if changed:
        for field in changed:
            setattr(matter, field, values[field])
        matter.save(update_fields=[field.removesuffix("_id") for field in changed])
        audit.record(
            matter.tenant_id,
            AuditEvent.Kind.MATTER_CHANGED,
            actor,
            reason=matter.case_id,
            matter=matter.pk,
            changed=changed,
        )
    return matter


def held_interaction_guids(matter_id, now=None):
    """The GUIDs of the interactions under an active lock of the matter, in a stable order."""
    return [
        str(guid)
        for guid in Lock.objects.active(now)
        .filter(matter_id=matter_id)
        .order_by("interaction_id")
        .values_list("interaction__guid", flat=True)
        .distinct()
    ]


def _release_request(matter, actor, *, confirmed, why):
    """The Remove Lock request (for *All* types: every lock of the matter, Script and Voicemail too)
    of the matter's held interactions, or None when nothing of it is held any more."""
    guids = held_interaction_guids(matter.pk)
    if not guids:
        return None
    if len(guids) > MAX_RELEASE_INTERACTIONS:
        raise ValidationError(
            f"Matter {matter.case_id} holds {len(guids):,} interactions; one release handles at most "
            f"{MAX_RELEASE_INTERACTIONS:,}. Release it with Remove Lock requests naming the matter."
        )
    return create_management_request(
        matter.tenant_id,
        actor,
        request_type=RequestType.REMOVE_LOCK,
        artifact_type=ALL,
        interaction_ids=",".join(guids),
        description=f"{why} of legal matter {matter.case_id} · {matter.name}"[:500],
        confirmed=confirmed,
        matter=matter,
        max_ids=MAX_RELEASE_INTERACTIONS,
    )


@transaction.atomic
def release_matter(matter_id, actor, *, confirmed):
    """Release every active lock of the matter: one Remove Lock request naming it (only its locks go;
    with two-person approval it waits for a second person). Returns the request, or None when the
    matter holds nothing. ``confirmed``: the Remove Lock confirmation was ticked."""
    matter = Matter.objects.select_for_update(no_key=True).get(pk=matter_id)
    return _release_request(matter, actor, confirmed=confirmed, why="Release")


@transaction.atomic
def close_matter(matter_id, actor, *, confirmed):
    """Close the matter (it takes no new locks, and is kept) and release its locks through a Remove
    Lock request (see :func:`release_matter`). Audited ``matter_closed`` naming that request.
    Returns ``(matter, request or None)``."""
    matter = Matter.objects.select_for_update(no_key=True).get(pk=matter_id)
    actor.require(matter.tenant_id, *required_permissions(RequestType.REMOVE_LOCK), doing="close legal matters")
    if not matter.is_open:
        raise ValidationError(f"Matter {matter.case_id} is closed already.")
    req = _release_request(matter, actor, confirmed=confirmed, why="Closing")
    if req is None and not confirmed:
        raise ValidationError({"confirmed": "Confirmation: tick the box to confirm closing the matter."})
    who = actor.audit_columns()
    matter.status, matter.closed_at = Matter.Status.CLOSED, timezone.now()
    matter.closed_by_user_id, matter.closed_by = who["actor_user_id"], who["actor_label"]
    matter.save(update_fields=["status", "closed_at", "closed_by_user", "closed_by"])
    audit.record(
        matter.tenant_id,
        AuditEvent.Kind.MATTER_CLOSED,
        actor,
        request_id=getattr(req, "pk", None),
        reason=f"{matter.case_id} · {matter.name}",
        matter=matter.pk,
        release_request=getattr(req, "pk", None),
    )
    return matter, req
