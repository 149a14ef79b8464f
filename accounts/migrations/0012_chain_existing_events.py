"""Chain the audit events that exist (per tenant, in the order they occurred), give every tenant
its chain head, make checkpoints append-only, and grant VIEW_AUDIT to existing Compliance Officer
and Administrator roles.

On PostgreSQL the append-only trigger (migration 0002) refuses every UPDATE of an audit event, so
this migration drops it, fills ``seq`` / ``prev_hash`` / ``hash`` of the existing rows in one
``UPDATE`` and creates the trigger again, inside this migration's transaction: no other session ever
sees the table without its trigger, and a failure rolls all of it back. The SQL functions the
chain is computed with (``holdfast_audit_digest``, the aggregate ``holdfast_audit_chain``) are
created here; their text is frozen in this file (the definition: accounts/verify_bundle.py).
"""

from django.db import migrations

DIGEST_FUNCTION = """
CREATE OR REPLACE FUNCTION holdfast_audit_digest(
    tenant_id bigint, occurred_at timestamptz, kind text, actor_user_id bigint, actor_label text,
    actor_kind text, actor_key text, source text, remote_addr inet, interaction_guid uuid,
    artifact_id bigint, request_id bigint, reason text, details jsonb
) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(convert_to(jsonb_build_array(
        1, $1, to_char($2 AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), $3, $4, $5, $6, $7, $8,
        host($9), $10::text, $11, $12, $13, $14
    )::text, 'UTF8'))
$$;
CREATE OR REPLACE FUNCTION holdfast_audit_link(state bytea, head bytea, digest bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT sha256(coalesce($1, $2) || $3) $$;
CREATE OR REPLACE AGGREGATE holdfast_audit_chain(bytea, bytea) (SFUNC = holdfast_audit_link, STYPE = bytea);
"""
DROP_FUNCTIONS = """
DROP AGGREGATE IF EXISTS holdfast_audit_chain(bytea, bytea);
DROP FUNCTION IF EXISTS holdfast_audit_link(bytea, bytea, bytea);
DROP FUNCTION IF EXISTS holdfast_audit_digest(bigint, timestamptz, text, bigint, text, text, text, text, inet, uuid,
    bigint, bigint, text, jsonb);
"""
CHAIN_EXISTING = """
DROP TRIGGER accounts_auditevent_append_only ON accounts_auditevent;
WITH numbered AS (
    SELECT e.id, e.tenant_id,
           holdfast_audit_digest(e.tenant_id, e.occurred_at, e.kind, e.actor_user_id, e.actor_label, e.actor_kind,
                                 e.actor_key, e.source, e.remote_addr, e.interaction_guid, e.artifact_id,
                                 e.request_id, e.reason, e.details) AS digest,
           row_number() OVER (PARTITION BY e.tenant_id ORDER BY e.occurred_at, e.id) AS seq
    FROM accounts_auditevent e
),
chained AS (
    SELECT n.*, holdfast_audit_chain(decode(repeat('0', 64), 'hex'), n.digest) OVER (
        PARTITION BY n.tenant_id ORDER BY n.seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS link
    FROM numbered n
),
linked AS (
    SELECT c.*, coalesce(lag(c.link) OVER (PARTITION BY c.tenant_id ORDER BY c.seq), decode(repeat('0', 64), 'hex')) AS prev
    FROM chained c
)
UPDATE accounts_auditevent e SET seq = l.seq, prev_hash = encode(l.prev, 'hex'), hash = encode(l.link, 'hex')
FROM linked l WHERE e.id = l.id;
CREATE TRIGGER accounts_auditevent_append_only
    BEFORE UPDATE OR DELETE ON accounts_auditevent
    FOR EACH ROW EXECUTE FUNCTION holdfast_audit_append_only();
INSERT INTO accounts_auditchainhead (tenant_id, seq, hash)
SELECT t.id, coalesce(last.seq, 0), coalesce(last.hash, repeat('0', 64))
FROM accounts_tenant t
LEFT JOIN LATERAL (
    SELECT seq, hash FROM accounts_auditevent e WHERE e.tenant_id = t.id ORDER BY seq DESC LIMIT 1
) last ON true;
CREATE TRIGGER accounts_auditcheckpoint_append_only
    BEFORE UPDATE OR DELETE ON accounts_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION holdfast_audit_append_only();
CREATE TRIGGER accounts_auditcheckpoint_no_truncate
    BEFORE TRUNCATE ON accounts_auditcheckpoint
    FOR EACH STATEMENT EXECUTE FUNCTION holdfast_refuse_truncate();
"""
UNDO_CHECKPOINT_TRIGGERS = """
DROP TRIGGER IF EXISTS accounts_auditcheckpoint_append_only ON accounts_auditcheckpoint;
DROP TRIGGER IF EXISTS accounts_auditcheckpoint_no_truncate ON accounts_auditcheckpoint;
"""


def _chain_in_python(apps, schema_editor):
    """SQLite (development): the same chain, computed with the reference implementation."""
    from accounts import verify_bundle as v

    AuditEvent = apps.get_model("accounts", "AuditEvent")
    AuditChainHead = apps.get_model("accounts", "AuditChainHead")
    Tenant = apps.get_model("accounts", "Tenant")
    heads = {}
    for event in AuditEvent.objects.order_by("tenant_id", "occurred_at", "id").iterator(chunk_size=2000):
        seq, prev = heads.get(event.tenant_id, (0, v.GENESIS))
        fields = {name: getattr(event, name) for name in v.FIELDS}
        fields["occurred_at"] = v.utc_text(event.occurred_at)
        fields["interaction_guid"] = str(event.interaction_guid) if event.interaction_guid else None
        row_hash = v.link(prev, v.digest(fields))
        AuditEvent.objects.filter(pk=event.pk).update(seq=seq + 1, prev_hash=prev, hash=row_hash)
        heads[event.tenant_id] = (seq + 1, row_hash)
    for tenant_id in Tenant.objects.values_list("pk", flat=True):
        seq, last = heads.get(tenant_id, (0, v.GENESIS))
        AuditChainHead.objects.create(tenant_id=tenant_id, seq=seq, hash=last)


def _grant_view_audit(apps):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Role = apps.get_model("accounts", "Role")
    Grant = apps.get_model("accounts", "TenantGroupObjectPermission")
    content_type, _ = ContentType.objects.get_or_create(app_label="accounts", model="tenant")
    perm, _ = Permission.objects.get_or_create(
        content_type=content_type, codename="view_audit", defaults={"name": "View and export the audit trail"}
    )
    for role in Role.objects.filter(name__in=("Compliance Officer", "Administrator")):
        Grant.objects.get_or_create(group_id=role.group_id, content_object_id=role.tenant_id, permission=perm)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DIGEST_FUNCTION, params=None)
        schema_editor.execute(CHAIN_EXISTING, params=None)
    else:
        _chain_in_python(apps, schema_editor)
    _grant_view_audit(apps)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNDO_CHECKPOINT_TRIGGERS, params=None)
        schema_editor.execute(DROP_FUNCTIONS, params=None)
    apps.get_model("accounts", "AuditChainHead").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0011_audit_chain"), ("artifacts", "0006_refuse_truncate")]
    operations = [migrations.RunPython(forwards, backwards)]
