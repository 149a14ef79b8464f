"""Benchmark of Artifacts Management Requests (not part of the test suite).

    .venv/bin/python bench/management_requests.py [--filesystem-only | --holds-only | --locks-only]

200 interactions x 15 artifacts; Add Lock, Remove Lock and Delete (type Any) on PostgreSQL, on the
file system and on an S3 API server (moto, loopback). Prints, per storage and request type:

- SQL statements for 30 vs 3,000 artifacts (goal: ratio <= 1.2);
- time of the request engine vs a per-object ``save()`` loop doing the same work on an identical
  data set in the same run (goal: >= 20x faster);
- storage calls per 1,000 deleted keys (goal: <= 1.02);
- S3 legal holds per second (Object Lock on): Add Lock / Remove Lock of 40 interactions x 15
  artifacts with one PutObjectLegalHold at a time vs ``S3_HOLD_CONCURRENCY`` (16) at once, checked
  to leave the same holds (goal: >= 8x); on moto directly (loopback: each call costs moto's CPU,
  nothing to wait for) and through a proxy adding a 20 ms round trip, as S3 in the same region has;
- the lock-change floor: Add Lock / Remove Lock (Any) of 200 interactions processed as the worker
  does, and the lock change alone (``services.add_locks`` / ``release_locks``), vs hand-written SQL
  writing the same lock rows and the same chained audit events (``INSERT ... SELECT`` / ``UPDATE``,
  one statement each, see :func:`floor`) on an identical tenant, interleaved, ``LOCK_ROUNDS`` times,
  medians (goal: <= 1.5x), with the product's statements and their times.

It uses its own database (``holdfast_bench``, recreated each run) and temporary storage.
"""

import hashlib
import io
import os
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]  # no shadowed `requests` / `api`
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_DATABASE", "holdfast_bench")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
os.environ["DATABASE_URL"] = f"{PG}/{BENCH_DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # required without DEBUG
os.environ.pop("REDIS_URL", None)  # jobs run inline in this process (config.jobs): no queue involved
os.environ.setdefault("LOG_LEVEL", "WARNING")

INTERACTIONS, PER_INTERACTION = 200, 15


def recreate_database():
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


recreate_database()
import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

call_command("migrate", verbosity=0)

from accounts import services as account_services  # noqa: E402
from accounts.actors import operator  # noqa: E402
from accounts.models import AuditEvent  # noqa: E402
from artifacts import storage as storage_service  # noqa: E402
from artifacts.models import Artifact, Lock, ManagementRequest  # noqa: E402
from artifacts.services import create_management_request, store_artifact  # noqa: E402
from config import jobs  # noqa: E402
from core.vocabulary import ANY, lock_targets  # noqa: E402
from interactions.models import Interaction  # noqa: E402

ACTOR = operator("bench")
# 15 artifacts per interaction, every one covered by "Any".
KINDS = [(t, a) for t, a in lock_targets(ANY)]
KINDS = (KINDS * 2)[:PER_INTERACTION]


def build_tenant(n_interactions):
    """A tenant with ``n_interactions`` x 15 artifacts of 512 real bytes each.

    On S3 the objects are put directly (:func:`_put_objects`), not through ``store_artifact``: its
    write lists the key's versions to keep exactly one, and moto answers ListObjectVersions by
    deep-copying every version of every key in the bucket whatever the prefix. Seeding thousands of
    objects through it was quadratic in the bucket's size (a re-run hung over ten minutes with moto
    at 10 GB); one PutObject per object keeps the seed linear and moto's memory bounded."""
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    tenant = account_services.create_tenant(slug, slug, actor=ACTOR, locked_interactions_limit=10_000)
    now = timezone.now()
    interactions = Interaction.objects.bulk_create(
        Interaction(tenant=tenant, channel="voice", direction="inbound", started_at=now) for _ in range(n_interactions)
    )
    if storage_service.get_storage("active").is_s3:
        _put_objects(tenant, interactions, now)
        return tenant, interactions
    for interaction in interactions:
        for artifact_type, audio in KINDS:
            store_artifact(
                interaction.pk,
                actor=ACTOR,
                artifact_type=artifact_type,
                audio_recording_type=audio,
                content_key=str(uuid.uuid4()),
                filename="a.bin",
                stream=io.BytesIO(os.urandom(512)),
            )
    return tenant, interactions


def _put_objects(tenant, interactions, now):
    """The artifacts of :func:`build_tenant` on S3: one PutObject each (8 at a time), then their rows
    in one ``bulk_create`` with the version each put returned, as ``store_artifact`` records them."""
    from concurrent.futures import ThreadPoolExecutor

    storage = storage_service.get_storage("active")
    client, bucket = storage._client, storage.bucket
    planned = [
        (interaction, artifact_type, audio, storage_service.new_key(tenant.pk, "a.bin"), os.urandom(512))
        for interaction in interactions
        for artifact_type, audio in KINDS
    ]

    def put(item):
        return client.put_object(Bucket=bucket, Key=storage._s3_key(item[3]), Body=item[4])["VersionId"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = list(pool.map(put, planned))
    Artifact.objects.bulk_create(
        Artifact(
            tenant=tenant,
            interaction=interaction,
            artifact_type=artifact_type,
            audio_recording_type=audio,
            content_key=str(uuid.uuid4()),
            storage_key=key,
            storage_version=version,
            filename="a.bin",
            content_type="application/octet-stream",
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            created_at=now,
        )
        for (interaction, artifact_type, audio, key, body), version in zip(planned, versions, strict=True)
    )


def engine(tenant, interactions, request_type):
    """Create one request, then process it as the worker does.

    Returns (creation seconds, processing seconds, SQL statements of creation and processing).
    """
    storage_service.calls.clear()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        with transaction.atomic():
            req = create_management_request(
                tenant.pk,
                ACTOR,
                request_type=request_type,
                artifact_type=ANY,
                interaction_ids=",".join(str(i.guid) for i in interactions),
                confirmed=True,
            )
            # No inline run at commit: the worker's processing is timed on its own below.
            connection.run_on_commit = []
        created = time.perf_counter() - started
        started = time.perf_counter()
        jobs.work("management_request", req.pk)
        processed = time.perf_counter() - started
    req.refresh_from_db()
    assert req.status == ManagementRequest.Status.COMPLETE, (req.status, req.error_message)
    return created, processed, len(queries)


def naive(tenant, interactions, request_type):
    """The same work with one ORM object at a time (the baseline)."""
    actor = ACTOR.audit_columns()
    now = timezone.now()
    started = time.perf_counter()
    with transaction.atomic():
        for interaction in interactions:
            artifacts = list(Artifact.objects.filter(interaction=interaction).present())
            if request_type == "add_lock":
                for artifact_type, audio in lock_targets(ANY):
                    Lock(
                        tenant=tenant,
                        interaction=interaction,
                        artifact_type=artifact_type,
                        audio_recording_type=audio,
                        selection=ANY,
                        created_by=actor["actor_label"],
                    ).save()
                for artifact in artifacts:
                    AuditEvent(
                        tenant=tenant,
                        kind="lock_added",
                        interaction_guid=interaction.guid,
                        artifact_id=artifact.pk,
                        **actor,
                    ).save()
            elif request_type == "remove_lock":
                for lock in Lock.objects.active().filter(interaction=interaction):
                    lock.released_at, lock.released_by = now, actor["actor_label"]
                    lock.save()
                    AuditEvent(tenant=tenant, kind="lock_removed", interaction_guid=interaction.guid, **actor).save()
            else:
                for artifact in artifacts:
                    if Artifact.objects.filter(pk=artifact.pk).locked().exists():
                        continue
                    storage_service.get_storage("active").delete_many(
                        [(artifact.storage_key, artifact.storage_version)]
                    )
                    artifact.state, artifact.deleted_at, artifact.deleted_by = "deleted", now, actor["actor_label"]
                    artifact.save()
                    AuditEvent(
                        tenant=tenant,
                        kind="artifact_deleted",
                        interaction_guid=interaction.guid,
                        artifact_id=artifact.pk,
                        **actor,
                    ).save()
    return time.perf_counter() - started


def run_backend(label):
    """All three request types on one storage; the baseline works on an identical third tenant."""
    small_tenant, small = build_tenant(2)
    big_tenant, big = build_tenant(INTERACTIONS)
    base_tenant, baseline = build_tenant(INTERACTIONS)
    rows = []
    for request_type in ("add_lock", "remove_lock", "delete"):
        _, _, q_small = engine(small_tenant, small, request_type)
        created, processed, q_big = engine(big_tenant, big, request_type)
        delete_calls = storage_service.calls["delete"]
        naive_seconds = naive(base_tenant, baseline, request_type)
        deleted = Artifact.objects.filter(tenant=big_tenant, state="deleted").count() if request_type == "delete" else 0
        rows.append((label, request_type, q_small, q_big, created, processed, naive_seconds, delete_calls, deleted))
    return rows


# --- the lock-change floor --------------------------------------------------------------------------
LOCK_ROUNDS = int(os.environ.get("BENCH_LOCK_ROUNDS", 7))  # more on a loaded machine


def build_rows_tenant(n_interactions):
    """A tenant like :func:`build_tenant` with artifact rows only (no bytes): with Object Lock off a
    lock change touches no storage, so the rows are all it reads."""
    slug = f"floor-{uuid.uuid4().hex[:8]}"
    tenant = account_services.create_tenant(slug, slug, actor=ACTOR, locked_interactions_limit=10_000)
    now = timezone.now()
    interactions = Interaction.objects.bulk_create(
        Interaction(tenant=tenant, channel="voice", direction="inbound", started_at=now) for _ in range(n_interactions)
    )
    Artifact.objects.bulk_create(
        Artifact(
            tenant=tenant,
            interaction=interaction,
            artifact_type=artifact_type,
            audio_recording_type=audio,
            content_key=str(uuid.uuid4()),
            storage_key=f"{tenant.pk}/{uuid.uuid4().hex}",
            filename="a.bin",
            content_type="application/octet-stream",
            size=512,
            sha256="0" * 64,
            created_at=now,
        )
        for interaction in interactions
        for artifact_type, audio in KINDS
    )
    return tenant, interactions


def _chained_insert(source, tenant_param):
    """Hand-written: append the rows of ``source`` (a CTE body naming the event columns plus ``n``,
    their order) to the tenant's audit chain, moving its head: the chained INSERT in its least form."""
    from accounts import chain

    columns = ", ".join(chain.EVENT_COLUMNS)
    return f"""
        , head AS (SELECT seq, decode(hash, 'hex') AS h FROM accounts_auditchainhead WHERE tenant_id = {tenant_param}
                   FOR UPDATE),
        chained AS (
            SELECT s.*, head.seq + s.n AS seq,
                   holdfast_audit_chain(head.h, {chain.digest_sql("s")}) OVER (ORDER BY s.n) AS link
            FROM ({source}) s, head
        ),
        linked AS (SELECT c.*, coalesce(lag(c.link) OVER (ORDER BY c.n), (SELECT h FROM head)) AS prev FROM chained c),
        ins AS (
            INSERT INTO accounts_auditevent ({columns}, seq, prev_hash, hash)
            SELECT {columns}, seq, encode(prev, 'hex'), encode(link, 'hex') FROM linked RETURNING seq, hash
        )
        UPDATE accounts_auditchainhead SET (seq, hash) = (SELECT seq, hash FROM ins ORDER BY seq DESC LIMIT 1)
        WHERE tenant_id = {tenant_param} AND EXISTS (SELECT 1 FROM ins)
    """


def floor(tenant, interactions, request_type):
    """The floor of a lock change: hand-written SQL that writes the same lock rows and the same chained
    audit events as Add Lock / Remove Lock (Any) of ``interactions``, one statement each, no checks,
    no counts beyond what the events record. Returns (seconds, statements)."""
    who = ACTOR.audit_columns()
    ids = [i.pk for i in interactions]
    pairs = lock_targets(ANY)
    now = timezone.now()
    actor = [who["actor_user_id"], who["actor_label"], who["actor_kind"], who["actor_key"], who["source"]]
    event = (
        "%s::bigint AS tenant_id, %s::timestamptz AS occurred_at, %s::varchar AS kind, %s::bigint AS actor_user_id, "
        "%s::varchar AS actor_label, %s::varchar AS actor_kind, %s::varchar AS actor_key, %s::varchar AS source, "
        "NULL::inet AS remote_addr"
    )
    statements = []
    if request_type == "add_lock":
        values = ", ".join(["(%s, %s)"] * len(pairs))
        insert = (
            "INSERT INTO artifacts_lock (tenant_id, interaction_id, artifact_type, audio_recording_type, selection, "
            "expires_at, created_at, created_by_user_id, created_by, request_id, released_by, matter_id) "
            f"SELECT %s, i.id, p.t, p.a, %s, NULL, %s, %s, %s, NULL, '', NULL FROM interactions_interaction i, "
            f"(VALUES {values}) p(t, a) WHERE i.id = ANY(%s)"
        )
        pair_values = [x for pair in pairs for x in pair]
        statements.append((insert, [tenant.pk, ANY, now, who["actor_user_id"], who["actor_label"], *pair_values, ids]))
        source = (
            f"SELECT {event}, i.guid AS interaction_guid, NULL::bigint AS artifact_id, NULL::bigint AS request_id, "
            "%s::text AS reason, jsonb_build_object('artifact_type', %s::text, 'audio_recording_type', '', "
            "'expires_at', '', 'artifacts_locked', (SELECT count(*) FROM artifacts_artifact a "
            "WHERE a.interaction_id = i.id AND a.state IN ('stored', 'archived')), 'matter', NULL) AS details, "
            "row_number() OVER (ORDER BY i.guid) AS n FROM interactions_interaction i WHERE i.id = ANY(%s)"
        )
        params = [tenant.pk, now, "lock_added", *actor, "floor", ANY, ids]
        # Parameters in the order of the text: the head's tenant, the source's, the head's again.
        statements.append(("WITH x AS (SELECT 1)" + _chained_insert(source, "%s"), [tenant.pk, *params, tenant.pk]))
    else:
        source = (
            f"SELECT {event}, i.guid AS interaction_guid, NULL::bigint AS artifact_id, NULL::bigint AS request_id, "
            "%s::text AS reason, jsonb_build_object('lock', r.id, 'artifact_type', r.artifact_type, "
            "'audio_recording_type', r.audio_recording_type, 'expires_at', r.expires_at, 'matter', r.matter_id) "
            "AS details, row_number() OVER (ORDER BY i.guid, r.id) AS n "
            "FROM released r JOIN interactions_interaction i ON i.id = r.interaction_id"
        )
        released = (
            "WITH released AS (UPDATE artifacts_lock SET released_at = %s, released_by = %s, released_by_user_id = %s "
            "WHERE tenant_id = %s AND interaction_id = ANY(%s) AND released_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > %s) "
            "RETURNING id, interaction_id, artifact_type, audio_recording_type, expires_at, matter_id)"
        )
        params = [now, who["actor_label"], who["actor_user_id"], tenant.pk, ids, now, tenant.pk]
        params += [tenant.pk, now, "lock_removed", *actor, "floor", tenant.pk]
        statements.append((released + _chained_insert(source, "%s"), params))
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
    return time.perf_counter() - started, len(statements)


def lock_service(tenant, interactions, request_type):
    """The lock change alone, as a request's batch calls it (no request row, no item results)."""
    from artifacts import services

    ids = [i.pk for i in interactions]
    change = services.add_locks if request_type == "add_lock" else services.release_locks
    started = time.perf_counter()
    change(tenant.pk, ids, ACTOR, selection=ANY, reason="bench")
    return time.perf_counter() - started


def lock_floor_rows():
    """Product vs floor, interleaved on identical tenants, ``LOCK_ROUNDS`` add/remove cycles; returns
    ``{request type: {"request": [s], "service": [s], "floor": [s]}}``, the statements of the lock change
    and of the floor, and whether both wrote the same."""
    (req_tenant, req_i), (svc_tenant, svc_i), (floor_tenant, floor_i) = (
        build_rows_tenant(INTERACTIONS) for _ in range(3)
    )
    times = {t: {"request": [], "service": [], "floor": []} for t in ("add_lock", "remove_lock")}
    statements = {}
    for _ in range(LOCK_ROUNDS):
        for request_type in ("add_lock", "remove_lock"):
            with CaptureQueriesContext(connection) as queries:
                _, processed, _ = engine(req_tenant, req_i, request_type)
            times[request_type]["request"].append(processed)
            # The request's processing only (creating it is not timed): from the claim's advisory lock on.
            start = next(n for n, q in enumerate(queries.captured_queries) if "pg_try_advisory_lock" in q["sql"])
            statements[f"{request_type} request"] = queries.captured_queries[start - 1 :]
            with CaptureQueriesContext(connection) as queries:
                times[request_type]["service"].append(lock_service(svc_tenant, svc_i, request_type))
            statements[f"{request_type} lock change"] = queries.captured_queries
            with CaptureQueriesContext(connection) as queries:
                times[request_type]["floor"].append(floor(floor_tenant, floor_i, request_type)[0])
            statements[f"{request_type} floor"] = queries.captured_queries
    same = _same_outcome(svc_tenant, floor_tenant)
    return times, statements, same


def _same_outcome(product, floor_tenant):
    """Whether the floor wrote what the product wrote: lock rows and audit events per kind and details."""

    def summary(tenant):
        locks = Lock.objects.filter(tenant=tenant)
        events = AuditEvent.objects.filter(tenant=tenant, kind__in=["lock_added", "lock_removed"])
        return (
            sorted(locks.values_list("interaction__guid", "artifact_type", "audio_recording_type", "released_at")),
            sorted(
                (kind, guid, sorted((k, str(v)) for k, v in details.items() if k != "lock"))
                for kind, guid, details in events.values_list("kind", "interaction_guid", "details")
            ),
        )

    (locks_p, events_p), (locks_f, events_f) = summary(product), summary(floor_tenant)
    # The tenants' interactions differ: compare what each row says, not which interaction it names.
    return sorted(str((t, a, at is None)) for _, t, a, at in locks_p) == sorted(
        str((t, a, at is None)) for _, t, a, at in locks_f
    ) and sorted(str((kind, details)) for kind, _, details in events_p) == sorted(
        str((kind, details)) for kind, _, details in events_f
    )


def report_lock_floor(times, statements, same):
    """Print product / floor, the goal, and the product's statements with their times."""
    from statistics import median

    print(f"\nLock-change floor — {INTERACTIONS} interactions x {PER_INTERACTION} artifacts, Any, "
          f"{LOCK_ROUNDS} interleaved rounds, medians; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'change':12} {'request s':>10} {'service s':>10} {'floor s':>8} {'request/floor':>14} "
          f"{'service/floor':>14}")  # fmt: skip
    for request_type, t in times.items():
        req, svc, flo = median(t["request"]), median(t["service"]), median(t["floor"])
        print(f"{request_type:12} {req:>10.4f} {svc:>10.4f} {flo:>8.4f} {req / flo:>13.2f}x {svc / flo:>13.2f}x")
    print(f"same lock rows and audit events as the product: {same}. goal: <= 1.5x the floor.")
    for request_type, queries in statements.items():
        total = sum(float(q["time"]) for q in queries)
        print(f"  {request_type}, {len(queries)} statements, {total * 1000:.1f} ms in SQL (last round):")
        for q in queries:
            print(f"    {float(q['time']) * 1000:7.1f} ms  {q['sql'][:150]}")


def s3_settings(endpoint, bucket):
    options = {
        "bucket_name": bucket,
        "endpoint_url": endpoint,
        "access_key": "bench",
        "secret_key": "bench",
        "region_name": "us-east-1",
        "default_acl": None,
        "file_overwrite": True,
    }
    s3 = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    return {"active": s3, "archive": {**s3, "OPTIONS": {**options, "location": "archive"}}}


def main():
    from django.conf import settings

    workdir = Path(tempfile.mkdtemp(prefix="holdfast-bench-"))
    fs = {
        name: {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(workdir / name)}}
        for name in ("active", "archive")
    }
    rows = []
    holds_only = "--holds-only" in sys.argv
    if "--locks-only" in sys.argv:
        with override_settings(STORAGES={**settings.STORAGES, **fs}):
            report_lock_floor(*lock_floor_rows())
        return
    if not holds_only:
        with override_settings(STORAGES={**settings.STORAGES, **fs}):
            rows += run_backend("filesystem")
            lock_floor = lock_floor_rows()
    if "--filesystem-only" not in sys.argv:
        from tests.loopback import start_moto

        server, endpoint = start_moto()
        try:
            import boto3

            boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
                region_name="us-east-1",
            ).create_bucket(Bucket="bench", ObjectLockEnabledForBucket=True)
            with override_settings(STORAGES={**settings.STORAGES, **s3_settings(endpoint, "bench")}):
                if not holds_only:
                    rows += run_backend("s3 (moto)")
                hold_rows = holds_throughput("loopback")
            from tests.s3proxy import S3Proxy

            with S3Proxy(endpoint, latency=0.02) as proxy:
                slow = {**settings.STORAGES, **s3_settings(proxy.url, "bench")}
                with override_settings(STORAGES=slow):
                    hold_rows += holds_throughput("+20 ms RTT")
        finally:
            server.terminate()
    shutil.rmtree(workdir, ignore_errors=True)
    if rows:
        report(rows)
        report_lock_floor(*lock_floor)
    if "--filesystem-only" not in sys.argv:
        report_holds(hold_rows)


HOLD_INTERACTIONS = 40


def holds_throughput(network):
    """Add Lock then Remove Lock with S3 legal holds, sequential and concurrent, on fresh tenants;
    returns ``(network, concurrency, request type, objects, seconds, holds all as expected)`` rows.
    A small warm-up request first, so each thread's S3 connection exists before the clock runs."""
    from django.conf import settings

    rows = []
    for concurrency in (1, settings.S3_HOLD_CONCURRENCY if settings.S3_HOLD_CONCURRENCY > 1 else 16):
        with override_settings(S3_OBJECT_LOCK=True, S3_HOLD_CONCURRENCY=concurrency):
            warm_tenant, warm = build_tenant(4)
            engine(warm_tenant, warm, "add_lock")
            tenant, interactions = build_tenant(HOLD_INTERACTIONS)
            objects = Artifact.objects.filter(tenant=tenant).count()
            for request_type, expected in (("add_lock", "ON"), ("remove_lock", "OFF")):
                _, processed, _ = engine(tenant, interactions, request_type)
                rows.append((network, concurrency, request_type, objects, processed, _holds_are(tenant, expected)))
    return rows


def _holds_are(tenant, expected):
    """Whether every object of ``tenant`` carries (``"ON"``) or lacks its legal hold, asked of S3."""
    storage = storage_service.get_storage("active")
    client = storage._client
    for key, version in Artifact.objects.filter(tenant=tenant).values_list("storage_key", "storage_version"):
        answer = client.get_object_legal_hold(Bucket=storage.bucket, Key=storage._s3_key(key), VersionId=version)
        if answer["LegalHold"].get("Status", "OFF") != expected:
            return False
    return True


def report_holds(rows):
    """Print holds per second, sequential vs concurrent."""
    print(f"\nS3 legal holds (moto, Object Lock) — {HOLD_INTERACTIONS} interactions x {PER_INTERACTION} artifacts")
    print(
        f"{'network':12} {'concurrency':>11} {'request':12} {'objects':>8} {'process s':>10} {'holds / s':>10} "
        f"{'same holds':>11}"
    )
    sequential = {}
    for network, concurrency, request_type, objects, seconds, ok in rows:
        rate = objects / seconds
        sequential.setdefault((network, request_type), rate)
        speedup = f"  {rate / sequential[network, request_type]:.1f}x" if concurrency > 1 else ""
        print(
            f"{network:12} {concurrency:>11} {request_type:12} {objects:>8} {seconds:>10.3f} {rate:>10.0f} "
            f"{ok!s:>11}{speedup}"
        )
    print("goal: >= 8x the sequential holds per second, the same holds in S3 afterwards.")
    # moto is one Python process: its own rate on loopback with every thread busy is the most any
    # concurrency can reach through the proxy, whatever the round trip.
    ceiling = {rt: objects / seconds for net, c, rt, objects, seconds, _ in rows if net == "loopback" and c > 1}
    for (network, request_type), rate in sequential.items():
        if network != "loopback" and request_type in ceiling:
            print(
                f"  {network} {request_type}: moto's own ceiling (loopback, concurrent) {ceiling[request_type]:.0f} "
                f"holds/s caps the speed-up at {ceiling[request_type] / rate:.1f}x on this machine now"
            )


def report(rows):
    """Print the figures next to their goals."""
    print(f"\nArtifacts Management Requests — {INTERACTIONS} interactions x {PER_INTERACTION} artifacts, PostgreSQL")
    print(
        f"{'storage':12} {'request':12} {'SQL 30':>7} {'SQL 3000':>9} {'ratio':>6} {'create s':>9} "
        f"{'process s':>10} {'save() s':>9} {'faster':>8} {'delete calls / 1000 keys':>25}"
    )
    for label, request_type, q_small, q_big, created, processed, naive_s, calls, deleted in rows:
        per_1000 = f"{calls / (deleted / 1000):.2f}" if deleted else "-"
        print(
            f"{label:12} {request_type:12} {q_small:>7} {q_big:>9} {q_big / q_small:>6.2f} {created:>9.3f} "
            f"{processed:>10.3f} {naive_s:>9.3f} {naive_s / processed:>7.1f}x {per_1000:>25}"
        )
    print(
        "\ngoals: SQL ratio <= 1.2; processing >= 20x faster than the per-object save() loop; <= 1.02 storage"
        " calls per 1,000 deleted keys (the file system has no batch delete: one unlink per key)."
    )


if __name__ == "__main__":
    main()
