"""The audit trail is a hash chain per tenant: every writer chains what it appends (in one statement),
Python and PostgreSQL compute the same hashes, concurrent appends serialize on the chain head, and
``verify_audit`` finds every edit made behind the product's back by raw SQL, with its kind."""

import base64
import json
import threading
import time
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import BigIntegerField, CharField, F, Value
from django.db.models.functions import Cast, JSONObject

from accounts import audit, checkpoints
from accounts import verify_bundle as v
from accounts.actors import operator
from accounts.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditVerification
from accounts.verification import content_ok, verify_tenant
from artifacts.models import Artifact
from config import jobs
from tests.factories import ArtifactFactory, InteractionFactory, TenantFactory

pytestmark = pytest.mark.django_db

ACTOR = operator("tests")
Kind = AuditEvent.Kind


def events(tenant):
    return list(AuditEvent.objects.filter(tenant=tenant).order_by("seq"))


def assert_chained(tenant):
    rows = events(tenant)
    assert [e.seq for e in rows] == list(range(1, len(rows) + 1))
    prev = v.GENESIS
    for event in rows:
        assert event.prev_hash == prev and content_ok(event), event.seq
        prev = event.hash
    head = AuditChainHead.objects.get(tenant=tenant)
    assert (head.seq, head.hash) == (len(rows), prev)
    return rows


def test_every_writer_appends_chained_events_in_one_statement(acme, globex, django_assert_max_num_queries):
    call = InteractionFactory(tenant=acme)
    artifacts = [ArtifactFactory(interaction=call) for _ in range(30)]
    other = ArtifactFactory(interaction=InteractionFactory(tenant=globex))
    before = AuditEvent.objects.filter(tenant=acme).count()
    audit.record(acme.pk, Kind.ARTIFACT_VIEWED, ACTOR, artifact_id=artifacts[0].pk, note='é\n"x"')
    ids = [a.pk for a in artifacts]
    with django_assert_max_num_queries(1):
        added = audit.record_rows(
            Artifact.objects.filter(id__in=ids).values(
                interaction_guid=F("interaction__guid"), artifact_id=F("id"), details=JSONObject(key="storage_key")
            ),
            acme.pk,
            Kind.ARTIFACT_ARCHIVED,
            ACTOR,
            reason="test",
        )
    assert added == 30
    both = Artifact.objects.filter(id__in=[*ids[:5], other.pk])
    with django_assert_max_num_queries(1):
        added = audit.record_selected(
            both.values(
                "tenant_id",
                kind=Value(Kind.ARTIFACT_DELETED),
                actor_user_id=Cast(Value(None), BigIntegerField()),
                actor_label=Value("policy"),
                actor_kind=Value("system"),
                actor_key=Value("policy:1"),
                source=Value("job"),
                remote_addr=Cast(Value(None), CharField()),
                request_id=Cast(Value(None), BigIntegerField()),
                reason=Value("retention"),
                interaction_guid=F("interaction__guid"),
                artifact_id=F("id"),
                details=JSONObject(storage_key="storage_key"),
            )
        )
    assert added == 6
    rows = assert_chained(acme)
    assert len(rows) == before + 1 + 30 + 5
    assert_chained(globex)
    assert verify_tenant(acme).ok and verify_tenant(globex).ok


@pytest.mark.parametrize(
    "details",
    [
        {"b": 1, "aa": [1, 2.5, {"x": None}], "a": 'é\u0001\t"\\/', "t": True, "f": False},
        {"ratio": 0.1, "big": 12345678901234567890, "tiny": 1e-07, "neg": -0.0, "e": 1.5e3},
        {"ünïcode": "日本語", "emoji": "🎧", "": "empty key", "nested": {"zz": [], "y": {}}},
    ],
)
def test_python_and_postgresql_compute_the_same_canonical_form(acme, details):
    event = audit.record(acme.pk, Kind.TENANT_CHANGED, ACTOR, reason="tricky", **details)
    event.refresh_from_db()
    assert content_ok(event), v.canonical({**{n: getattr(event, n) for n in v.FIELDS}, "occurred_at": "x"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT details::text FROM accounts_auditevent WHERE id = %s", [event.pk])
        (text,) = cursor.fetchone()
    assert v.jsonb_text(event.details) == text == v.jsonb_text(json.loads(text, parse_float=Decimal))


def test_model_save_and_create_are_chained_too(acme):
    AuditEvent.objects.create(tenant=acme, kind=Kind.TENANT_CHANGED, actor_label="support", reason="by hand")
    assert_chained(acme)


def test_the_migration_chained_the_existing_events_of_every_tenant(acme, globex):
    # Tenants created through the service have events from their creation on, all chained.
    for tenant in (acme, globex):
        assert len(assert_chained(tenant)) > 1


# --- tampering by raw SQL ---------------------------------------------------------------------------------
@pytest.fixture
def trail(acme):
    """acme with 20 more events and a signed checkpoint at its head; the append-only trigger off
    (as an intruder with database access would)."""
    for n in range(20):
        audit.record(acme.pk, Kind.ARTIFACT_VIEWED, ACTOR, artifact_id=n, n=n)
    checkpoint, created, _ = checkpoints.take_checkpoint(acme)
    assert created and verify_tenant(acme).ok
    intrude()
    return acme, checkpoint


def intrude():
    """Triggers off for the rest of the test's transaction, as a database superuser can."""
    sql("SET LOCAL session_replication_role = replica")


def sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def middle(tenant):
    return AuditEvent.objects.get(tenant=tenant, seq=10)


def run_verify(tenant):
    out = []

    class Out:
        def write(self, text, *args, **kwargs):
            out.append(text)

    with pytest.raises(SystemExit) as exited:
        call_command("verify_audit", "--tenant", tenant.slug, stdout=Out())
    return exited.value.code, "".join(out)


def test_an_edited_row_is_found(trail):
    tenant, _ = trail
    sql("UPDATE accounts_auditevent SET reason = 'nothing to see' WHERE id = %s", [middle(tenant).pk])
    code, line = run_verify(tenant)
    assert code == 1 and line.startswith("BROKEN tenant acme: row edited at seq 10: "), line


def test_a_removed_row_is_found(trail):
    tenant, _ = trail
    sql("DELETE FROM accounts_auditevent WHERE id = %s", [middle(tenant).pk])
    result = verify_tenant(tenant)
    assert (result.kind, result.seq) == (v.REMOVED_OR_INSERTED, 11)
    assert "sequence numbers 10 are missing" in result.message


def test_a_removed_row_with_the_rest_renumbered_is_found(trail):
    tenant, _ = trail
    sql("DELETE FROM accounts_auditevent WHERE id = %s", [middle(tenant).pk])
    # Out of the way first, then back one lower: the unique (tenant, seq) constraint is checked row by row,
    # so a single UPDATE would depend on the rows' physical order.
    sql("UPDATE accounts_auditevent SET seq = seq + 1000000 WHERE tenant_id = %s AND seq > 10", [tenant.pk])
    sql("UPDATE accounts_auditevent SET seq = seq - 1000001 WHERE tenant_id = %s AND seq > 1000000", [tenant.pk])
    result = verify_tenant(tenant)
    assert (result.kind, result.seq) == (v.REMOVED_OR_INSERTED, 10)


def forged_row(tenant, seq, prev_hash):
    """An event an intruder computes correctly (the algorithm is public) and links to ``prev_hash``."""
    fields = {n: None for n in v.FIELDS} | {
        "tenant_id": tenant.pk,
        "occurred_at": "2020-01-01T00:00:00.000000Z",
        "kind": Kind.LOCK_REMOVED,
        "actor_label": "nobody",
        "actor_kind": "user",
        "actor_key": "1",
        "source": "web",
        "reason": "forged",
        "details": {},
    }
    row_hash = v.link(prev_hash, v.digest(fields))
    sql(
        "INSERT INTO accounts_auditevent (tenant_id, occurred_at, kind, actor_label, actor_kind, actor_key, source, "
        "reason, details, seq, prev_hash, hash) VALUES (%s, '2020-01-01T00:00:00Z', 'lock_removed', 'nobody', 'user',"
        " '1', 'web', 'forged', '{}', %s, %s, %s)",
        [tenant.pk, seq, prev_hash, row_hash],
    )
    return row_hash


def test_an_inserted_row_is_found(trail):
    tenant, _ = trail
    # Room at seq 10 (renumbering from the end keeps seq unique), then a well-formed forged event there.
    sql("UPDATE accounts_auditevent SET seq = seq + 1000000 WHERE tenant_id = %s AND seq >= 10", [tenant.pk])
    sql("UPDATE accounts_auditevent SET seq = seq - 999999 WHERE tenant_id = %s AND seq > 1000000", [tenant.pk])
    forged_row(tenant, 10, AuditEvent.objects.get(tenant=tenant, seq=9).hash)
    result = verify_tenant(tenant)
    assert (result.kind, result.seq) == (v.REMOVED_OR_INSERTED, 11), result.line


def test_a_row_appended_behind_the_products_back_is_found(trail):
    tenant, _ = trail
    head = AuditChainHead.objects.get(tenant=tenant)
    forged_row(tenant, head.seq + 1, head.hash)
    result = verify_tenant(tenant)
    assert (result.kind, result.seq) == (v.REMOVED_OR_INSERTED, head.seq + 1), result.line


def test_a_cut_tail_is_found_by_the_head_and_by_the_checkpoint(trail):
    tenant, checkpoint = trail
    sql("DELETE FROM accounts_auditevent WHERE tenant_id = %s AND seq > %s", [tenant.pk, checkpoint.seq - 3])
    result = verify_tenant(tenant)
    assert (result.kind, result.seq) == (v.TRUNCATED, checkpoint.seq - 2), result.line
    # The intruder moves the head back too: the signed checkpoint still says where the chain was.
    last = AuditEvent.objects.filter(tenant=tenant).order_by("-seq").first()
    sql("UPDATE accounts_auditchainhead SET seq = %s, hash = %s WHERE tenant_id = %s", [last.seq, last.hash, tenant.pk])
    code, line = run_verify(tenant)
    assert code == 1 and f"tail truncated at seq {checkpoint.seq - 2}" in line, line


def test_a_cut_tail_with_its_checkpoints_is_found_by_the_external_copy(acme, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "ev")},
        },
    }
    settings.AUDIT_CHECKPOINT_STORAGE = "evidence"
    audit.record(acme.pk, Kind.ARTIFACT_VIEWED, ACTOR)
    checkpoint, created, _ = checkpoints.take_checkpoint(acme)
    assert created and checkpoint.stored_as == checkpoints.external_name(acme.pk, checkpoint.seq)
    copy = json.loads((tmp_path / "ev" / checkpoint.stored_as).read_text())
    assert v.signature_valid(copy, checkpoints.trusted_keys())
    intrude()
    sql("DELETE FROM accounts_auditevent WHERE tenant_id = %s AND seq = %s", [acme.pk, checkpoint.seq])
    sql("DELETE FROM accounts_auditcheckpoint WHERE tenant_id = %s", [acme.pk])
    sql("UPDATE accounts_auditchainhead SET seq = seq - 1, hash = %s WHERE tenant_id = %s",
        [AuditEvent.objects.get(tenant=acme, seq=checkpoint.seq - 1).hash, acme.pk])  # fmt: skip
    result = verify_tenant(acme)
    assert (result.kind, result.seq) == (v.TRUNCATED, checkpoint.seq), result.line


def test_a_rewritten_history_does_not_extend_the_signed_checkpoint(trail):
    tenant, checkpoint = trail
    # The intruder edits an event and recomputes every hash after it, and the head: only the signature stops it.
    target = middle(tenant)
    sql("UPDATE accounts_auditevent SET reason = 'rewritten' WHERE id = %s", [target.pk])
    prev = AuditEvent.objects.get(tenant=tenant, seq=9).hash
    for event in AuditEvent.objects.filter(tenant=tenant, seq__gte=10).order_by("seq"):
        fields = {n: getattr(event, n) for n in v.FIELDS}
        fields |= {"occurred_at": v.utc_text(event.occurred_at), "interaction_guid": None}
        prev_hash, prev = prev, v.link(prev, v.digest(fields))
        sql("UPDATE accounts_auditevent SET prev_hash = %s, hash = %s WHERE id = %s", [prev_hash, prev, event.pk])
    sql("UPDATE accounts_auditchainhead SET hash = %s WHERE tenant_id = %s", [prev, tenant.pk])
    result = verify_tenant(tenant)
    assert (result.kind, result.seq) == (v.REWRITTEN, checkpoint.seq), result.line


def test_a_checkpoint_not_signed_by_a_trusted_key_is_a_bad_signature(trail):
    tenant, checkpoint = trail
    forged = base64.b64decode(checkpoint.signature)
    forged = base64.b64encode(bytes([forged[0] ^ 1]) + forged[1:]).decode()
    sql("UPDATE accounts_auditcheckpoint SET signature = %s WHERE id = %s", [forged, checkpoint.pk])
    code, line = run_verify(tenant)
    assert code == 1 and f"bad signature at seq {checkpoint.seq}" in line, line


def test_an_intact_trail_verifies_with_exit_status_zero_and_one_line(trail, capsys):
    tenant, checkpoint = trail
    call_command("verify_audit", "--tenant", tenant.slug)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"OK tenant acme: {checkpoint.seq} events verified"), out
    call_command("verify_audit", "--tenant", tenant.slug, "--from-seq", "15")
    assert "(seq 15-" in capsys.readouterr().out
    assert AuditVerification.objects.filter(tenant=tenant, ok=True).count() >= 2


def test_checkpoints_are_signed_verifiable_and_append_only(acme):
    audit.record(acme.pk, Kind.ARTIFACT_VIEWED, ACTOR)
    checkpoint, created, _ = checkpoints.take_checkpoint(acme)
    assert created
    data = checkpoints.as_dict(checkpoint, acme.slug)
    keys = checkpoints.trusted_keys()
    assert checkpoint.key_fingerprint in keys and v.signature_valid(data, keys)
    assert not v.signature_valid({**data, "seq": data["seq"] + 1}, keys)
    assert not v.signature_valid({**data, "hash": "0" * 64}, keys)
    assert checkpoints.take_checkpoint(acme)[1] is False, "nothing new: no second checkpoint"
    with pytest.raises(PermissionError):
        checkpoint.delete()
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        sql("DELETE FROM accounts_auditcheckpoint")


@pytest.mark.django_db(transaction=True)
def test_the_hourly_job_signs_every_tenant_that_moved(acme, globex):
    taken = jobs.run("audit_checkpoints")
    assert taken == 2 and AuditCheckpoint.objects.count() == 2
    assert jobs.run("audit_checkpoints") == 0
    audit.record(acme.pk, Kind.ARTIFACT_VIEWED, ACTOR)
    assert jobs.run("audit_checkpoints") == 1


def test_a_broken_chain_is_never_signed(trail):
    tenant, _ = trail
    audit.record(tenant.pk, Kind.ARTIFACT_VIEWED, ACTOR)
    sql("UPDATE accounts_auditevent SET reason = 'x' WHERE tenant_id = %s AND seq = (SELECT max(seq) FROM "
        "accounts_auditevent WHERE tenant_id = %s)", [tenant.pk, tenant.pk])  # fmt: skip
    checkpoint, created, result = checkpoints.take_checkpoint(tenant)
    assert checkpoint is None and not created and result.kind == v.EDITED


# --- concurrency ------------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_two_transactions_appending_to_one_tenant_serialize_on_the_chain_head():
    tenant = TenantFactory()
    started, finished = threading.Event(), []

    def second():
        try:
            started.wait(10)
            with transaction.atomic():
                audit.record(tenant.pk, Kind.ARTIFACT_VIEWED, ACTOR, who="second")
            finished.append(time.monotonic())
        finally:
            connection.close()

    thread = threading.Thread(target=second)
    thread.start()
    with transaction.atomic():
        audit.record(tenant.pk, Kind.ARTIFACT_VIEWED, ACTOR, who="first")
        started.set()
        time.sleep(1.0)
        assert finished == [], "the second append waited for the first transaction's chain head lock"
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND a.query LIKE '%%accounts_auditchainhead%%'"
            )
            assert cursor.fetchone()[0] >= 1
        audit.record(tenant.pk, Kind.ARTIFACT_VIEWED, ACTOR, who="first again")
        committed = time.monotonic()
    thread.join(10)
    assert finished and finished[0] >= committed
    rows = assert_chained(tenant)
    assert [e.details.get("who") for e in rows[-3:]] == ["first", "first again", "second"]
    assert verify_tenant(tenant).ok
