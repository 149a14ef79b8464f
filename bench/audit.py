"""Benchmark of the hash-chained audit trail (not part of the test suite).

    .venv/bin/python bench/audit.py [--events 1000000] [--runs 2] [--interactions 200]

Uses its own PostgreSQL database (``holdfast_bench_audit`` on 127.0.0.1, recreated each run) and
temporary file storage. Prints:

- processing time of a Delete request of 200 interactions x 15 artifacts (3,000 artifacts, type
  Any), with the chain and without it, in the same run, alternating, on identical tenants (goal:
  chained <= 1.2x). "Without" replaces the chain's two append functions by the pre-chain plain
  ``INSERT ... SELECT`` (seq from a sequence, no head lock, no hashes);
- the cost of ``audit.record`` (one event, one statement) with and without the chain;
- bulk appends through the writer (``INSERT ... SELECT generate_series``, 100,000 events per
  statement) up to ``--events`` events for one tenant, then ``verify_audit`` on them (goal:
  >= 100,000 events/s), and the Python reference verifier's rate on a sample for comparison.
"""

import argparse
import contextlib
import io
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]  # no shadowed `requests` / `api`
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_DATABASE", "holdfast_bench_audit")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
os.environ["DATABASE_URL"] = f"{PG}/{BENCH_DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.pop("REDIS_URL", None)
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="holdfast-bench-audit-")
os.environ["DEBUG"] = "true"  # a development signing key under DATA_DIR


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
from django.utils import timezone  # noqa: E402

call_command("migrate", verbosity=0)

from accounts import audit, chain  # noqa: E402
from accounts import services as account_services  # noqa: E402
from accounts.actors import operator  # noqa: E402
from accounts.models import AuditEvent  # noqa: E402
from accounts.verification import content_ok, verify_tenant  # noqa: E402
from artifacts.models import ManagementRequest  # noqa: E402
from artifacts.services import create_management_request, store_artifact  # noqa: E402
from config import jobs  # noqa: E402
from core.vocabulary import ANY, lock_targets  # noqa: E402
from interactions.models import Interaction  # noqa: E402

ACTOR = operator("bench")
KINDS = (list(lock_targets(ANY)) * 2)[:15]


# --- the pre-chain writer, for "without the chain" ------------------------------------------------------
def _plain_sql(source_sql):
    casts = ", ".join(f"s.{c}::{chain._TYPES[c]}" for c in chain.EVENT_COLUMNS)
    return (
        f"INSERT INTO {chain.EVENTS} ({', '.join(chain.EVENT_COLUMNS)}, seq, prev_hash, hash) "
        f"SELECT {casts}, nextval('bench_plain_seq'), '', '' FROM ({source_sql}) s"
    )


def plain_select(sql, params, tenant_id=None):
    with connection.cursor() as cursor:
        cursor.execute(_plain_sql(sql), list(params))
        return cursor.rowcount


def plain_values(row):
    field = AuditEvent._meta.get_field("details")
    params = [field.get_db_prep_save(row[c], connection) if c == "details" else row[c] for c in chain.EVENT_COLUMNS]
    select = ", ".join(f"%s AS {c}" for c in chain.EVENT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(_plain_sql(f"SELECT {select}") + " RETURNING id, seq, prev_hash, hash", params)
        return cursor.fetchone()


APPEND_SECONDS = [0.0]


def timed(function):
    """``function``, adding its run time to :data:`APPEND_SECONDS` (the audit appends' share)."""

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            APPEND_SECONDS[0] += time.perf_counter() - started

    return wrapper


class Timed:
    """Within this block, the appends in use (chained or not) are timed."""

    def __enter__(self):
        self.saved = chain.append_select, chain.append_values
        chain.append_select, chain.append_values = timed(chain.append_select), timed(chain.append_values)
        APPEND_SECONDS[0] = 0.0

    def __exit__(self, *exc):
        chain.append_select, chain.append_values = self.saved


class Unchained:
    """Within this block, appends use the pre-chain statements."""

    def __enter__(self):
        self.saved = chain.append_select, chain.append_values
        chain.append_select, chain.append_values = plain_select, plain_values

    def __exit__(self, *exc):
        chain.append_select, chain.append_values = self.saved


# --- the Delete request ---------------------------------------------------------------------------------
def build_tenant(n_interactions):
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    tenant = account_services.create_tenant(slug, slug, actor=ACTOR, locked_interactions_limit=10_000)
    interactions = Interaction.objects.bulk_create(
        Interaction(tenant=tenant, channel="voice", direction="inbound", started_at=timezone.now())
        for _ in range(n_interactions)
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


def delete_request(tenant, interactions):
    with transaction.atomic():
        req = create_management_request(
            tenant.pk,
            ACTOR,
            request_type="delete",
            artifact_type=ANY,
            interaction_ids=",".join(str(i.guid) for i in interactions),
            confirmed=True,
        )
        connection.run_on_commit = []
    before = AuditEvent.objects.filter(tenant=tenant).count()
    with Timed():
        started = time.perf_counter()
        jobs.work("management_request", req.pk)
        seconds = time.perf_counter() - started
    req.refresh_from_db()
    assert req.status == ManagementRequest.Status.COMPLETE, (req.status, req.error_message)
    return seconds, AuditEvent.objects.filter(tenant=tenant).count() - before


def bench_delete(runs, n_interactions):
    times = {"chained": [], "plain": []}
    appends = {"chained": [], "plain": []}
    events = 0
    for run in range(runs):
        for variant in ("chained", "plain") if run % 2 == 0 else ("plain", "chained"):
            tenant, interactions = build_tenant(n_interactions)
            if variant == "plain":
                with Unchained():
                    seconds, events = delete_request(tenant, interactions)
            else:
                seconds, events = delete_request(tenant, interactions)
                assert verify_tenant(tenant, record=False).ok
            times[variant].append(seconds)
            appends[variant].append(APPEND_SECONDS[0])
            print(
                f"  run {run + 1} {variant:8} {seconds:7.3f} s "
                f"({events} audit events, appends {APPEND_SECONDS[0]:.3f} s)",
                flush=True,
            )
    chained, plain = statistics.median(times["chained"]), statistics.median(times["plain"])
    chained_appends, plain_appends = statistics.median(appends["chained"]), statistics.median(appends["plain"])
    print(
        f"Delete {n_interactions} x 15 artifacts: chained {chained:.3f} s, without the chain {plain:.3f} s "
        f"(medians of {runs}) -> {chained / plain:.3f}x (goal <= 1.2x); {events} audit events per request"
    )
    # Machine load moves whole runs by seconds; the appends' own time is what the chain changes.
    others = statistics.median(
        [t - a for t, a in zip(times["plain"] + times["chained"], appends["plain"] + appends["chained"], strict=True)]
    )
    print(
        f"  audit appends inside the request: chained {chained_appends:.3f} s, without {plain_appends:.3f} s; "
        f"with the rest of the processing at its median ({others:.3f} s): "
        f"{(others + chained_appends) / (others + plain_appends):.3f}x"
    )


def bench_record(count=2000):
    tenant = account_services.create_tenant("rec", f"rec-{uuid.uuid4().hex[:6]}", actor=ACTOR)
    rates = {}
    for variant in ("chained", "plain", "chained", "plain"):
        context = Unchained() if variant == "plain" else contextlib.nullcontext()
        with context:
            started = time.perf_counter()
            for n in range(count):
                with transaction.atomic():
                    audit.record(tenant.pk, AuditEvent.Kind.ARTIFACT_VIEWED, ACTOR, artifact_id=n, filename="a.wav")
            rates.setdefault(variant, []).append((time.perf_counter() - started) / count * 1e6)
    chained, plain = min(rates["chained"]), min(rates["plain"])
    print(f"audit.record, one event per transaction: chained {chained:.0f} us, without {plain:.0f} us per call")


# --- verify at scale ---------------------------------------------------------------------------------------
SEED = """
    SELECT %s AS tenant_id, now() - make_interval(secs => 1000000 - g) AS occurred_at,
           (ARRAY['artifact_viewed','artifact_deleted','lock_added','artifact_played'])[1 + g %% 4] AS kind,
           NULL AS actor_user_id, 'policy "Everything else"' AS actor_label, 'system' AS actor_kind,
           'policy:' || (g %% 7) AS actor_key, 'job' AS source, NULL AS remote_addr,
           md5(g::text)::uuid AS interaction_guid, g AS artifact_id, NULL AS request_id, 'retention' AS reason,
           jsonb_build_object('storage_key', md5(g::text) || '/recording.wav', 'n', g) AS details
    FROM generate_series(%s, %s) g
"""


def bench_verify(total, batch=100_000):
    tenant = account_services.create_tenant("big", f"big-{uuid.uuid4().hex[:6]}", actor=ACTOR)
    have = AuditEvent.objects.filter(tenant=tenant).count()
    started, done = time.perf_counter(), 0
    while have + done < total:
        n = min(batch, total - have - done)
        with transaction.atomic():
            chain.append_select(SEED, [tenant.pk, done + 1, done + n], tenant_id=tenant.pk)
        done += n
    seconds = time.perf_counter() - started
    print(f"bulk append through the writer: {done:,} events in {seconds:.1f} s ({done / seconds:,.0f} events/s)")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE accounts_auditevent")
    started = time.perf_counter()
    result = verify_tenant(tenant, record=False)
    seconds = time.perf_counter() - started
    assert result.ok, result.line
    print(f"verify_audit: {result.events:,} events in {seconds:.1f} s -> {result.events / seconds:,.0f} events/s "
          f"(goal >= 100,000)\n  {result.line}")  # fmt: skip
    sample = list(AuditEvent.objects.filter(tenant=tenant).order_by("seq")[:50_000])
    started = time.perf_counter()
    assert all(content_ok(event) for event in sample)
    seconds = time.perf_counter() - started
    print(f"Python reference hashing (rows already in memory): {len(sample) / seconds:,.0f} events/s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--interactions", type=int, default=200)
    args = parser.parse_args()
    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE IF NOT EXISTS bench_plain_seq START 1000000000")
    print(f"PostgreSQL {connection.pg_version}; {os.cpu_count()} CPUs")
    bench_record()
    bench_delete(args.runs, args.interactions)
    bench_verify(args.events)


if __name__ == "__main__":
    main()
