"""Benchmark of Artifacts Management Requests (not part of the test suite).

    .venv/bin/python bench/management_requests.py [--filesystem-only | --holds-only]   # file system + moto S3

200 interactions x 15 artifacts; Add Lock, Remove Lock and Delete (type Any) on PostgreSQL, on the
file system and on an S3 API server (moto, loopback). Prints, per storage and request type:

- SQL statements for 30 vs 3,000 artifacts (goal: ratio <= 1.2);
- time of the request engine vs a per-object ``save()`` loop doing the same work on an identical
  data set in the same run (goal: >= 20x faster);
- storage calls per 1,000 deleted keys (goal: <= 1.02);
- S3 legal holds per second (Object Lock on): Add Lock / Remove Lock of 40 interactions x 15
  artifacts with one PutObjectLegalHold at a time vs ``S3_HOLD_CONCURRENCY`` (16) at once, checked
  to leave the same holds (goal: >= 8x); on moto directly (loopback: each call costs moto's CPU,
  nothing to wait for) and through a proxy adding a 20 ms round trip, as S3 in the same region has.

It uses its own database (``holdfast_bench``, recreated each run) and temporary storage.
"""

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
    """A tenant with ``n_interactions`` x 15 artifacts of 512 real bytes each."""
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    tenant = account_services.create_tenant(slug, slug, actor=ACTOR, locked_interactions_limit=10_000)
    now = timezone.now()
    interactions = Interaction.objects.bulk_create(
        Interaction(tenant=tenant, channel="voice", direction="inbound", started_at=now) for _ in range(n_interactions)
    )
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
    if not holds_only:
        with override_settings(STORAGES={**settings.STORAGES, **fs}):
            rows += run_backend("filesystem")
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
