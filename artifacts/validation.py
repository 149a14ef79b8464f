"""The one validator of Artifacts Management Requests, shared by the form, the command and the API.

It takes raw values (strings, booleans, a date) and either returns a :class:`ValidRequest` or
raises ``ValidationError`` keyed by the form's field names, each message naming the field and
the problem. Permission rules raise ``PermissionDenied`` (a 403 in the browser).
"""

import datetime as dt
import re
import uuid
import zoneinfo
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.permissions import (
    ARTIFACTS_MANAGEMENT_DELETE_REQUESTS,
    ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS,
    ARTIFACTS_MANAGEMENT_REQUESTS_CREATE,
)
from core.sql import AnyOf
from core.vocabulary import ARTIFACT_TYPE_SELECTION_CHOICES, ArtifactType, AudioRecordingType
from interactions.models import Interaction

from .models import Lock, ManagementRequest, Matter

RequestType = ManagementRequest.RequestType
MAX_INTERACTION_IDS = 200
#: How far ahead a lock may expire. Far enough for any legal hold (a hold with no end is a lock
#: without expiry), near enough that every date computation on it stays in range: 9999-12-31 has no
#: "next day" and used to answer a 500.
MAX_LOCK_YEARS = 100

#: The confirmation each request type requires, in the words of the product's manual.
CONFIRMATIONS = {
    RequestType.ADD_LOCK: (
        "I understand that locked artifacts cannot be moved or deleted, are exempt from Artifacts "
        "Lifecycle Policies, and are subject to data storage usage costs."
    ),
    RequestType.REMOVE_LOCK: (
        "I understand that unlocked artifacts may be deleted by an Artifacts Lifecycle Policy and "
        "cannot be retrieved once deleted."
    ),
    RequestType.DELETE: "I understand that deleted artifacts cannot be retrieved.",
}

SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class ValidRequest:
    """A request that passed every rule; ``interaction_ids`` are database ids in the given order."""

    request_type: str
    artifact_type: str
    audio_recording_type: str
    description: str
    interaction_ids: tuple
    lock_expires_on: dt.date | None
    lock_expires_at: dt.datetime | None
    remove_locks: bool
    confirmation: str
    matter_id: int | None = None
    require_export: bool = False


def required_permissions(request_type, remove_locks=False):
    """The permissions a user needs to save a request of this type (PRODUCT.md, Permissions)."""
    needed = {ARTIFACTS_MANAGEMENT_REQUESTS_CREATE}
    if request_type == RequestType.REMOVE_LOCK:
        needed.add(ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS)
    if request_type == RequestType.DELETE:
        needed.add(ARTIFACTS_MANAGEMENT_DELETE_REQUESTS)
        if remove_locks:
            needed.add(ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS)
    return needed


def allowed_request_types(perms):
    """The request types a holder of ``perms`` may save (what the form offers)."""
    return [t for t in RequestType if required_permissions(t) <= set(perms)]


def parse_interaction_ids(text, max_ids=MAX_INTERACTION_IDS):
    """Split on commas, whitespace and new lines; trim; de-duplicate (first wins); check each is a
    GUID and that there are at most 200. Returns the normalized GUID strings in order."""
    if isinstance(text, list | tuple):
        text = ",".join(str(t) for t in text)
    seen, ordered, malformed = set(), [], []
    for token in SEPARATORS.split(text or ""):
        if not token:
            continue
        try:
            guid = str(uuid.UUID(token))
        except ValueError:
            if token not in malformed:
                malformed.append(token)
            continue
        if guid not in seen:
            seen.add(guid)
            ordered.append(guid)
    errors = []
    if malformed:
        errors.append(
            f"Interaction Ids: not a valid interaction id: {', '.join(malformed[:20])}"
            + (f" and {len(malformed) - 20} more" if len(malformed) > 20 else "")
            + "."
        )
    if len(ordered) > max_ids:
        extra = ordered[max_ids:]
        errors.append(
            f"Interaction Ids: {len(ordered)} distinct ids entered; at most {max_ids} are allowed. "
            f"Remove {len(extra)}: {', '.join(extra[:10])}" + (" …" if len(extra) > 10 else "") + "."
        )
    if not ordered and not malformed:
        errors.append("Interaction Ids: enter at least one interaction id.")
    if errors:
        raise ValidationError({"interaction_ids": errors})
    return ordered


def latest_lock_expiry(today):
    """The last day a lock created ``today`` may expire on: :data:`MAX_LOCK_YEARS` years ahead."""
    try:
        return today.replace(year=today.year + MAX_LOCK_YEARS)
    except ValueError:  # 29 February, in a year that has none
        return today.replace(year=today.year + MAX_LOCK_YEARS, day=28)


def end_of_day(day, time_zone):
    """The first instant after ``day`` in ``time_zone``: a lock expiring on a day holds all of it."""
    tz = zoneinfo.ZoneInfo(time_zone)
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)


def _locked_interactions(tenant_id, now=None):
    return Lock.objects.active(now).filter(tenant_id=tenant_id)


def locked_interaction_count(tenant_id):
    """How many of the tenant's interactions an active lock holds (what its limit counts)."""
    return _locked_interactions(tenant_id).values("interaction_id").distinct().count()


def locked_interaction_count_expression(tenant_id, now=None):
    """:func:`locked_interaction_count` (at ``now``, default the current time) as a scalar subquery,
    to ride along in another statement (it does not depend on the outer row, so the database
    computes it once)."""
    counted = (
        _locked_interactions(tenant_id, now)
        .order_by()
        .values("tenant_id")
        .annotate(n=Count("interaction_id", distinct=True))
        .values("n")[:1]
    )
    return Coalesce(Subquery(counted), Value(0))


def check_locked_interactions_limit(tenant, interaction_ids):
    """Refuse when locking ``interaction_ids`` would pass the tenant's limit; names the limit."""
    wanted = set(interaction_ids)
    if not wanted:
        return
    # One statement: how many interactions are locked now, and how many of those are among these.
    counts = _locked_interactions(tenant.pk).aggregate(
        locked=Count("interaction_id", distinct=True),
        already=Count("interaction_id", distinct=True, filter=AnyOf("interaction_id", wanted)),
    )
    newly = len(wanted) - counts["already"]
    total = counts["locked"] + newly
    if newly and total > tenant.locked_interactions_limit:
        raise ValidationError(
            {
                "interaction_ids": (
                    f"Interaction Ids: this request would put {total:,} interactions under an active lock; "
                    f"the limit for {tenant.name} is {tenant.locked_interactions_limit:,} locked interactions."
                )
            }
        )


def validate_request(
    tenant,
    perms,
    *,
    request_type,
    artifact_type,
    interaction_ids,
    audio_recording_type="",
    description="",
    lock_expires=False,
    lock_expires_on=None,
    remove_locks=False,
    require_export=False,
    confirmed=False,
    matter="",
    max_ids=MAX_INTERACTION_IDS,
):
    """Check every rule of a new request for ``tenant`` by a holder of ``perms``.

    Raises ``PermissionDenied`` when the request type or option needs a permission the user does
    not hold, ``ValidationError`` (keyed by field) for bad input; nothing is saved by this function.
    """
    errors = {}
    if request_type not in RequestType.values:
        raise ValidationError({"request_type": "Request Type: choose Add Lock, Remove Lock or Delete."})
    remove_locks = bool(remove_locks) and request_type == RequestType.DELETE
    missing = required_permissions(request_type, remove_locks) - set(perms)
    if missing:
        raise PermissionDenied(
            f"You may not save a {RequestType(request_type).label} request"
            + (" with Remove Locks to Process Request" if remove_locks else "")
            + f": it needs {', '.join(sorted(m.upper() for m in missing))}."
        )

    artifact_type = artifact_type or ""
    audio_recording_type = audio_recording_type or ""
    if artifact_type not in dict(ARTIFACT_TYPE_SELECTION_CHOICES):
        errors["artifact_type"] = "Artifact Type: choose Any or one artifact type."
    elif artifact_type == ArtifactType.AUDIO_RECORDING:
        if audio_recording_type not in AudioRecordingType.values:
            errors["audio_recording_type"] = "Audio Recording Type: required when the Artifact Type is Audio Recording."
    elif audio_recording_type:
        errors["audio_recording_type"] = (
            "Audio Recording Type: only applies to the Artifact Type Audio Recording; leave it empty."
        )

    description = (description or "").strip()
    if len(description) > 500:
        errors["description"] = f"Description: at most 500 characters ({len(description)} entered)."

    expires_at = None
    if request_type == RequestType.ADD_LOCK and lock_expires:
        if not lock_expires_on:
            errors["lock_expires_on"] = "Lock Expires On: choose the date the lock expires."
        else:
            today = timezone.now().astimezone(zoneinfo.ZoneInfo(tenant.time_zone)).date()
            latest = latest_lock_expiry(today)
            if lock_expires_on <= today:
                errors["lock_expires_on"] = (
                    f"Lock Expires On: must be a future date (today is {today:%Y-%m-%d} in {tenant.time_zone})."
                )
            elif lock_expires_on > latest:
                errors["lock_expires_on"] = (
                    f"Lock Expires On: at most {MAX_LOCK_YEARS} years ahead (on or before {latest:%Y-%m-%d}); "
                    "a lock without an expiry date holds until it is removed."
                )
            else:
                expires_at = end_of_day(lock_expires_on, tenant.time_zone)
    elif (lock_expires or lock_expires_on) and request_type != RequestType.ADD_LOCK:
        errors["lock_expires"] = "Lock Expires: only applies to Add Lock requests."
    if require_export and request_type != RequestType.DELETE:
        errors["require_export"] = "Export Before Deleting: only applies to Delete requests."

    matter_id = _check_matter(tenant, request_type, matter, errors)

    if not confirmed:
        errors["confirmed"] = f"Confirmation: tick the box to confirm — {CONFIRMATIONS[request_type]}"

    guid_to_pk = {}
    try:
        guids = parse_interaction_ids(interaction_ids, max_ids)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    else:
        guid_to_pk = {
            str(guid): pk
            for guid, pk in Interaction.objects.filter(tenant=tenant, guid__in=guids).values_list("guid", "pk")
        }
        unknown = [g for g in guids if g not in guid_to_pk]
        if unknown:
            errors["interaction_ids"] = (
                f"Interaction Ids: not an interaction of {tenant.name}: {', '.join(unknown[:20])}"
                + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else "")
                + "."
            )
    if errors:
        raise ValidationError(errors)

    pks = tuple(guid_to_pk[g] for g in guids)
    if request_type == RequestType.ADD_LOCK:
        check_locked_interactions_limit(tenant, pks)
    return ValidRequest(
        request_type=request_type,
        artifact_type=artifact_type,
        audio_recording_type=audio_recording_type if artifact_type == ArtifactType.AUDIO_RECORDING else "",
        description=description,
        interaction_ids=pks,
        lock_expires_on=lock_expires_on if expires_at else None,
        lock_expires_at=expires_at,
        remove_locks=remove_locks,
        confirmation=CONFIRMATIONS[request_type],
        matter_id=matter_id,
        require_export=bool(require_export),
    )


def _check_matter(tenant, request_type, matter, errors):
    """The id of the matter (by case id, or a :class:`Matter`) a request names, or None; problems go
    to ``errors["matter"]``. Add Lock may name an open matter (required by the tenant setting
    ``matter_required_for_locks``); Remove Lock may name one (only its locks are released)."""
    if isinstance(matter, Matter):
        found = matter if matter.tenant_id == tenant.pk else None
        case_id = matter.case_id
    else:
        case_id = str(matter or "").strip()
        # PostgreSQL text cannot hold NUL: such a case id names no matter (and must not reach a query).
        found = (
            Matter.objects.filter(tenant=tenant, case_id=case_id).first() if case_id and "\x00" not in case_id else None
        )
    if not case_id:
        if request_type == RequestType.ADD_LOCK and tenant.matter_required_for_locks:
            errors["matter"] = (
                f"Matter: required for Add Lock requests in {tenant.name}; choose the legal matter the locks are for "
                "(Configuration > Legal Holds)."
            )
        return None
    if request_type == RequestType.DELETE:
        errors["matter"] = "Matter: only applies to Add Lock and Remove Lock requests; leave it empty."
    elif found is None:
        errors["matter"] = f"Matter: no legal matter with the case id “{case_id[:100]}” in {tenant.name}."
    elif request_type == RequestType.ADD_LOCK and not found.is_open:
        errors["matter"] = f"Matter: {found.case_id} is closed; no new locks can be placed under it."
    else:
        return found.pk
    return None
