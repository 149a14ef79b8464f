"""Writing the append-only audit trail. Services call :func:`record`; nothing else writes it."""

from dataclasses import dataclass

from .models import AuditEvent


@dataclass(frozen=True)
class SystemActor:
    """A non-human actor: a lifecycle policy sweep, an operator command, an API client."""

    label: str

    def __str__(self):
        return self.label


def actor_fields(actor):
    """The audit columns that name ``actor`` (a user or a :class:`SystemActor`)."""
    if isinstance(actor, SystemActor):
        return {"actor_user": None, "actor_label": actor.label}
    return {"actor_user": actor, "actor_label": actor.get_username()}


def record(
    tenant_id, kind, actor, *, interaction_guid=None, artifact_id=None, request_id=None, reason="", **details
):
    """Append one audit event; call inside the service's transaction so both commit together."""
    return AuditEvent.objects.create(
        tenant_id=tenant_id,
        kind=kind,
        interaction_guid=interaction_guid,
        artifact_id=artifact_id,
        request_id=request_id,
        reason=reason,
        details=details,
        **actor_fields(actor),
    )
