"""Writing the append-only audit trail. Services call :func:`record`; nothing else writes it.

Every event names its actor (kind, id and label: see :mod:`accounts.actors`) and the source it
acted from (web, API, command, admin, job), with the remote address for web and API calls.
"""

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.utils import timezone

from .models import AuditEvent

#: The actor columns, in the order :func:`record_rows` inserts them.
ACTOR_COLUMNS = ("actor_user_id", "actor_label", "actor_kind", "actor_key", "source", "remote_addr")


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
        **actor.audit_columns(),
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
    who = actor.audit_columns()
    columns = ", ".join(("occurred_at", "tenant_id", "kind", *ACTOR_COLUMNS, "request_id", "reason"))
    placeholders = ", ".join(["%s"] * (5 + len(ACTOR_COLUMNS)))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {AuditEvent._meta.db_table} ({columns}, interaction_guid, artifact_id, details) "
            f"SELECT {placeholders}, src.interaction_guid, src.artifact_id, src.details FROM ({sql}) src",
            [
                timezone.now(),
                tenant_id,
                kind,
                *(who[column] for column in ACTOR_COLUMNS),
                request_id,
                reason,
                *params,
            ],
        )


#: The columns :func:`record_selected` takes from each row.
SELECTED_COLUMNS = (
    "tenant_id",
    "kind",
    *ACTOR_COLUMNS,
    "request_id",
    "reason",
    "interaction_guid",
    "artifact_id",
    "details",
)


def record_selected(rows):
    """Append one audit event per row of ``rows``, a ``values()`` queryset that names, per row, every
    column of :data:`SELECTED_COLUMNS` (the actor included): one ``INSERT ... SELECT`` for events of
    many actors at once (e.g. deletions decided by several lifecycle policies)."""
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:
        return
    columns = ", ".join(SELECTED_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {AuditEvent._meta.db_table} (occurred_at, {columns}) "
            f"SELECT %s, {', '.join(f'src.{c}' for c in SELECTED_COLUMNS)} FROM ({sql}) src",
            [timezone.now(), *params],
        )
