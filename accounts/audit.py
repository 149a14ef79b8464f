"""Writing the append-only audit trail. Services call :func:`record`; nothing else writes it."""

from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.utils import timezone

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


def record(tenant_id, kind, actor, *, interaction_guid=None, artifact_id=None, request_id=None, reason="", **details):
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


def record_rows(rows, tenant_id, kind, actor, *, request_id=None, reason=""):
    """Append one audit event per row of ``rows`` in a single ``INSERT ... SELECT``.

    ``rows`` is a ``values()`` queryset with the keys ``interaction_guid``, ``artifact_id`` and
    ``details`` (a JSON object), so thousands of events cost one statement and no Python objects.
    """
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:  # e.g. ``id__in=[]``: nothing to record
        return
    who = actor_fields(actor)
    columns = "occurred_at, tenant_id, kind, actor_user_id, actor_label, request_id, reason"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {AuditEvent._meta.db_table} ({columns}, interaction_guid, artifact_id, details) "
            f"SELECT %s, %s, %s, %s, %s, %s, %s, src.interaction_guid, src.artifact_id, src.details FROM ({sql}) src",
            [
                timezone.now(),
                tenant_id,
                kind,
                getattr(who["actor_user"], "pk", None),
                who["actor_label"],
                request_id,
                reason,
                *params,
            ],
        )
