"""Appending to the per-tenant hash chain of the audit trail (see :mod:`accounts.verify_bundle` for
the definition of ``seq``, ``prev_hash`` and ``hash`` and the canonical serialization).

Appends stay set-based: a batch of any size costs one statement on PostgreSQL.

- **PostgreSQL**: one ``WITH ... INSERT ... SELECT`` per batch. It locks the tenant's chain head
  (``accounts_auditchainhead``, ``FOR UPDATE``: two transactions appending to one tenant serialize
  here, each batch locks once), numbers the new rows (``head.seq + row_number()``), computes each
  row's digest with the SQL function ``holdfast_audit_digest`` (``sha256`` over
  ``jsonb_build_array(...)::text``: the canonical form) and chains them with the aggregate
  ``holdfast_audit_chain`` run as a window (``sha256(previous || digest)``, row after row), inserts
  them with their hashes, and moves the head, all in the same statement: rows are chained when they
  are inserted, nothing fills hashes in later (the append-only trigger would refuse it anyway).
  Because the head is locked inside the statement, it also holds outside a transaction. Under READ
  COMMITTED a ``FOR UPDATE`` that waited returns the head as the other transaction committed it.
- **SQLite** (development): one Python pass. The source rows are read, hashed with
  :mod:`accounts.verify_bundle` and inserted with ``executemany``; SQLite's write lock (Holdfast's
  transactions are ``IMMEDIATE``) serializes appends.

Both SQL functions are created by migration ``0012_chain_existing_events`` (their text is there).
"""

import json
import uuid
from datetime import UTC

from django.db import connection, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import verify_bundle as v
from .models import AuditChainHead, AuditEvent, Tenant

EVENTS = AuditEvent._meta.db_table
HEADS = AuditChainHead._meta.db_table

#: The columns of an event that the canonical form covers, in its order.
EVENT_COLUMNS = v.FIELDS

#: The SQL type of each column, for the casts of a batch's source rows.
_TYPES = {
    "tenant_id": "bigint",
    "occurred_at": "timestamptz",
    "kind": "varchar",
    "actor_user_id": "bigint",
    "actor_label": "varchar",
    "actor_kind": "varchar",
    "actor_key": "varchar",
    "source": "varchar",
    "remote_addr": "inet",
    "interaction_guid": "uuid",
    "artifact_id": "bigint",
    "request_id": "bigint",
    "reason": "text",
    "details": "jsonb",
}


def digest_sql(alias):
    """The SQL expression of the digest of the row ``alias`` of the events table."""
    return f"holdfast_audit_digest({', '.join(f'{alias}.{column}' for column in EVENT_COLUMNS)})"


class ChainError(RuntimeError):
    """An append that cannot be chained (a tenant without its chain head row)."""


@receiver(post_save, sender=Tenant, dispatch_uid="accounts.chain.head")
def _create_head(sender, instance, created, raw=False, **kwargs):
    """Every tenant gets its chain head when it is created (migration 0012 gave existing ones theirs)."""
    if created and not raw:
        AuditChainHead.objects.get_or_create(tenant_id=instance.pk)


# --- PostgreSQL ------------------------------------------------------------------------------------
def _append_sql(source_sql, *, one_tenant, returning):
    """The statement that chains and inserts the rows of ``source_sql`` (which names every column of
    :data:`EVENT_COLUMNS`) and moves the heads. ``one_tenant``: a ``%s`` for the tenant id follows
    the source's parameters (the head is found without reading the source first)."""
    casts = ", ".join(f"s.{column}::{_TYPES[column]} AS {column}" for column in EVENT_COLUMNS)
    columns = ", ".join(EVENT_COLUMNS)
    which = "%s" if one_tenant else "SELECT DISTINCT tenant_id FROM src"
    return f"""
        WITH src AS (SELECT {casts} FROM ({source_sql}) s),
        heads AS (
            SELECT tenant_id, seq, decode(hash, 'hex') AS hash FROM {HEADS}
            WHERE tenant_id IN ({which}) ORDER BY tenant_id FOR UPDATE
        ),
        numbered AS (
            SELECT src.*, {digest_sql("src")} AS digest,
                   row_number() OVER (PARTITION BY src.tenant_id
                                      ORDER BY src.artifact_id NULLS FIRST, src.interaction_guid NULLS FIRST) AS n
            FROM src
        ),
        chained AS (
            SELECT nb.*, h.seq + nb.n AS seq, h.hash AS head_hash,
                   holdfast_audit_chain(h.hash, nb.digest) OVER (
                       PARTITION BY nb.tenant_id ORDER BY nb.n ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
                   ) AS link
            FROM numbered nb JOIN heads h ON h.tenant_id = nb.tenant_id
        ),
        linked AS (
            SELECT c.*, coalesce(lag(c.link) OVER (PARTITION BY c.tenant_id ORDER BY c.n), c.head_hash) AS prev
            FROM chained c
        ),
        ins AS (
            INSERT INTO {EVENTS} ({columns}, seq, prev_hash, hash)
            SELECT {columns}, seq, encode(prev, 'hex'), encode(link, 'hex') FROM linked
            RETURNING id, tenant_id, seq, prev_hash, hash
        ),
        moved AS (
            UPDATE {HEADS} h SET seq = t.seq, hash = t.hash
            FROM (SELECT DISTINCT ON (tenant_id) tenant_id, seq, hash FROM ins ORDER BY tenant_id, seq DESC) t
            WHERE h.tenant_id = t.tenant_id
        )
        SELECT (SELECT count(*) FROM src), {returning}
    """


def _append_one_sql():
    """The statement that chains and inserts one event (parameters: its columns, then its tenant id):
    the batch statement without its windows, which costs a millisecond of planning per call."""
    select = ", ".join(f"%s::{_TYPES[column]} AS {column}" for column in EVENT_COLUMNS)
    columns = ", ".join(EVENT_COLUMNS)
    return f"""
        WITH src AS (SELECT {select}),
        head AS (SELECT tenant_id, seq, decode(hash, 'hex') AS hash FROM {HEADS} WHERE tenant_id = %s FOR UPDATE),
        chained AS (
            SELECT src.*, head.seq + 1 AS seq, head.hash AS prev,
                   sha256(head.hash || {digest_sql("src")}) AS link
            FROM src JOIN head ON head.tenant_id = src.tenant_id
        ),
        ins AS (
            INSERT INTO {EVENTS} ({columns}, seq, prev_hash, hash)
            SELECT {columns}, seq, encode(prev, 'hex'), encode(link, 'hex') FROM chained
            RETURNING id, tenant_id, seq, prev_hash, hash
        ),
        moved AS (UPDATE {HEADS} h SET seq = ins.seq, hash = ins.hash FROM ins WHERE h.tenant_id = ins.tenant_id)
        SELECT id, seq, prev_hash, hash FROM ins
    """


def _check(expected, inserted):
    if expected != inserted:
        raise ChainError(
            f"{expected - inserted} audit event(s) could not be chained: their tenant has no chain head "
            "(run manage.py verify_audit)."
        )


# --- SQLite (and any database without the SQL functions) --------------------------------------
def _plain(row):
    """A source row's values as the canonical form reads them (UUIDs hyphenated, details parsed)."""
    row = dict(row)
    guid = row["interaction_guid"]
    row["interaction_guid"] = None if guid is None else uuid.UUID(str(guid))
    if isinstance(row["details"], str | bytes):
        row["details"] = json.loads(row["details"])
    if isinstance(row["occurred_at"], str):  # SQLite returns parameters as it stored them
        moment = parse_datetime(row["occurred_at"])
        row["occurred_at"] = moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)
    return row


def _append_python(rows):
    """Chain and insert ``rows`` (dicts of :data:`EVENT_COLUMNS`) in one pass; returns their
    ``(id, seq, prev_hash, hash)`` in the order given (ids only where the database returns them)."""
    if not rows:
        return []
    tenants = sorted({row["tenant_id"] for row in rows})
    heads = {
        head.tenant_id: [head.seq, head.hash]
        for head in AuditChainHead.objects.select_for_update(no_key=True)
        .filter(tenant_id__in=tenants)
        .order_by("tenant_id")
    }
    _check(len(tenants), len(heads))
    fields = [AuditEvent._meta.get_field(column) for column in (*EVENT_COLUMNS, "seq", "prev_hash", "hash")]
    chained, values = [], []
    for row in rows:
        head = heads[row["tenant_id"]]
        text = {**row, "occurred_at": v.utc_text(row["occurred_at"]), "interaction_guid": _guid_text(row)}
        seq, prev = head[0] + 1, head[1]
        head[:] = [seq, v.link(prev, v.digest(text))]
        chained.append((seq, prev, head[1]))
        full = [*(row[column] for column in EVENT_COLUMNS), *chained[-1]]
        values.append([field.get_db_prep_save(value, connection) for field, value in zip(fields, full, strict=True)])
    insert = f"INSERT INTO {EVENTS} ({', '.join(f.column for f in fields)}) VALUES ({', '.join(['%s'] * len(fields))})"
    last_id = None
    with connection.cursor() as cursor:
        if len(values) == 1:
            cursor.execute(insert, values[0])
            last_id = cursor.lastrowid
        else:
            cursor.executemany(insert, values)
        cursor.executemany(
            f"UPDATE {HEADS} SET seq = %s, hash = %s WHERE tenant_id = %s",
            [(seq, hash_, tenant) for tenant, (seq, hash_) in heads.items()],
        )
    return [(last_id, *link) for link in chained]


def _guid_text(row):
    guid = row["interaction_guid"]
    return None if guid is None else str(guid)


def _fetch(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [_plain(dict(zip(names, values, strict=True))) for values in cursor.fetchall()]


# --- the appends -------------------------------------------------------------------------------
def uses_sql():
    """Whether this database computes the chain in SQL (PostgreSQL) rather than in one Python pass."""
    return connection.vendor == "postgresql"


def append_values(row):
    """Append one event given as Python values (a dict of :data:`EVENT_COLUMNS`); returns its
    ``(id, seq, prev_hash, hash)``."""
    if uses_sql():
        details_field = AuditEvent._meta.get_field("details")
        params = [
            details_field.get_db_prep_save(row[c], connection) if c == "details" else row[c] for c in EVENT_COLUMNS
        ]
        with connection.cursor() as cursor:
            cursor.execute(_append_one_sql(), [*params, row["tenant_id"]])
            result = cursor.fetchone()
        _check(1, 0 if result is None else 1)
        return tuple(result)
    with transaction.atomic(savepoint=False):
        (chained,) = _append_python([row])
        return chained


def append_select(sql, params, tenant_id=None):
    """Append one event per row of ``sql`` (a SELECT naming every column of :data:`EVENT_COLUMNS`),
    in one statement on PostgreSQL; ``tenant_id`` when every row is of that tenant (else the rows
    name theirs). Returns the number of events appended."""
    if uses_sql():
        one_tenant = tenant_id is not None
        statement = _append_sql(sql, one_tenant=one_tenant, returning="(SELECT count(*) FROM ins)")
        with connection.cursor() as cursor:
            cursor.execute(statement, [*params, tenant_id] if one_tenant else list(params))
            expected, inserted = cursor.fetchone()
        _check(expected, inserted)
        return inserted
    with transaction.atomic(savepoint=False):
        rows = _fetch(sql, params)
        _append_python(rows)
        return len(rows)


def append_instance(event):
    """Append an unsaved :class:`AuditEvent` (``event.save()``) and fill in its id and chain fields."""
    row = {column: getattr(event, column) for column in EVENT_COLUMNS}
    if row["details"] is None:
        row["details"] = {}
    event.pk, event.seq, event.prev_hash, event.hash = append_values(row)
    event._state.adding = False
    event._state.db = connection.alias
    return event
