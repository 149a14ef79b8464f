"""The interaction page's audit trail, readable: one row per lock change (its types and expiry,
instead of one row per locked type), repeated views of a day collapsed ("viewed 4 times by 3 users"),
and keyset pages by ``seq`` (newest first)."""

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from accounts.models import AuditEvent
from core.vocabulary import ARTIFACT_TYPE_SELECTION_CHOICES, AudioRecordingType

#: Events read per page (before grouping).
AUDIT_PAGE = 100
SELECTION_LABELS = dict(ARTIFACT_TYPE_SELECTION_CHOICES)
LOCK_KINDS = {AuditEvent.Kind.LOCK_ADDED, AuditEvent.Kind.LOCK_REMOVED, AuditEvent.Kind.LOCK_EXPIRED}
VIEW_KINDS = {AuditEvent.Kind.ARTIFACT_VIEWED}


@dataclass
class AuditRow:
    """One shown row: the newest event of its group and what the group adds up to."""

    event: AuditEvent
    count: int = 1
    actors: set = field(default_factory=set)
    types: list = field(default_factory=list)
    expires_at: datetime | None = None

    @property
    def summary(self):
        """The group in words: the locked types, or how often and by how many it was viewed."""
        if self.types:
            return ", ".join(dict.fromkeys(self.types))
        if self.count > 1:
            people = len(self.actors)
            return f"{self.count}\u00d7 by {people} user{'s' if people != 1 else ''}"
        return ""


def _type_label(details):
    """The locked selection in the product's words: ``Any``, ``Email``, ``Audio Recording (Agent)``."""
    label = SELECTION_LABELS.get(details.get("artifact_type"), "")
    audio = details.get("audio_recording_type")
    if audio in AudioRecordingType.values:
        label = f"{label} ({AudioRecordingType(audio).label})"
    return label or str(details.get("artifact_type", ""))


def _expiry(details):
    value = details.get("expires_at")
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _key(event):
    """Events that show as one row: a lock change (same kind, actor, request, expiry, instant), or
    views of one artifact on one local day."""
    if event.kind in LOCK_KINDS:
        return (
            "lock",
            event.kind,
            event.actor_key,
            event.request_id,
            (event.details or {}).get("expires_at"),
            event.occurred_at.replace(microsecond=0),
        )
    if event.kind in VIEW_KINDS:
        return ("view", event.kind, event.artifact_id, timezone.localdate(event.occurred_at))
    return ("one", event.pk)


def audit_rows(tenant, guid, before=None):
    """``(rows, next_before)``: a page of the interaction's events as :class:`AuditRow`, newest
    first, and the ``seq`` to continue from (None on the last page)."""
    events = AuditEvent.objects.filter(tenant=tenant, interaction_guid=guid).order_by("-seq")
    if before:
        events = events.filter(seq__lt=before)
    page = list(events[: AUDIT_PAGE + 1])
    more = len(page) > AUDIT_PAGE
    page = page[:AUDIT_PAGE]
    rows, by_key = [], {}
    for event in page:
        key = _key(event)
        row = by_key.get(key)
        if row is None:
            row = by_key[key] = AuditRow(event=event, count=0)
            rows.append(row)
            if event.kind in LOCK_KINDS:
                row.expires_at = _expiry(event.details or {})
        row.count += 1
        row.actors.add(event.actor_label)
        if event.kind in LOCK_KINDS:
            row.types.append(_type_label(event.details or {}))
    return rows, (page[-1].seq if more else None)
