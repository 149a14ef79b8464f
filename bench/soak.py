"""Soak test (not part of the suite): randomized concurrent work with killed workers and failing
storage, checked continuously and at the end against the database *and* the buckets.

    .venv/bin/python bench/soak.py --minutes 20 --workers 4 [--seed S] [--rate 3] [--fault-rate 0.03]

On PostgreSQL (database ``holdfast_soak``, made from a migrated template), Redis (``SOAK_REDIS_URL``,
default db 14, a queue of its own) and a moto S3 server with Object Lock (loopback), one seeded
tenant (``tests/soak.py``) and N real ``rqworker`` processes plus the real ``rqcron`` scheduler
(reaper, resume, schedule), driver threads issue a seeded random mix of operations through the
services at a steady rate (``tests/soak.py: MIX``). A chaos thread SIGKILLs a random worker now and
then and starts a new one; a fault proxy in front of moto (``tests/faultproxy.py``) fails a share of
the S3 calls of every process (503 SlowDown, hangs, resets, answers lost after S3 acted), with
outage bursts. The invariants of ``tests/soak.py`` run every few seconds and, once the work is
quiescent (chaos stopped, reapers run), all of them at the end.

Prints operations per kind, faults per kind, worker kills, the violations with the seed and the
operation log around each, then exactly one final line::

    soak: <ops> operations, <kills> worker kills, <faults> storage faults, <violations> violations

and exits 1 on any violation. On a violation it re-runs the seed with fewer operations (a prefix
of the same sequence: operation i of a seed never depends on what happened before) to find the
smallest failing prefix, and prints a pytest test replaying it.
"""

import argparse
import contextlib
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The script's own folder holds bench/requests.py, which would shadow the requests package.
sys.path[0] = str(ROOT)
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB = os.environ.get("SOAK_DATABASE", "holdfast_soak")
TEMPLATE = f"{DB}_template"
REDIS = os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/14")
KEYS = {"aws_access_key_id": "soak", "aws_secret_access_key": "soak", "region_name": "us-east-1"}


def psql(db="postgres"):
    import psycopg

    return psycopg.connect(f"{PG}/{db}", autocommit=True)


def fresh_db(name, template=None):
    with psql() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def base_env(**extra):
    """The environment of the episode and of every process it starts."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "AUDIT_SIGNING_KEY": key.decode(),
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "DATABASE_URL": f"{PG}/{DB}",
        "REDIS_URL": REDIS,
        "RQ_QUEUE": f"holdfast-soak-{os.getpid()}",
        "API_BATCH_WAIT": "1",
        "LOG_LEVEL": "ERROR",
        **extra,
    }


# --- moto -------------------------------------------------------------------------------------------
# --- workers ----------------------------------------------------------------------------------------
class Workers:
    """N real ``rqworker`` processes (and one ``rqcron``) on the episode's queue."""

    def __init__(self, env, count):
        self.env, self.count, self.procs, self.kills = env, count, [], 0
        self.guard = threading.Lock()
        self.cron = self._spawn(["rqcron", "config.schedule"])
        for _ in range(count):
            self.procs.append(self._spawn(["rqworker", env["RQ_QUEUE"]]))

    def _spawn(self, args):
        return subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @staticmethod
    def _children(pid):
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
        return found

    def _kill(self, proc):
        """SIGKILL a worker and its work horse (RQ forks each job into a process group of its own)."""
        for child in self._children(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def kill_one(self, rng):
        with self.guard:
            victim = self.procs.pop(rng.randrange(len(self.procs)))
            self._kill(victim)
            self.kills += 1
            self.procs.append(self._spawn(["rqworker", self.env["RQ_QUEUE"]]))

    def stop(self):
        with self.guard:
            for proc in [*self.procs, self.cron]:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in [*self.procs, self.cron]:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    self._kill(proc)


# --- one episode ----------------------------------------------------------------------------------
def episode(args):
    """One seeded run in this process; writes its summary as JSON to ``args.out``."""
    import boto3

    from tests.faultproxy import FaultProxy

    seed = args.seed
    active, archive = f"soak-active-{uuid.uuid4().hex[:10]}", f"soak-archive-{uuid.uuid4().hex[:10]}"
    s3 = boto3.client("s3", endpoint_url=args.moto, **KEYS)
    for bucket in (active, archive):
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    proxy = FaultProxy(args.moto, seed=f"faults:{seed}", rate=0.0).__enter__()
    env = base_env(
        S3_BUCKET=active,
        S3_ARCHIVE_BUCKET=archive,
        S3_ENDPOINT_URL=proxy.url,
        S3_ACCESS_KEY_ID=KEYS["aws_access_key_id"],
        S3_SECRET_ACCESS_KEY=KEYS["aws_secret_access_key"],
        S3_REGION=KEYS["region_name"],
        S3_OBJECT_LOCK="true",
    )
    os.environ.update(env)
    fresh_db(DB, TEMPLATE)
    import django

    django.setup()
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)  # expected refusals (409, 403) and retried storage errors
    from django.db import connections
    from django.utils import timezone

    from artifacts import disposal
    from artifacts.models import ManagementRequest
    from config import jobs
    from policies.models import SweepRun
    from tests import soak

    world = soak.build_world(seed)
    watch = soak.LockWatch()
    workers = Workers(env, args.workers)
    stop, started = threading.Event(), time.monotonic()
    deadline = started + args.minutes * 60
    guard, log, counts, outcomes, errors = threading.Lock(), [], Counter(), Counter(), Counter()
    violations, seen_violations = [], set()
    state = {"next": 0}

    def report(found, phase):
        with guard:
            for v in found:
                if (v.kind, v.subject) not in seen_violations:
                    seen_violations.add((v.kind, v.subject))
                    violations.append(
                        {**v.__dict__, "phase": phase, "at_op": state["next"], "t": time.monotonic() - started}
                    )

    def backlog():
        return ManagementRequest.objects.filter(status__in=["queued", "in_progress"]).count()

    def drive(name):
        try:
            while not stop.is_set():
                with guard:
                    index = state["next"]
                    if (args.ops and index >= args.ops) or time.monotonic() >= deadline:
                        return
                    state["next"] += 1
                due = started + index / args.rate
                while time.monotonic() < due and not stop.is_set():
                    time.sleep(max(0.0, min(0.2, due - time.monotonic())))
                while backlog() > 40 and not stop.is_set():
                    time.sleep(0.5)  # let the workers catch up: a steady rate, not a flood
                op = soak.make_op(seed, index, world)
                t0 = time.monotonic() - started
                status = None
                try:
                    text, status = soak.apply_op(world, op)
                    # 503 (problem+json, Retry-After) is the API's documented answer while the storage
                    # fails (a fault this run injects); any other 5xx is a bug.
                    if status is not None and status >= 500 and status != 503:
                        report([soak.Violation("api_5xx", f"op {index}", text)], "run")
                except Exception as exc:  # a storage outage refusing an upload, a broken connection
                    text = f"error: {type(exc).__name__}: {str(exc)[:150]}"
                    connections["default"].close_if_unusable_or_obsolete()
                with guard:
                    counts[op["kind"]] += 1
                    word = f"HTTP {status}" if status is not None else text.split(":")[0].split(" ")[0]
                    if word not in ("refused", "invalid", "error", "no", "nothing") and status is None:
                        word = "done"
                    outcomes[f"{op['kind']}: {word}"] += 1
                    if word == "error":
                        errors[text[:160]] += 1
                    log.append({"i": index, "t": round(t0, 2), "thread": name, "op": op, "outcome": text})
        finally:
            connections.close_all()

    def chaos():
        rng = random.Random(f"chaos:{seed}")
        next_kill = time.monotonic() + rng.uniform(*args.kill_every)
        next_burst = time.monotonic() + rng.uniform(15, 45)
        burst_end = 0
        proxy.rate = args.fault_rate
        while not stop.wait(0.5):
            now = time.monotonic()
            if now >= next_kill:
                workers.kill_one(rng)
                next_kill = now + rng.uniform(*args.kill_every)
            if burst_end and now >= burst_end:
                proxy.rate, burst_end = args.fault_rate, 0
            if now >= next_burst:
                proxy.rate, burst_end = args.burst_rate, now + rng.uniform(2, 6)
                next_burst = now + rng.uniform(20, 60)
        proxy.rate = 0.0

    def check():
        n = 0
        try:
            while not stop.wait(2):
                try:
                    watch.observe()
                    report(soak.lock_safety(world, watch), "continuous")
                    report(soak.tombstones(world), "continuous")
                    n += 1
                    if n % 30 == 0:
                        report(soak.storage_truth(world, s3, (active, archive), quiescent=False), "continuous")
                except Exception as exc:  # e.g. a version deleted between the row read and the GET
                    with guard:
                        errors[f"checker: {type(exc).__name__}: {str(exc)[:120]}"] += 1
                    connections["default"].close_if_unusable_or_obsolete()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=drive, args=(f"driver-{k}",), daemon=True) for k in range(args.drivers)]
    helpers = [threading.Thread(target=chaos, daemon=True), threading.Thread(target=check, daemon=True)]
    for thread in [*threads, *helpers]:
        thread.start()
    for thread in threads:
        thread.join()
    run_seconds = time.monotonic() - started
    stop.set()
    for thread in helpers:
        thread.join(30)
    proxy.rate = 0.0

    # Quiescence: no chaos, no faults; the reapers, the resume and the workers finish everything.
    settle_deadline = time.monotonic() + args.settle
    while time.monotonic() < settle_deadline:
        jobs.reap()
        disposal.resume_interrupted()
        busy = (
            ManagementRequest.objects.filter(status__in=["queued", "in_progress"]).count()
            + SweepRun.objects.filter(status__in=["queued", "in_progress"]).count()
        )
        if not busy:
            break
        time.sleep(3)
    # Job-less deletions (API calls) left half-done are resumed after RESUME_AFTER; do not wait for it.
    disposal.resume_interrupted(now=timezone.now() + disposal.RESUME_AFTER + timedelta(seconds=1))
    watch.observe()
    report(soak.final_violations(world, watch, s3, (active, archive)), "final")
    workers.stop()
    proxy.__exit__()
    summary = {
        "seed": seed,
        "operations": sum(counts.values()),
        "per_kind": dict(counts),
        "outcomes": dict(outcomes),
        "errors": dict(errors),
        "kills": workers.kills,
        "faults": dict(proxy.faults),
        "s3_calls": dict(proxy.calls),
        "violations": violations,
        "log": log,
        "interactions": world.interactions,
        "run_seconds": round(run_seconds, 1),
        "load": os.getloadavg(),
    }
    connections.close_all()
    Path(args.out).write_text(json.dumps(summary, default=str))


# --- the parent: template, main run, shrinking, report ----------------------------------------------
def prepare_template():
    env = base_env(DATABASE_URL=f"{PG}/{TEMPLATE}")
    fresh_db(TEMPLATE)
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)


def run_episode(args, moto, *, ops=0, minutes=None):
    with tempfile.NamedTemporaryFile(prefix="soak-", suffix=".json", delete=False) as handle:
        out = handle.name
    cmd = [
        sys.executable,
        __file__,
        "--episode",
        "--seed",
        str(args.seed),
        "--workers",
        str(args.workers),
        "--minutes",
        str(minutes if minutes is not None else args.minutes),
        "--ops",
        str(ops),
        "--rate",
        str(args.rate),
        "--fault-rate",
        str(args.fault_rate),
        "--burst-rate",
        str(args.burst_rate),
        "--drivers",
        str(args.drivers),
        "--settle",
        str(args.settle),
        "--moto",
        moto,
        "--out",
        out,
        "--kill-every",
        *map(str, args.kill_every),
    ]
    subprocess.run(cmd, cwd=ROOT, check=True)
    summary = json.loads(Path(out).read_text())
    os.unlink(out)
    return summary


def around(summary, violation, width=8):
    """The operation log around a violation: the operations on its interaction, and the last ones
    before it was found."""
    pk_index = {pk: n for n, (pk, _guid) in enumerate(summary["interactions"])}
    index = pk_index.get(violation.get("interaction_id"))
    related = [
        e
        for e in summary["log"]
        if index is not None and index in (e["op"].get("interactions") or [e["op"].get("interaction")])
    ]
    before = [e for e in summary["log"] if e["t"] <= violation["t"]][-width:]
    chosen = {e["i"]: e for e in [*related[-width:], *before]}
    return [chosen[i] for i in sorted(chosen)]


def print_summary(summary):
    print(
        f"seed {summary['seed']}: {summary['operations']} operations in {summary['run_seconds']} s, "
        f"load average {', '.join(f'{x:.2f}' for x in summary['load'])}"
    )
    print("operations per kind:")
    for kind, n in sorted(summary["per_kind"].items()):
        print(f"  {kind:18} {n}")
    print("outcomes:")
    for outcome, n in sorted(summary["outcomes"].items()):
        print(f"  {outcome:40} {n}")
    if summary["errors"]:
        print("operations that failed (storage or database errors a caller would see):")
        for text, n in sorted(summary["errors"].items(), key=lambda kv: -kv[1]):
            print(f"  {n:4} {text}")
    print(
        f"storage faults injected: {sum(summary['faults'].values())} {summary['faults']} "
        f"of {sum(summary['s3_calls'].values())} S3 calls; worker kills: {summary['kills']}"
    )
    for v in summary["violations"]:
        print(f"\nVIOLATION ({v['phase']}, after op {v['at_op']}) [{v['kind']}] {v['subject']}: {v['detail']}")
        for entry in around(summary, v):
            print(
                f"    op {entry['i']:5} t={entry['t']:8} {entry['thread']}: "
                f"{json.dumps(entry['op'])} -> {entry['outcome']}"
            )


def shrink(args, moto, summary):
    """Re-run the seed on shorter prefixes; returns the smallest prefix length that still fails."""
    kinds = {v["kind"] for v in summary["violations"]}
    failing, passing = summary["operations"], 0
    budget = time.monotonic() + args.shrink_minutes * 60
    for _ in range(args.shrink_runs):
        if failing - passing <= 1 or time.monotonic() > budget:
            break
        trial = (failing + passing) // 2
        result = run_episode(args, moto, ops=trial, minutes=max(args.minutes, 60))
        hit = {v["kind"] for v in result["violations"]} & kinds
        print(f"shrink: {trial} operations -> {'fails' if hit else 'passes'} {sorted(hit)}")
        if hit:
            failing = trial
        else:
            passing = trial
    return failing


TEST_TEMPLATE = '''
# --- paste into tests/test_soak_regressions.py ---
import pytest

from tests import soak

pytestmark = [pytest.mark.s3, pytest.mark.django_db(transaction=True)]


def test_soak_seed_{seed}_first_{ops}_operations(s3_storages, s3_client, settings):
    """Found by bench/soak.py --seed {seed}: {kinds}."""
    settings.S3_OBJECT_LOCK, settings.JOBS_INLINE = True, True
    world, watch = soak.replay({seed}, {ops})
    assert [v.line() for v in soak.final_violations(world, watch, s3_client, s3_storages)] == []
'''


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--rate", type=float, default=3.0, help="operations per second")
    parser.add_argument("--drivers", type=int, default=2, help="driver threads")
    parser.add_argument("--fault-rate", type=float, default=0.03, help="share of S3 calls failed")
    parser.add_argument("--burst-rate", type=float, default=0.6, help="share failed during outage bursts")
    parser.add_argument("--kill-every", type=float, nargs=2, default=(15.0, 45.0), help="seconds between kills")
    parser.add_argument("--settle", type=float, default=240, help="seconds to wait for quiescence")
    parser.add_argument("--shrink-runs", type=int, default=6, help="most re-runs when shrinking")
    parser.add_argument("--shrink-minutes", type=float, default=15, help="time budget of the shrinking")
    parser.add_argument("--ops", type=int, default=0, help="stop after this many operations (0: time only)")
    parser.add_argument("--episode", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--moto", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 10**6)
    if args.episode:
        return episode(args)
    print(
        f"soak seed {args.seed} (replay: bench/soak.py --seed {args.seed} --minutes {args.minutes} "
        f"--workers {args.workers})",
        flush=True,
    )
    from tests.loopback import start_moto

    moto, endpoint = start_moto()
    try:
        prepare_template()
        summary = run_episode(args, endpoint, ops=args.ops)
        print_summary(summary)
        if summary["violations"]:
            smallest = shrink(args, endpoint, summary)
            kinds = ", ".join(sorted({v["kind"] for v in summary["violations"]}))
            if smallest == summary["operations"]:
                print(f"\nno shorter prefix of seed {args.seed} failed again (the failure depends on timing): "
                      f"the test replays all {smallest} operations in order")  # fmt: skip
            else:
                print(f"\nsmallest failing prefix: {smallest} operations of seed {args.seed}")
            print(TEST_TEMPLATE.format(seed=args.seed, ops=smallest, kinds=kinds))
    finally:
        moto.terminate()
        try:
            moto.wait(10)
        except subprocess.TimeoutExpired:
            moto.kill()
            moto.wait()
    faults = sum(summary["faults"].values())
    print(
        f"soak: {summary['operations']} operations, {summary['kills']} worker kills, {faults} storage faults, "
        f"{len(summary['violations'])} violations"
    )
    return 1 if summary["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
