"""What a request would do, before it is saved: the impact preview of the request form and of the
interaction page's Remove Lock confirmation.

:func:`request_artifacts` is the one definition of the artifacts a request's selection covers;
processing (:mod:`artifacts.processing`) deletes from the same queryset, so the preview and the
work cannot disagree about *which* artifacts. Whether an artifact is locked is
``Artifact.objects.locked()`` as everywhere. Policy dates belong to the policies app (above this
one): it registers :func:`register_policy_due` in its ``AppConfig.ready``.
"""

import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import Tenant
from accounts.permissions import ARTIFACTS_MANAGEMENT_REQUESTS_CREATE
from core.vocabulary import PRESENT_STATES, lock_targets
from interactions.models import Interaction

from .models import Artifact, ManagementRequest, active_lock_exists
from .validation import SEPARATORS, parse_interaction_ids

RequestType = ManagementRequest.RequestType

_policy_due = []


def register_policy_due(function):
    """Let the policies app count artifacts whose policy deletion date has passed:
    ``function(tenant_id, artifacts queryset, now) -> int``."""
    _policy_due.append(function)


def past_policy_date(tenant_id, artifacts, now=None):
    """How many of ``artifacts`` are past their policy's deletion date (the next sweep takes them
    once nothing holds them)."""
    now = now or timezone.now()
    return sum(function(tenant_id, artifacts, now) for function in _policy_due)


def request_artifacts(tenant_id, interaction_ids, artifact_type, audio_recording_type=""):
    """The artifacts (every state) a request for ``artifact_type`` covers on these interactions (ids)."""
    pairs = lock_targets(artifact_type, audio_recording_type)
    return Artifact.objects.filter(tenant_id=tenant_id, interaction_id__in=list(interaction_ids)).selected(pairs)


@dataclass(frozen=True)
class Impact:
    """A request's effect counted now. ``artifacts`` present artifacts of the selection on
    ``interactions`` interactions; ``locked`` of them under an active lock; ``affected`` what the
    request changes (Delete: deleted; Remove Lock: unlocked; Add Lock: locked) on
    ``affected_interactions`` interactions; ``skipped`` locked ones a Delete leaves; ``due`` unlocked
    ones (Remove Lock) already past their policy date; ``unknown`` ids that are no interaction."""

    request_type: str
    interactions: int
    artifacts: int
    locked: int
    affected: int
    affected_interactions: int
    skipped: int
    due: int
    unknown: int

    @property
    def sentence(self):
        """The preview in words, e.g. "This will delete 12 artifacts of 3 interactions (2 locked will be skipped)."."""
        noun = f"{self.affected} artifact{'s' if self.affected != 1 else ''}"
        where = f"of {self.affected_interactions} interaction{'s' if self.affected_interactions != 1 else ''}"
        if self.request_type == RequestType.DELETE:
            text = f"This will delete {noun} {where}"
            text += f" ({self.skipped} locked will be skipped)." if self.skipped else "."
        elif self.request_type == RequestType.REMOVE_LOCK:
            text = f"This will unlock {noun} {where}."
            if self.due:
                verb, their = ("is", "its") if self.due == 1 else ("are", "their")
                text += (
                    f" {self.due} of them {verb} already past {their} policy date"
                    " and will be deleted or moved at the next sweep."
                )
        else:
            text = f"This will lock {noun} {where}, and content of the selected types that arrives later."
        if self.unknown:
            text += f" {self.unknown} id{'s are' if self.unknown != 1 else ' is'} not an interaction here."
        return text


def request_impact(
    tenant_id, actor, *, request_type, artifact_type, interaction_ids, audio_recording_type="", remove_locks=False
):
    """The :class:`Impact` of a request with these raw form inputs, or None when they do not say
    enough yet (no type, no valid id). Reads only; needs the permission to create requests."""
    tenant = Tenant.objects.get(pk=tenant_id)
    actor.require(tenant, ARTIFACTS_MANAGEMENT_REQUESTS_CREATE, doing="preview a request")
    if request_type not in RequestType.values:
        return None
    try:
        lock_targets(artifact_type, audio_recording_type)
    except ValueError:  # no artifact type yet, or Audio Recording without its type
        return None
    try:
        guids = parse_interaction_ids(interaction_ids)
    except ValidationError:  # malformed or too many ids: the form says so; count the good ones
        guids = list(dict.fromkeys(str(uuid.UUID(t)) for t in SEPARATORS.split(str(interaction_ids)) if _is_guid(t)))
    if not guids:
        return None
    ids = list(Interaction.objects.filter(tenant_id=tenant_id, guid__in=guids).values_list("pk", flat=True))
    return _count(
        tenant_id, request_type, ids, artifact_type, audio_recording_type, remove_locks, len(guids) - len(ids)
    )


def _is_guid(token):
    try:
        uuid.UUID(token)
    except ValueError:
        return False
    return True


def _count(tenant_id, request_type, ids, artifact_type, audio_recording_type, remove_locks, unknown):
    now = timezone.now()
    present = request_artifacts(tenant_id, ids, artifact_type, audio_recording_type).filter(state__in=PRESENT_STATES)
    locked = active_lock_exists(now)
    if request_type == RequestType.DELETE:
        # Remove Locks to Process Request releases the selection's locks first; locks are rows per
        # selected type, so nothing selected stays locked then.
        affected = Q() if remove_locks else ~locked
    elif request_type == RequestType.REMOVE_LOCK:
        affected = locked
    else:
        affected = Q()
    totals = present.aggregate(
        artifacts=Count("id"),
        locked=Count("id", filter=locked),
        affected=Count("id", filter=affected),
        affected_interactions=Count("interaction_id", filter=affected, distinct=True),
    )
    due = 0
    if request_type == RequestType.REMOVE_LOCK and totals["affected"]:
        due = past_policy_date(tenant_id, present.filter(locked), now)
    skipped = totals["locked"] if request_type == RequestType.DELETE and not remove_locks else 0
    return Impact(
        request_type=request_type,
        interactions=len(ids),
        artifacts=totals["artifacts"],
        locked=totals["locked"],
        affected=totals["affected"],
        affected_interactions=totals["affected_interactions"],
        skipped=skipped,
        due=due,
        unknown=unknown,
    )
