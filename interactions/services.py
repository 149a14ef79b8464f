"""State changes of interactions: created by ingestion (and seeding), corrected by support staff.

Both take an :class:`~accounts.actors.Actor` that must hold ``INGEST_CONTENT`` on the tenant (an
ingestion source, an operator command, support staff), run in one transaction and write their
audit event. Creation is idempotent on the source's ids (a source system's call or task is one
interaction of the tenant). A change of a field that lifecycle policies select on (channel,
direction, origin) changes when the interaction's content is deleted: the change reports that
effect and records it in the audit trail.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts import audit
from accounts.models import AuditEvent
from accounts.permissions import INGEST_CONTENT

from .models import Interaction

#: Fields lifecycle policies select on: changing one can change when content is deleted.
RETENTION_FIELDS = ("channel", "direction", "origin")
#: Fields support staff may correct (the GUID, the tenant and the creation time never change).
EDITABLE_FIELDS = (
    "channel",
    "direction",
    "origin",
    "started_at",
    "ended_at",
    "duration_seconds",
    "from_address",
    "to_address",
    "agent_id",
    "agent_name",
    "source_system",
    "source_call_id",
    "source_task_id",
    "metadata",
)

_retention_dates = []


def register_retention_dates(function):
    """Let the policies app say when each artifact of an interaction is deleted:
    ``function(interaction_id) -> {artifact id: deletion date or None}`` (called in the change's
    transaction, before and after it). Interactions sit below policies and cannot import them."""
    _retention_dates.append(function)


def _deletion_dates(interaction_id):
    dates = {}
    for function in _retention_dates:
        dates.update(function(interaction_id))
    return dates


def _existing(tenant_id, fields):
    """The interaction a source already delivered with the same call or task id, if any."""
    system = fields.get("source_system", "")
    for field in ("source_task_id", "source_call_id"):
        if fields.get(field):
            found = Interaction.objects.filter(tenant_id=tenant_id, source_system=system, **{field: fields[field]})
            if (interaction := found.first()) is not None:
                return interaction
    return None


def create_interaction(tenant_id, actor, **fields):
    """Create an interaction of the tenant; returns ``(interaction, created)``.

    Idempotent: when the source system already delivered the same task or call id, that
    interaction is returned unchanged (``created`` False). Bad fields raise ``ValidationError``
    naming them; nothing is saved.
    """
    actor.require(tenant_id, INGEST_CONTENT, doing="create interactions")
    unknown = set(fields) - {*EDITABLE_FIELDS, "guid"}
    if unknown:
        raise ValidationError({name: "Unknown interaction field." for name in sorted(unknown)})
    existing = _existing(tenant_id, fields)
    if existing is not None:
        return existing, False
    interaction = Interaction(tenant_id=tenant_id, **fields)
    interaction.full_clean()
    try:
        with transaction.atomic():
            interaction.save(force_insert=True)
            audit.record(
                tenant_id,
                AuditEvent.Kind.INTERACTION_CREATED,
                actor,
                interaction_guid=interaction.guid,
                reason=f"{interaction.get_channel_display()} {interaction.get_direction_display().lower()}",
                source_system=interaction.source_system,
                source_call_id=interaction.source_call_id,
                source_task_id=interaction.source_task_id,
            )
    except IntegrityError:
        # Delivered concurrently by the same source: that one is the interaction.
        existing = _existing(tenant_id, fields)
        if existing is None:
            raise
        return existing, False
    return interaction, True


@transaction.atomic
def update_interaction(interaction_id, actor, **fields):
    """Correct an interaction's fields; returns ``(interaction, retention_effect)``.

    ``retention_effect`` lists, per artifact whose deletion date the change moves,
    ``{"artifact": id, "before": date, "after": date}`` (ISO text or None); it is recorded in the
    ``INTERACTION_CHANGED`` audit event with the fields' old and new values.
    """
    interaction = Interaction.objects.select_for_update(no_key=True).get(pk=interaction_id)
    actor.require(interaction.tenant_id, INGEST_CONTENT, doing="change interactions")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    before = {name: getattr(interaction, name) for name in fields}
    changed = {name: value for name, value in fields.items() if before[name] != value}
    if not changed:
        return interaction, []
    retention_changes = bool(set(changed) & set(RETENTION_FIELDS))
    dates_before = _deletion_dates(interaction.pk) if retention_changes else {}
    for name, value in changed.items():
        setattr(interaction, name, value)
    interaction.full_clean()
    interaction.save(update_fields=list(changed))
    effect = []
    if retention_changes:
        dates_after = _deletion_dates(interaction.pk)
        effect = [
            {"artifact": pk, "before": _iso(dates_before.get(pk)), "after": _iso(dates_after.get(pk))}
            for pk in sorted(dates_after)
            if dates_before.get(pk) != dates_after.get(pk)
        ]
    audit.record(
        interaction.tenant_id,
        AuditEvent.Kind.INTERACTION_CHANGED,
        actor,
        interaction_guid=interaction.guid,
        reason="Interaction corrected: " + ", ".join(sorted(changed)),
        changed={name: [_text(before[name]), _text(value)] for name, value in changed.items()},
        retention_effect=effect,
    )
    return interaction, effect


def _iso(value):
    return value.isoformat() if value is not None else None


def _text(value):
    return value if isinstance(value, str | int | float | bool | dict | list | type(None)) else str(value)
