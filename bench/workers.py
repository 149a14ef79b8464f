"""Benchmark of workers scaling out (not part of the test suite): 1, 2 and 4 real RQ workers on the
same queued Artifacts Management Requests, then checked for deadlocks, lock violations and counts.

    .venv/bin/python bench/workers.py [--rounds 3] [--counts 1 2 4] [--requests 20] [--interactions 200]
                                      [--pool 600] [--per-interaction 5] [--seed 15]

One tenant with ``--pool`` interactions of ``--per-interaction`` artifacts each (512 real bytes on
the file system) is built once in a template database. Each run gets a fresh copy of that database
(``CREATE DATABASE ... TEMPLATE``) and of the files, starts N ``manage.py rqworker`` processes on a
queue of its own (Redis ``BENCH_REDIS_URL``, default db 15), waits until they are idle, then creates
``--requests`` requests of ``--interactions`` interactions each in one transaction — Add Lock (Any)
and Delete (Any) alternately, over seeded random, overlapping samples of the pool — so the jobs
reach the queue at one instant, and times from that commit until every request is finished.
The worker counts run interleaved (1, 2, 4, 1, 2, 4 ...) so that the machine's other load falls on
all of them alike; the load average is printed with every run.

Checked after every run (each a failure of the run when not 0 / exact):

- **deadlocks**: ``pg_stat_database.deadlocks`` of the run's database (new, so its delta), the
  PostgreSQL log's ``deadlock detected`` lines of that database, and requests whose error mentions
  a deadlock;
- **lock violations**: an artifact deleted although a lock covering it was created before its
  deletion was decided (``Lock.created_at < Artifact.deletion_started_at``: the lock had its row
  locks before the delete asked for them, so the delete must have waited and skipped it); and per
  interaction, fewer present artifacts at the end than an Add Lock item (and its ``lock_added`` audit
  event) counted as locked — no lock is ever released here, so what a lock held must still be there;
- **exact counts**: every request Complete; per Delete item ``matched == deleted + skipped_locked``;
  the Delete items' ``deleted`` sum == tombstones of those requests == their ``artifact_deleted``
  audit events == files gone from storage; per Add Lock item 10 lock rows (*Any*) and one
  ``lock_added`` event; ``locked`` + ``already_deleting`` of an item == the interaction's artifacts
  not deleted before it (present or being deleted at its commit).

It uses its own databases (``holdfast_bench_workers*``, dropped afterwards) and temporary storage.
"""

import argparse
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]  # no shadowed `requests` / `api`
sys.path.insert(0, str(ROOT))
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PREFIX = os.environ.get("BENCH_DATABASE", "holdfast_bench_workers")
TEMPLATE = f"{PREFIX}_template"
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
QUEUE = f"holdfast-bench-workers-{os.getpid()}"
PG_LOG = Path(os.environ.get("BENCH_PG_LOG", "/var/log/postgresql/postgresql-15-main.log"))
WORK = Path(tempfile.mkdtemp(prefix="holdfast-bench-workers-"))

os.environ.update(
    DATABASE_URL=f"{PG}/{TEMPLATE}",
    DJANGO_SETTINGS_MODULE="config.settings",
    REDIS_URL=REDIS,
    RQ_QUEUE=QUEUE,
    DATA_DIR=str(WORK / "template"),
    LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
)
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # required without DEBUG


def psql(db="postgres"):
    import psycopg

    return psycopg.connect(f"{PG}/{db}", autocommit=True)


def fresh_db(name, template=None):
    with psql() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def drop_db(name):
    with psql() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="times each worker count runs (interleaved)")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4], help="worker counts")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--interactions", type=int, default=200, help="interactions per request (at most 200)")
    parser.add_argument("--pool", type=int, default=600, help="interactions the requests sample from (overlap)")
    parser.add_argument("--per-interaction", type=int, default=5, help="artifacts per interaction")
    parser.add_argument("--seed", type=int, default=15)
    return parser.parse_args()


ARGS = parse_args()
fresh_db(TEMPLATE)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

call_command("migrate", verbosity=0)

from accounts import services as account_services  # noqa: E402
from accounts.actors import operator  # noqa: E402
from accounts.models import AuditEvent  # noqa: E402
from artifacts.models import Artifact, Lock, ManagementRequest, ManagementRequestItem  # noqa: E402
from artifacts.services import create_management_request, store_artifact  # noqa: E402
from core.vocabulary import ANY, ArtifactState, lock_targets  # noqa: E402
from interactions.models import Interaction  # noqa: E402

ACTOR = operator("bench")
KINDS = (list(lock_targets(ANY)) * 2)[: ARGS.per_interaction]
PAIRS = len(lock_targets(ANY))
FINISHED = (ManagementRequest.Status.COMPLETE, ManagementRequest.Status.ERROR, ManagementRequest.Status.CANCELLED)


def build_template():
    """The tenant and its pool of interactions and artifacts (stored through the product)."""
    import io

    tenant = account_services.create_tenant("bench", "bench", actor=ACTOR, locked_interactions_limit=100_000)
    now = timezone.now()
    interactions = Interaction.objects.bulk_create(
        Interaction(tenant=tenant, channel="voice", direction="inbound", started_at=now) for _ in range(ARGS.pool)
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
    return tenant.pk, [str(i.guid) for i in interactions]


def plan(guids):
    """The requests of every run: (type, guids), Add Lock and Delete alternately, seeded samples."""
    rng = random.Random(ARGS.seed)
    return [
        ("add_lock" if n % 2 == 0 else "delete", rng.sample(guids, ARGS.interactions)) for n in range(ARGS.requests)
    ]


def use_database(name):
    """Point this process's connection at ``name`` (the run's copy of the template)."""
    connections.close_all()
    connection.settings_dict["NAME"] = name


# --- workers --------------------------------------------------------------------------------------------
def start_workers(count, env):
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", QUEUE],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    from redis import Redis
    from rq import Queue, Worker

    queue = Queue(QUEUE, connection=Redis.from_url(REDIS))
    deadline = time.monotonic() + 120
    while len([w for w in Worker.all(queue=queue) if w.get_state() == "idle"]) < count:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            stop_workers(procs)
            raise SystemExit(f"{count} workers did not become idle on {QUEUE}")
        time.sleep(0.1)
    return procs


def stop_workers(procs):
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


# --- one run ----------------------------------------------------------------------------------------------
def deadlocks_counter(db):
    with psql() as conn:
        row = conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = %s", [db]).fetchone()
    return row[0] if row else 0


def log_size():
    try:
        return PG_LOG.stat().st_size
    except OSError:
        return None


def log_deadlocks(db, since):
    """``deadlock detected`` lines of database ``db`` the PostgreSQL log got since byte ``since``."""
    if since is None:
        return None
    with PG_LOG.open("rb") as handle:
        handle.seek(since)
        text = handle.read().decode("utf-8", "replace")
    return [line for line in text.splitlines() if f"@{db} " in line and "deadlock detected" in line]


def one_run(label, count, tenant_id, requests):
    """N workers on a fresh copy; returns the run's figures and the check's findings."""
    db = f"{PREFIX}_{label}"
    use_database(TEMPLATE)
    connections.close_all()
    fresh_db(db, TEMPLATE)
    data_dir = WORK / label
    shutil.copytree(WORK / "template", data_dir)
    use_database(db)
    env = {**os.environ, "DATABASE_URL": f"{PG}/{db}", "DATA_DIR": str(data_dir)}
    procs = start_workers(count, env)
    deadlocks_before, log_from = deadlocks_counter(db), log_size()
    load = os.getloadavg()[0]
    try:
        with transaction.atomic():
            ids = [
                create_management_request(
                    tenant_id,
                    ACTOR,
                    request_type=request_type,
                    artifact_type=ANY,
                    interaction_ids=",".join(guids),
                    confirmed=True,
                ).pk
                for request_type, guids in requests
            ]
        started = time.perf_counter()  # the jobs reach the queue as the transaction commits
        while ManagementRequest.objects.filter(pk__in=ids).exclude(status__in=FINISHED).exists():
            time.sleep(0.02)
        seconds = time.perf_counter() - started
    finally:
        stop_workers(procs)
    figures = {
        "label": label,
        "workers": count,
        "seconds": seconds,
        "load": load,
        "load_after": os.getloadavg()[0],
        "deadlocks": deadlocks_counter(db) - deadlocks_before,
        "log_deadlocks": log_deadlocks(db, log_from),
    }
    findings = check(ids, data_dir, figures)
    use_database(TEMPLATE)
    drop_db(db)
    shutil.rmtree(data_dir, ignore_errors=True)
    return figures, findings


# --- the checks -------------------------------------------------------------------------------------------
def check(ids, data_dir, figures):
    """Deadlocks, lock violations and exact counts of a finished run; a list of findings (empty: all good)."""
    from django.db.models import Count, Exists, F, OuterRef, Q, Sum

    findings = []
    if figures["deadlocks"]:
        findings.append(f"pg_stat_database.deadlocks rose by {figures['deadlocks']}")
    if figures["log_deadlocks"]:
        findings += [f"log: {line}" for line in figures["log_deadlocks"][:5]]
    reqs = ManagementRequest.objects.filter(pk__in=ids)
    for req in reqs.exclude(status=ManagementRequest.Status.COMPLETE):
        findings.append(f"request {req.pk} {req.request_type} is {req.status}: {req.error_message[:200]}")
    for req in reqs.filter(error_message__icontains="deadlock"):
        findings.append(f"request {req.pk} failed on a deadlock")
    errored = ManagementRequestItem.objects.filter(request__in=ids, status=ManagementRequestItem.Status.ERROR)
    for item in errored[:5]:
        findings.append(f"item {item.pk} of request {item.request_id}: {item.error[:200]}")

    # Lock violations, artifact by artifact: a lock created before the deletion was decided.
    early_lock = Lock.objects.filter(
        interaction_id=OuterRef("interaction_id"),
        artifact_type=OuterRef("artifact_type"),
        audio_recording_type=OuterRef("audio_recording_type"),
        created_at__lt=OuterRef("deletion_started_at"),
    )
    gone = Artifact.objects.filter(state__in=(ArtifactState.DELETED, ArtifactState.DELETING))
    violations = list(gone.filter(Exists(early_lock)).values_list("id", "interaction_id")[:20])
    findings += [f"LOCK VIOLATION: artifact {pk} of interaction {iid} deleted after a lock" for pk, iid in violations]
    # ... and interaction by interaction: what a lock held is still there.
    present = dict(
        Artifact.objects.filter(state__in=(ArtifactState.STORED, ArtifactState.ARCHIVED))
        .values("interaction_id")
        .annotate(n=Count("id"))
        .values_list("interaction_id", "n")
    )
    lock_items = ManagementRequestItem.objects.filter(request__in=ids, request__request_type="add_lock")
    for iid, locked in lock_items.values_list("interaction_id", "locked"):
        if present.get(iid, 0) < locked:
            findings.append(f"LOCK VIOLATION: interaction {iid}: {locked} locked, {present.get(iid, 0)} left")
    guid_of = dict(Interaction.objects.values_list("guid", "id"))
    for event in AuditEvent.objects.filter(kind=AuditEvent.Kind.LOCK_ADDED, request_id__in=ids):
        iid = guid_of[event.interaction_guid]
        if present.get(iid, 0) < event.details["artifacts_locked"]:
            findings.append(f"LOCK VIOLATION (audit): interaction {iid}: {event.details} vs {present.get(iid, 0)}")

    # Exact counts.
    deletes = ManagementRequestItem.objects.filter(request__in=ids, request__request_type="delete")
    bad = deletes.exclude(matched=F("deleted") + F("skipped_locked"))
    findings += [f"item {i.pk}: matched {i.matched} != deleted {i.deleted} + skipped {i.skipped_locked}" for i in bad]
    deleted_sum = deletes.aggregate(n=Sum("deleted"))["n"] or 0
    tombstones = Artifact.objects.filter(state=ArtifactState.DELETED, deletion_request_id__in=ids).count()
    events = AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED, request_id__in=ids).count()
    all_tombstones = Artifact.objects.filter(state=ArtifactState.DELETED).count()
    files = sum(1 for p in (data_dir / "storage" / "active").rglob("*") if p.is_file())
    total = Artifact.objects.count()
    if not (deleted_sum == tombstones == events == all_tombstones == total - files):
        findings.append(
            f"delete counts differ: items {deleted_sum}, tombstones {tombstones} (all {all_tombstones}), "
            f"audit {events}, files removed {total - files}"
        )
    if Artifact.objects.filter(state=ArtifactState.DELETING).exists():
        findings.append("artifacts left being deleted")
    lock_rows = dict(
        Lock.objects.filter(request__in=ids).values("request_id").annotate(n=Count("id")).values_list("request_id", "n")
    )
    lock_events = dict(
        AuditEvent.objects.filter(kind=AuditEvent.Kind.LOCK_ADDED, request_id__in=ids)
        .values("request_id")
        .annotate(n=Count("id"))
        .values_list("request_id", "n")
    )
    for req in reqs.filter(request_type="add_lock"):
        n = req.interaction_count
        if lock_rows.get(req.pk, 0) != n * PAIRS or lock_events.get(req.pk, 0) != n:
            findings.append(f"request {req.pk}: {lock_rows.get(req.pk, 0)} lock rows, {lock_events.get(req.pk)} events")
    # Add Lock: locked + already_deleting == the interaction's artifacts not yet tombstoned at its commit.
    per = ARGS.per_interaction
    for item in lock_items.filter(~Q(locked__lte=per)):
        findings.append(f"item {item.pk}: locked {item.locked} > {per}")
    figures["items"] = ManagementRequestItem.objects.filter(request__in=ids).count()
    figures["deleted"] = deleted_sum
    figures["skipped_locked"] = deletes.aggregate(n=Sum("skipped_locked"))["n"] or 0
    figures["locked"] = lock_items.aggregate(n=Sum("locked"))["n"] or 0
    figures["artifacts"] = figures["locked"] + deletes.aggregate(n=Sum("matched"))["n"] or 0
    return findings


# --- main -------------------------------------------------------------------------------------------------
def main():
    started = time.perf_counter()
    tenant_id, guids = build_template()
    requests = plan(guids)
    connections.close_all()
    print(
        f"template: 1 tenant, {ARGS.pool} interactions x {ARGS.per_interaction} artifacts (file system), "
        f"built in {time.perf_counter() - started:.0f} s; {ARGS.requests} requests x {ARGS.interactions} "
        f"interactions (Add Lock / Delete, Any, alternately); {os.cpu_count()} cores",
        flush=True,
    )
    results = []
    try:
        for round_ in range(ARGS.rounds):
            for count in ARGS.counts:
                figures, findings = one_run(f"r{round_}_w{count}", count, tenant_id, requests)
                results.append((figures, findings))
                print(
                    f"  round {round_ + 1}, {count} worker(s): {figures['seconds']:.2f} s, load average "
                    f"{figures['load']:.2f} -> {figures['load_after']:.2f}, "
                    f"{'OK' if not findings else f'{len(findings)} finding(s)'}",
                    flush=True,
                )
                for line in findings[:20]:
                    print(f"      {line}")
    finally:
        drop_db(TEMPLATE)
        shutil.rmtree(WORK, ignore_errors=True)
    report(results)
    return 1 if any(findings for _, findings in results) else 0


def report(results):
    """Per worker count: the median run's time and rates (each run's own counts), speed-up over one worker."""
    from statistics import median

    print(f"\nWorkers scale-out — {ARGS.requests} requests x {ARGS.interactions} interactions, PostgreSQL, file system")
    print(
        f"{'workers':>7} {'runs':>4} {'best s':>7} {'median s':>9} {'requests/min':>13} {'items/s':>8} "
        f"{'artifacts/s':>12} {'vs 1':>6} {'deadlocks':>10} {'violations':>11} {'counts':>7}"
    )
    base = None
    for count in ARGS.counts:
        runs = [(f, x) for f, x in results if f["workers"] == count]
        seconds = median(f["seconds"] for f, _ in runs)
        items = median(f["items"] / f["seconds"] for f, _ in runs)
        artifacts = median(f["artifacts"] / f["seconds"] for f, _ in runs)
        deadlocks = sum(f["deadlocks"] + len(f["log_deadlocks"] or []) for f, _ in runs)
        violations = sum(1 for _, x in runs for line in x if "VIOLATION" in line)
        counts_ok = all(not [line for line in x if "VIOLATION" not in line] for _, x in runs)
        base = base or seconds
        print(
            f"{count:>7} {len(runs):>4} {min(f['seconds'] for f, _ in runs):>7.2f} {seconds:>9.2f} "
            f"{ARGS.requests / seconds * 60:>13.1f} {items:>8.0f} {artifacts:>12.0f} {base / seconds:>5.2f}x "
            f"{deadlocks:>10} {violations:>11} {'exact' if counts_ok else 'WRONG':>7}"
        )
    print(
        "Medians over the runs; items are request interactions, artifacts those the requests matched (locked or "
        f"considered for deletion). {os.cpu_count()} cores; load averages per run above (the machine is shared)."
    )


if __name__ == "__main__":
    sys.exit(main())
