"""Writing the append-only audit trail. Services call :func:`record`; nothing else writes it.

Every event names its actor (kind, id and label: see :mod:`accounts.actors`) and the source it
acted from (web, API, command, admin, job), with the remote address for web and API calls.

Every event is appended to its tenant's hash chain as it is inserted (:mod:`accounts.chain`): one
statement per call on PostgreSQL however many events :func:`record_rows` or :func:`record_selected`
write, and the tenant's chain head locked once per call.
"""

from django.core.exceptions import EmptyResultSet
from django.utils import timezone

from . import chain
from .models import AuditEvent

#: The actor columns, in the order :func:`record_rows` inserts them.
ACTOR_COLUMNS = ("actor_user_id", "actor_label", "actor_kind", "actor_key", "source", "remote_addr")


def record(tenant_id, kind, actor, *, interaction_guid=None, artifact_id=None, request_id=None, reason="", **details):
    """Append one audit event; call inside the service's transaction so both commit together."""
    event = AuditEvent(
        tenant_id=tenant_id,
        occurred_at=timezone.now(),
        kind=kind,
        interaction_guid=interaction_guid,
        artifact_id=artifact_id,
        request_id=request_id,
        reason=reason,
        details=details,
        **actor.audit_columns(),
    )
    return chain.append_instance(event)


def record_rows(rows, tenant_id, kind, actor, *, request_id=None, reason=""):
    """Append one audit event per row of ``rows`` in a single ``INSERT ... SELECT``.

    ``rows`` is a ``values()`` queryset with the keys ``interaction_guid``, ``artifact_id`` and
    ``details`` (a JSON object), so thousands of events cost one statement and no Python objects.
    Returns the number of events appended.
    """
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:  # e.g. ``id__in=[]``: nothing to record
        return 0
    who = actor.audit_columns()
    constants = ("tenant_id", "occurred_at", "kind", *ACTOR_COLUMNS, "request_id", "reason")
    values = {
        "tenant_id": tenant_id,
        "occurred_at": timezone.now(),
        "kind": kind,
        **{column: who[column] for column in ACTOR_COLUMNS},
        "request_id": request_id,
        "reason": reason,
    }
    select = ", ".join(f"%s AS {column}" for column in constants)
    return chain.append_select(
        f"SELECT {select}, src.interaction_guid, src.artifact_id, src.details FROM ({sql}) src",
        [*(values[column] for column in constants), *params],
        tenant_id=tenant_id,
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
    many actors (and tenants) at once (e.g. deletions decided by several lifecycle policies)."""
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:
        return 0
    return chain.append_select(
        f"SELECT %s AS occurred_at, {', '.join(f'src.{c}' for c in SELECTED_COLUMNS)} FROM ({sql}) src",
        [timezone.now(), *params],
    )
