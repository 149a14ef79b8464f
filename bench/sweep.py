"""Benchmark of the retention sweep (not part of the test suite).

    .venv/bin/python bench/sweep.py [--artifacts 1000000] [--memory-compare 100000] [--batch 5000] [--keep-db]

One tenant with the default policies (outbound dialer Audio Recordings deleted after 30 days,
everything else after 365), N artifacts bulk-inserted with ``INSERT ... SELECT generate_series``:
30% due, 2% locked by active Lock rows (about 30% of those on due artifacts), a unique storage key
each (the objects are not created: S3 ``DeleteObjects`` of a missing key succeeds). The sweep runs
in a fresh child process against an S3 API server (moto, loopback). Prints:

- sweep database time (SQL statements + commits, via ``connection.execute_wrapper``) vs one
  hand-written SQL statement doing the same selection and update, and vs one statement that also
  inserts the audit events (CTE), each on an identical copy of the data in the same run (goal <= 1.5x);
- peak memory (max RSS of the child) at the comparison size vs N (goal: flat);
- SQL statements of the sweep vs ceil(N due / batch);
- storage calls per 1,000 deleted keys (goal <= 1.02);
- locked artifacts deleted (must be 0), and whether the sweep deleted exactly the baseline's set.

Databases: ``holdfast_bench_sweep`` (seeded, used as a template; ``_small`` for the comparison
size) and copies made with ``CREATE DATABASE ... TEMPLATE`` for the sweep and each baseline.
``--keep-db`` keeps the seeded templates and reuses them when their size matches.
"""

import argparse
import json
import math
import os
import re
import resource
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]  # no shadowed `requests` / `api`
sys.path.insert(0, str(ROOT))
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
BENCH_DB = os.environ.get("BENCH_DATABASE", "holdfast_bench_sweep")
SLUG = "bench-sweep"
DUE_PER_MILLE, LOCKED_PER_MILLE = 300, 20

# The tenant's due, unlocked artifacts under the default policies, written by hand.
DUE_SQL = """
    a.tenant_id = %(tenant)s
    AND a.interaction_id = i.id
    AND a.state <> 'deleted'
    AND a.created_at <= %(now)s - CASE
        WHEN a.artifact_type = 'audio_recording' AND i.direction = 'outbound' AND i.origin = 'dialer'
        THEN interval '30 days' ELSE interval '365 days' END
    AND NOT EXISTS (
        SELECT 1 FROM artifacts_lock l
        WHERE l.interaction_id = a.interaction_id AND l.artifact_type = a.artifact_type
          AND l.audio_recording_type = a.audio_recording_type AND l.released_at IS NULL
          AND (l.expires_at IS NULL OR l.expires_at > %(now)s))
"""
ACTOR_SQL = """CASE WHEN a.artifact_type = 'audio_recording' AND i.direction = 'outbound' AND i.origin = 'dialer'
    THEN 'Lifecycle policy “Outbound dialer recordings”' ELSE 'Lifecycle policy “Everything else”' END"""
BASELINE_UPDATE = f"""
    UPDATE artifacts_artifact a
    SET state = 'deleted', deleted_at = %(now)s, deleted_by = {ACTOR_SQL}, deletion_reason = 'retention',
        legal_hold = false
    FROM interactions_interaction i
    WHERE {DUE_SQL}
"""
BASELINE_CTE = f"""
    WITH d AS (
        UPDATE artifacts_artifact a
        SET state = 'deleted', deleted_at = %(now)s, deleted_by = {ACTOR_SQL}, deletion_reason = 'retention',
            legal_hold = false
        FROM interactions_interaction i
        WHERE {DUE_SQL}
        RETURNING a.id, a.storage_key, a.deleted_by, i.guid
    )
    INSERT INTO accounts_auditevent
        (occurred_at, tenant_id, kind, actor_user_id, actor_label, actor_kind, actor_key, source, request_id,
         reason, interaction_guid, artifact_id, details, seq, prev_hash, hash)
    SELECT %(now)s, %(tenant)s, 'artifact_deleted', NULL, d.deleted_by, 'system', 'policy', 'job', NULL, 'retention',
           d.guid, d.id, jsonb_build_object('storage_key', d.storage_key),
           -- numbered after the chain head, not hashed: the pre-chain statement's cost
           (SELECT seq FROM accounts_auditchainhead WHERE tenant_id = %(tenant)s) + row_number() OVER (), '', ''
    FROM d
"""

# The crash-safe protocol at its floor, set-based over every due row at once: the decision (one
# UPDATE to *being deleted* in the deciding policy's name, committed), then the tombstones (one
# UPDATE) and the chained audit events (the application's own one-statement append), committed.
FLOOR_DECIDE = f"""
    UPDATE artifacts_artifact a
    SET state = 'deleting', deletion_started_at = %(now)s, deleted_by = {ACTOR_SQL}, deletion_actor_kind = 'system',
        deletion_actor_key = 'policy', deletion_source = 'job', deletion_job = 'bench', deletion_reason = 'retention'
    FROM interactions_interaction i
    WHERE {DUE_SQL}
    RETURNING a.id
"""
FLOOR_TOMBSTONE = """
    UPDATE artifacts_artifact SET state = 'deleted', deleted_at = %(now)s, legal_hold = false
    WHERE tenant_id = %(tenant)s AND state = 'deleting'
"""


def psql(db, autocommit=True):
    import psycopg

    return psycopg.connect(f"{PG}/{db}", autocommit=autocommit)


def exists(db):
    with psql("postgres") as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone())


def drop(db):
    with psql("postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def copy_db(template, db):
    drop(db)
    with psql("postgres") as conn:
        conn.execute(f'CREATE DATABASE "{db}" TEMPLATE "{template}"')


# --- seeding ------------------------------------------------------------------------------------
def seeded_size(db):
    """Artifacts of the bench tenant in ``db`` (None when it has none or does not exist)."""
    if not exists(db):
        return None
    try:
        with psql(db) as conn:
            row = conn.execute(
                "SELECT count(*) FROM artifacts_artifact a JOIN accounts_tenant t ON t.id = a.tenant_id "
                "WHERE t.slug = %s",
                [SLUG],
            ).fetchone()
    except Exception:
        return None
    return row[0] or None


def seed(db, n):
    """Migrate ``db`` (in a child: Django), create the tenant through the service, bulk-insert."""
    drop(db)
    with psql("postgres") as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    subprocess.run([sys.executable, __file__, "--child", "seed", "--db", db, "--artifacts", str(n)], check=True)


def child_seed(n):
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from accounts.actors import operator
    from accounts.services import create_tenant

    tenant = create_tenant("Bench sweep", SLUG, actor=operator("bench"))
    interactions = math.ceil(n / 5)
    started = time.perf_counter()
    with connection.cursor() as cur:
        # Every 10th interaction is an outbound dialer call (its recordings are deleted after 30 days).
        cur.execute(
            """
            INSERT INTO interactions_interaction
                (tenant_id, guid, channel, direction, origin, started_at, ended_at, duration_seconds,
                 from_address, to_address, agent_id, agent_name, source_system, source_call_id,
                 source_task_id, metadata, created_at)
            SELECT %(tenant)s, gen_random_uuid(), 'voice',
                   CASE WHEN k %% 10 = 0 THEN 'outbound' ELSE 'inbound' END,
                   CASE WHEN k %% 10 = 0 THEN 'dialer' ELSE 'queue' END,
                   now() - interval '500 days', now() - interval '500 days', 90,
                   '+1555' || k, '+15550000000', 'agent-1', 'Bench Agent', 'bench', 'CA' || k, 'WT' || k,
                   '{}'::jsonb, now() - interval '500 days'
            FROM generate_series(0, %(interactions)s - 1) AS k
            """,
            {"tenant": tenant.pk, "interactions": interactions},
        )
        cur.execute("SELECT min(id) FROM interactions_interaction WHERE tenant_id = %s", [tenant.pk])
        first = cur.fetchone()[0]
        # Artifact g belongs to interaction g / 5 and has type slot g % 5 (a distinct lock target
        # each, so one Lock row locks one artifact). Due and locked are scattered by hashing g.
        cur.execute(
            """
            INSERT INTO artifacts_artifact
                (tenant_id, interaction_id, artifact_type, audio_recording_type, content_key, state,
                 storage_key, storage_version, filename, content_type, size, sha256, created_at,
                 deleted_by, deletion_reason, legal_hold, idempotency_key, deletion_actor_key,
                 deletion_actor_kind, deletion_job, deletion_source, stale_active_copy, stale_active_version)
            SELECT %(tenant)s, %(first)s + g / 5, t.artifact_type, t.audio_type, t.content_key, 'stored',
                   't' || %(tenant)s || '/bench/' || g || '.bin', '', 'a.bin', 'application/octet-stream',
                   512, repeat('0', 64),
                   now() - CASE
                       WHEN (g * 2654435761) %% 1000 < %(due)s
                       THEN CASE WHEN (g / 5) %% 10 = 0 AND t.artifact_type = 'audio_recording'
                                 THEN interval '45 days' ELSE interval '400 days' END
                       ELSE CASE WHEN (g / 5) %% 10 = 0 AND t.artifact_type = 'audio_recording'
                                 THEN interval '20 days' ELSE interval '200 days' END
                   END,
                   '', '', false, '', '', '', '', '', false, ''
            FROM generate_series(0, %(n)s - 1) AS g
            JOIN (VALUES (0, 'audio_recording', 'conference_customer', 'call_recording'),
                         (1, 'audio_recording', 'conference_agent', 'call_recording'),
                         (2, 'audio_recording', 'conference_external', 'call_recording'),
                         (3, 'messaging_transcript', '', 'chat_transcript'),
                         (4, 'email', '', 'email')) AS t(slot, artifact_type, audio_type, content_key)
              ON t.slot = g %% 5
            """,
            {"tenant": tenant.pk, "first": first, "n": n, "due": DUE_PER_MILLE},
        )
        cur.execute("SELECT min(id) FROM artifacts_artifact WHERE tenant_id = %s", [tenant.pk])
        first_artifact = cur.fetchone()[0]
        cur.execute(
            """
            INSERT INTO artifacts_lock
                (tenant_id, interaction_id, artifact_type, audio_recording_type, selection, expires_at,
                 created_at, created_by, released_at, released_by)
            SELECT a.tenant_id, a.interaction_id, a.artifact_type, a.audio_recording_type, a.artifact_type, NULL,
                   now(), 'bench', NULL, ''
            FROM artifacts_artifact a
            WHERE a.tenant_id = %(tenant)s AND ((a.id - %(first)s) * 40503) %% 1000 < %(locked)s
            """,
            {"tenant": tenant.pk, "first": first_artifact, "locked": LOCKED_PER_MILLE},
        )
        cur.execute("ANALYZE")
    print(f"  seeded {n:,} artifacts in {time.perf_counter() - started:.1f} s", flush=True)


# --- the sweep, in a fresh process ----------------------------------------------------------------
def child_sweep():
    import django

    django.setup()
    from django.db import connection

    from accounts.actors import operator
    from accounts.models import Tenant
    from artifacts import storage as storage_service
    from config import jobs
    from policies import services
    from policies.models import SweepRun

    if os.environ.get("BENCH_AUTO_EXPLAIN"):  # plans of the slow statements, on stderr
        with connection.cursor() as cur:
            cur.execute("LOAD 'auto_explain'")
            cur.execute("SET auto_explain.log_min_duration = %s", [os.environ["BENCH_AUTO_EXPLAIN"]])
            cur.execute("SET auto_explain.log_analyze = on")
            cur.execute("SET auto_explain.log_level = notice")
        connection.connection.add_notice_handler(lambda notice: print(notice.message_primary, file=sys.stderr))
    if os.environ.get("BENCH_NO_PIPELINE"):  # storage calls inline: no overlap, no contention
        import contextlib

        from artifacts import disposal

        disposal.storage_pipeline = contextlib.nullcontext
    tenant = Tenant.objects.get(slug=SLUG)
    run = services.start_sweep(tenant.pk, operator("bench"), SweepRun.Trigger.COMMAND, enqueue=False)
    sql = {"statements": 0, "seconds": 0.0, "commits": 0, "commit_seconds": 0.0, "by_kind": {}}
    storage_seconds = [0.0]

    def timed_sql(execute, statement, params, many, context):
        started = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            sql["seconds"] += elapsed
            sql["statements"] += 1
            kind = re.sub(r"\d+", "N", " ".join(statement.split()))[:150]
            count, seconds = sql["by_kind"].get(kind, (0, 0.0))
            sql["by_kind"][kind] = (count + 1, seconds + elapsed)

    commit = connection._commit

    def timed_commit():
        started = time.perf_counter()
        try:
            return commit()
        finally:
            sql["commit_seconds"] += time.perf_counter() - started
            sql["commits"] += 1

    delete_many = storage_service.ArtifactStorage.delete_many

    def timed_delete_many(self, objects):
        started = time.perf_counter()
        try:
            return delete_many(self, objects)
        finally:
            storage_seconds[0] += time.perf_counter() - started

    connection._commit = timed_commit
    storage_service.ArtifactStorage.delete_many = timed_delete_many
    storage_service.calls.clear()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    profile_path = os.environ.get("BENCH_CPROFILE")
    profiler = None
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    with connection.execute_wrapper(timed_sql):
        jobs.work("lifecycle_sweep", run.pk)
    wall = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_path)
    run.refresh_from_db()
    print(
        json.dumps(
            {
                "status": run.status,
                "error": run.error_message,
                "deleted": run.deleted,
                "skipped_locked": run.skipped_locked,
                "errors": run.errors,
                "wall": wall,
                "sql": sql,
                "storage_seconds": storage_seconds[0],
                "storage_calls": dict(storage_service.calls),
                "rss_before_kb": rss_before,
                "rss_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )


def sweep_in_child(db, batch, s3_env, profile_path=None):
    env = {**os.environ, **s3_env, "DATABASE_URL": f"{PG}/{db}", "LIFECYCLE_SWEEP_BATCH": str(batch)}
    if profile_path:
        env["BENCH_CPROFILE"] = profile_path
    out = subprocess.run(
        [sys.executable, __file__, "--child", "sweep", "--db", db],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


# --- baselines and checks -------------------------------------------------------------------------
def tenant_id(conn):
    return conn.execute("SELECT id FROM accounts_tenant WHERE slug = %s", [SLUG]).fetchone()[0]


def baseline(db, statement):
    """Run one hand-written statement (and its commit) on ``db``; returns (seconds, rows)."""
    from datetime import UTC, datetime

    with psql(db, autocommit=False) as conn:
        params = {"tenant": tenant_id(conn), "now": datetime.now(UTC)}
        conn.commit()
        started = time.perf_counter()
        cur = conn.execute(statement, params)
        rows = cur.rowcount
        conn.commit()
        return time.perf_counter() - started, rows


def bare_deletes(db, s3_env):
    """Delete the keys the CTE baseline tombstoned with bare boto3 ``DeleteObjects`` calls of 1,000
    keys (the storage floor of the sweep's wall time); returns (seconds, calls)."""
    import boto3

    with psql(db) as conn:
        keys = [row[0] for row in conn.execute("SELECT storage_key FROM artifacts_artifact WHERE state = 'deleted'")]
    client = boto3.client(
        "s3",
        endpoint_url=s3_env["S3_ENDPOINT_URL"],
        aws_access_key_id=s3_env["S3_ACCESS_KEY_ID"],
        aws_secret_access_key=s3_env["S3_SECRET_ACCESS_KEY"],
        region_name=s3_env["S3_REGION"],
    )
    started, calls = time.perf_counter(), 0
    for i in range(0, len(keys), 1000):
        client.delete_objects(
            Bucket=s3_env["S3_BUCKET"], Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True}
        )
        calls += 1
    return time.perf_counter() - started, calls


def checks(db):
    """Facts about the swept copy: locked artifacts deleted, deleted ids, audit events."""
    with psql(db) as conn:
        tenant = tenant_id(conn)
        locked_deleted = conn.execute(
            """SELECT count(*) FROM artifacts_artifact a WHERE a.tenant_id = %s AND a.state = 'deleted'
               AND EXISTS (SELECT 1 FROM artifacts_lock l WHERE l.interaction_id = a.interaction_id
                   AND l.artifact_type = a.artifact_type AND l.audio_recording_type = a.audio_recording_type
                   AND l.released_at IS NULL)""",
            [tenant],
        ).fetchone()[0]
        deleted = conn.execute(
            "SELECT count(*), coalesce(sum(hashint8(id)), 0) FROM artifacts_artifact "
            "WHERE tenant_id = %s AND state = 'deleted'",
            [tenant],
        ).fetchone()
        events = conn.execute(
            "SELECT count(*), count(DISTINCT artifact_id) FROM accounts_auditevent "
            "WHERE tenant_id = %s AND kind = 'artifact_deleted'",
            [tenant],
        ).fetchone()
        totals = conn.execute(
            "SELECT count(*), (SELECT count(*) FROM artifacts_lock WHERE tenant_id = %s AND released_at IS NULL) "
            "FROM artifacts_artifact WHERE tenant_id = %s",
            [tenant, tenant],
        ).fetchone()
    return {"locked_deleted": locked_deleted, "deleted": deleted, "events": events, "totals": totals}


def explain_batch(db, batch):
    """The plan PostgreSQL picks for the sweep's batch select (first batch), via the ORM's own SQL."""
    env = {**os.environ, "DATABASE_URL": f"{PG}/{db}", "LIFECYCLE_SWEEP_BATCH": str(batch)}
    return subprocess.run(
        [sys.executable, __file__, "--child", "explain", "--db", db],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def protocol_floor(db, batch=None):
    """Run the protocol's floor (:data:`FLOOR_DECIDE`, :data:`FLOOR_TOMBSTONE`, the chained audit
    append) on ``db`` in a child, over all due rows at once or per ``batch``; returns its parts' seconds."""
    env = {**os.environ, "DATABASE_URL": f"{PG}/{db}", "LIFECYCLE_SWEEP_BATCH": str(batch or 0)}
    child = "floor-batched" if batch else "floor"
    out = subprocess.run(
        [sys.executable, __file__, "--child", child, "--db", db], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def child_floor_batched(batch):
    """The floor's three statements per batch of ``batch`` due rows (by id), two commits each: what
    batching alone costs (no row locks, no re-check, no storage, no counting)."""
    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Tenant
    from artifacts import disposal

    params = {"tenant": Tenant.objects.get(slug=SLUG).pk, "now": timezone.now()}
    with connection.cursor() as cur:  # the due set, untimed (the sweep's batch selects are timed apart)
        cur.execute(
            f"SELECT a.id FROM artifacts_artifact a, interactions_interaction i WHERE {DUE_SQL} ORDER BY a.id", params
        )
        due = [row[0] for row in cur.fetchall()]
    decide = FLOOR_DECIDE.replace("WHERE ", "WHERE a.id = ANY(%(ids)s::bigint[]) AND ", 1)
    tombstone = FLOOR_TOMBSTONE.replace("WHERE ", "WHERE id = ANY(%(ids)s::bigint[]) AND ", 1)
    parts = {"decide UPDATE (+ commit)": 0.0, "tombstone UPDATE": 0.0, "chained audit INSERT": 0.0, "commit": 0.0}
    for start in range(0, len(due), batch):
        ids = due[start : start + batch]
        batch_params = {**params, "ids": "{" + ",".join(map(str, ids)) + "}"}
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(decide, batch_params)
        parts["decide UPDATE (+ commit)"] += time.perf_counter() - started
        started = time.perf_counter()
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(tombstone, batch_params)
            parts["tombstone UPDATE"] += time.perf_counter() - started
            started = time.perf_counter()
            disposal._audit_deleted(ids)
            parts["chained audit INSERT"] += time.perf_counter() - started
            started = time.perf_counter()
        parts["commit"] += time.perf_counter() - started
    print(json.dumps({"parts": parts, "rows": len(due)}))


def child_floor():
    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Tenant
    from artifacts import disposal

    params = {"tenant": Tenant.objects.get(slug=SLUG).pk, "now": timezone.now()}
    parts = {}
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(FLOOR_DECIDE, params)
        ids = [row[0] for row in cur.fetchall()]
    parts["decide UPDATE (+ commit)"] = time.perf_counter() - started
    started = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(FLOOR_TOMBSTONE, params)
        parts["tombstone UPDATE"] = time.perf_counter() - started
        started = time.perf_counter()
        disposal._audit_deleted(ids)  # the application's chained append, one statement
        parts["chained audit INSERT"] = time.perf_counter() - started
        started = time.perf_counter()
    parts["commit"] = time.perf_counter() - started
    print(json.dumps({"parts": parts, "rows": len(ids)}))


def child_explain():
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Tenant
    from policies.retention import Schedule
    from policies.sweep import _due

    tenant = Tenant.objects.get(slug=SLUG)
    now = timezone.now()
    qs = (
        _due(Schedule.for_tenant(tenant.pk), tenant.pk, Schedule.delete_due(now))
        .filter(id__gt=0)
        .not_locked()
        .order_by("id")
        .select_for_update(of=("self",))
        .values_list("id", "deleting_policy")[: settings.LIFECYCLE_SWEEP_BATCH]
    )
    with transaction.atomic(), connection.cursor() as cur:
        sql, params = qs.query.sql_with_params()
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
        plan = "\n".join(row[0] for row in cur.fetchall())
        transaction.set_rollback(True)
    print(plan)


# --- S3 server --------------------------------------------------------------------------------
def start_s3():
    """moto on loopback with the sweep's bucket; returns the server and the sweep child's S3 settings."""
    import boto3

    from tests.loopback import start_moto

    server, endpoint = start_moto()

    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1"
    ).create_bucket(Bucket="bench-sweep")
    env = {
        "S3_BUCKET": "bench-sweep",
        "S3_ENDPOINT_URL": endpoint,
        "S3_ACCESS_KEY_ID": "bench",
        "S3_SECRET_ACCESS_KEY": "bench",
        "S3_REGION": "us-east-1",
        "S3_OBJECT_LOCK": "false",
    }
    return server, env


# --- one size ---------------------------------------------------------------------------------------
def measure(n, template, batch, keep_db, s3_env, explain, profile=False):
    if keep_db and seeded_size(template) == n:
        print(f"  reusing {template} ({n:,} artifacts)", flush=True)
    else:
        seed(template, n)
    copies = {name: f"{template}__{name}" for name in ("sweep", "update", "cte", "floor", "floorb")}
    for db in copies.values():
        copy_db(template, db)
    try:
        plan = explain_batch(copies["update"], batch) if explain else ""
        update_s, update_rows = baseline(copies["update"], BASELINE_UPDATE)
        cte_s, cte_rows = baseline(copies["cte"], BASELINE_CTE)
        bare_s, bare_calls = bare_deletes(copies["cte"], s3_env)
        floor = protocol_floor(copies["floor"])
        floor_batched = protocol_floor(copies["floorb"], batch)
        profile_path = f"/tmp/{template}.prof" if profile else None
        swept = sweep_in_child(copies["sweep"], batch, s3_env, profile_path)
        if profile_path:
            import pstats

            print(f"\n  Python profile of the sweep at {n:,} artifacts (cProfile, top 25 by own time):")
            pstats.Stats(profile_path).sort_stats("tottime").print_stats(25)
        facts = checks(copies["sweep"])
        expected = checks(copies["update"])["deleted"]
    finally:
        for db in copies.values():
            drop(db)
    return {
        "n": n,
        "batch": batch,
        "update": (update_s, update_rows),
        "cte": (cte_s, cte_rows),
        "bare": (bare_s, bare_calls),
        "floor": floor,
        "floor_batched": floor_batched,
        "sweep": swept,
        "facts": facts,
        "same_set": facts["deleted"] == expected,
        "plan": plan,
    }


def report(results, profile=False):
    print("\nRetention sweep — PostgreSQL, S3 (moto server, loopback), default policies (dialer 30 d, rest 365 d)")
    for r in results:
        s, f = r["sweep"], r["facts"]
        total, locks = f["totals"]
        db_s = s["sql"]["seconds"] + s["sql"]["commit_seconds"]
        update_s, update_rows = r["update"]
        cte_s, _ = r["cte"]
        floor_s = sum(r["floor"]["parts"].values())
        floorb_s = sum(r["floor_batched"]["parts"].values())
        deleted = s["deleted"]
        batches = math.ceil(update_rows / r["batch"]) if update_rows else 0
        delete_calls = s["storage_calls"].get("delete", 0)
        print(
            f"\n{total:,} artifacts, {update_rows:,} due and unlocked ({update_rows / total:.1%}), "
            f"{locks:,} active locks ({locks / total:.1%}), batch {r['batch']:,}; sweep {s['status']}"
            + (f" ({s['error']})" if s["error"] else "")
        )
        rows = [
            ("sweep wall time", f"{s['wall']:.2f} s", ""),
            ("  storage (DeleteObjects, in its thread)", f"{s['storage_seconds']:.2f} s", "overlaps the SQL"),
            (
                "sweep database time (SQL + commits)",
                f"{db_s:.2f} s",
                f"{s['sql']['statements']} statements {s['sql']['seconds']:.2f} s + "
                f"{s['sql']['commits']} commits {s['sql']['commit_seconds']:.2f} s",
            ),
            ("one UPDATE statement (baseline)", f"{update_s:.2f} s", f"{update_rows:,} rows"),
            ("  sweep / UPDATE", f"{db_s / update_s:.2f}x", "goal <= 1.5x"),
            ("one UPDATE + audit INSERT (CTE)", f"{cte_s:.2f} s", ""),
            ("  sweep / CTE", f"{db_s / cte_s:.2f}x", "goal <= 1.25x"),
            (
                "protocol floor (set-based, 3 statements)",
                f"{floor_s:.2f} s",
                ", ".join(f"{k} {v:.2f} s" for k, v in r["floor"]["parts"].items()),
            ),
            (
                "protocol floor, per batch",
                f"{floorb_s:.2f} s",
                ", ".join(f"{k} {v:.2f} s" for k, v in r["floor_batched"]["parts"].items()),
            ),
            ("  sweep / protocol floor", f"{db_s / floor_s:.2f}x", "batching, locks and re-checks, Python"),
            ("  sweep / floor per batch", f"{db_s / floorb_s:.2f}x", "locks and re-checks, batch selects, Python"),
            ("  protocol floor / CTE", f"{floor_s / cte_s:.2f}x", "second UPDATE + hash chain + two commits"),
            ("bare boto3 DeleteObjects of its keys", f"{r['bare'][0]:.2f} s", f"{r['bare'][1]} calls"),
            (
                "  sweep wall / (CTE + bare deletes)",
                f"{s['wall'] / (cte_s + r['bare'][0]):.2f}x",
                "goal <= 1.3x",
            ),
            (
                "SQL statements vs ceil(N due / batch)",
                f"{s['sql']['statements']} vs {batches}",
                f"{s['sql']['statements'] / max(batches, 1):.1f} statements per batch",
            ),
            (
                "storage calls per 1,000 keys",
                f"{delete_calls / (deleted / 1000):.3f}" if deleted else "-",
                f"{delete_calls} DeleteObjects for {deleted:,} keys; all calls {s['storage_calls']}; goal <= 1.02",
            ),
            (
                "peak memory (max RSS)",
                f"{s['rss_peak_kb'] / 1024:.0f} MiB",
                f"{s['rss_before_kb'] / 1024:.0f} MiB before the sweep "
                f"(+{(s['rss_peak_kb'] - s['rss_before_kb']) / 1024:.0f} MiB)",
            ),
            ("locked artifacts deleted", str(f["locked_deleted"]), "must be 0"),
            (
                "deleted = baseline's set",
                "yes" if r["same_set"] else "NO",
                f"sweep deleted {deleted:,} (tombstones {f['deleted'][0]:,}), "
                f"skipped locked {s['skipped_locked']:,}, errors {s['errors']}",
            ),
            (
                "audit events (deleted)",
                f"{f['events'][0]:,}",
                f"{f['events'][1]:,} distinct artifacts",
            ),
        ]
        for label, value, note in rows:
            print(f"  {label:40} {value:>16}  {note}")
        top = sorted(s["sql"]["by_kind"].items(), key=lambda item: -item[1][1])[: None if profile else 5]
        print("\n  slowest statement kinds of the sweep (count, seconds, statement start):")
        for kind, (count, seconds) in top:
            print(f"    {count:>4} {seconds:>7.2f} s  {kind[: 300 if profile else 110]}")
        if profile:
            # The storage calls run in the sweep's storage thread, overlapping its SQL.
            hidden = db_s + s["storage_seconds"] - s["wall"]
            print(
                f"    commits {s['sql']['commits']}, {s['sql']['commit_seconds']:.2f} s; "
                f"wall outside SQL: {s['wall'] - db_s:.2f} s; storage time overlapped with SQL: {hidden:.2f} s"
            )
        if r["plan"]:
            print("\n  EXPLAIN ANALYZE of the first batch select (policies.sweep._batches):")
            print("\n".join("    " + line for line in r["plan"].splitlines()))
    if len(results) > 1:
        peaks = " vs ".join(
            f"{r['sweep']['rss_peak_kb'] / 1024:.0f} MiB at {r['facts']['totals'][0]:,}" for r in results
        )
        print(f"\npeak memory: {peaks} (goal: flat)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=int, default=1_000_000)
    parser.add_argument("--memory-compare", type=int, default=100_000, help="second size for memory (0: none)")
    parser.add_argument("--batch", type=int, default=5000, help="LIFECYCLE_SWEEP_BATCH")
    parser.add_argument("--keep-db", action="store_true", help="keep (and reuse) the seeded databases")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the batch select")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print every statement kind of the sweep with its time",
    )
    parser.add_argument("--no-pipeline", action="store_true", help="the sweep's storage calls inline (for comparison)")
    parser.add_argument("--cprofile", action="store_true", help="print a cProfile of the sweep (slows it down)")
    parser.add_argument(
        "--child", choices=["seed", "sweep", "explain", "floor", "floor-batched"], help=argparse.SUPPRESS
    )
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.no_pipeline:
        os.environ["BENCH_NO_PIPELINE"] = "1"  # read by the sweep child

    if args.child:
        os.environ["DATABASE_URL"] = f"{PG}/{args.db}"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # required without DEBUG
        os.environ.pop("REDIS_URL", None)
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        {
            "seed": lambda: child_seed(args.artifacts),
            "sweep": child_sweep,
            "explain": child_explain,
            "floor": child_floor,
            "floor-batched": lambda: child_floor_batched(int(os.environ["LIFECYCLE_SWEEP_BATCH"])),
        }[args.child]()
        return

    sizes = [(args.artifacts, BENCH_DB)]
    if args.memory_compare:
        sizes.append((args.memory_compare, f"{BENCH_DB}_small"))
    server, s3_env = start_s3()
    results = []
    try:
        for n, template in sorted(sizes):
            print(f"{n:,} artifacts ...", flush=True)
            results.append(measure(n, template, args.batch, args.keep_db, s3_env, args.explain, args.cprofile))
    finally:
        server.terminate()
        server.wait(10)
        if not args.keep_db:
            for _, template in sizes:
                drop(template)
    report(results, args.profile)


if __name__ == "__main__":
    main()
