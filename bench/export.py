"""Benchmark of export bundles (not part of the test suite).

    .venv/bin/python bench/export.py [--megabytes 1000] [--small 100] [--object-mb 10]

On PostgreSQL (its own database ``holdfast_bench_export``, recreated each run) and a moto S3 server
on loopback (the active bucket; the exports storage is its prefix ``exports/``, as by default).
Content: ``--megabytes`` of artifacts of ``--object-mb`` each (random bytes, one upload, the others
server-side copies). Prints:

- export throughput (MB/s of artifact bytes): the whole export job — read each object, verify its
  SHA-256, zip, multipart upload, manifest, signature, then read the stored zip back and verify it
  (a *verified* export) — against copying the same objects with bare boto3 (``get_object`` streamed
  into ``upload_fileobj``, the same part size) in the same run (goal: export >= 0.7x the copy), and
  against that copy plus reading each copy back (what a verified copy costs); the read-back
  verification's share of the export is timed apart;
- peak Python memory (tracemalloc) of the export at ``--small`` MB and at ``--megabytes`` (goal: flat).
"""

import argparse
import os
import secrets
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_DATABASE", "holdfast_bench_export")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--megabytes", type=int, default=1000)
parser.add_argument("--small", type=int, default=100)
parser.add_argument("--object-mb", type=int, default=10)
parser.add_argument("--rounds", type=int, default=2, help="Interleaved rounds of copy, export, copy + read back.")
args = parser.parse_args()
ROUNDS = max(1, args.rounds)

from tests.loopback import start_moto  # noqa: E402

MOTO, ENDPOINT = start_moto(timeout=30)
BUCKET = "bench-export"
os.environ.update(
    DATABASE_URL=f"{PG}/{BENCH_DB}",
    DATA_DIR=tempfile.mkdtemp(prefix="holdfast-bench-export-"),
    DJANGO_SETTINGS_MODULE="config.settings",
    S3_BUCKET=BUCKET,
    S3_ENDPOINT_URL=ENDPOINT,
    S3_ACCESS_KEY_ID="testing",
    S3_SECRET_ACCESS_KEY="testing",
    LOG_LEVEL="WARNING",
    DEBUG="true",  # a development audit signing key under DATA_DIR
)
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.pop("REDIS_URL", None)
# moto answers server-side copies of multipart objects with the source's checksum, which botocore would
# reject on reading them back; both sides of the comparison read without it.
os.environ["AWS_RESPONSE_CHECKSUM_VALIDATION"] = "when_required"


def recreate_database():
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


recreate_database()
import django  # noqa: E402

django.setup()

import boto3  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)

from accounts import services as account_services  # noqa: E402
from accounts.actors import operator  # noqa: E402
from artifacts.models import Artifact  # noqa: E402
from artifacts.services import store_artifact  # noqa: E402
from artifacts.storage import get_storage, new_key  # noqa: E402
from config import jobs  # noqa: E402
from core.vocabulary import ArtifactType, AudioRecordingType, Channel, Direction  # noqa: E402
from exports import services  # noqa: E402
from exports.models import Export  # noqa: E402
from interactions.services import create_interaction  # noqa: E402

ACTOR = operator("bench")
VERIFY_SECONDS = []


def _timed_verification():
    """Time the read-back verification inside each export (reported as its share of the export)."""
    from exports import runner

    verify = runner.verify_stored

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return verify(*args, **kwargs)
        finally:
            VERIFY_SECONDS.append(time.perf_counter() - started)

    runner.verify_stored = timed


_timed_verification()
MB = 1024 * 1024
S3 = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id="testing", aws_secret_access_key="testing",
                  region_name="us-east-1")  # fmt: skip


class _Random:
    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


def seed(tenant, count, object_bytes):
    """``count`` interactions with one artifact each: one upload, the rest server-side copies."""
    from django.utils import timezone

    interactions = []
    for n in range(count):
        interaction, _ = create_interaction(
            tenant.pk, ACTOR, channel=Channel.VOICE, direction=Direction.OUTBOUND,
            started_at=timezone.now() - timezone.timedelta(minutes=n), from_address=f"+1555{n:07d}",
        )  # fmt: skip
        interactions.append(interaction)
    first = store_artifact(
        interactions[0].pk, actor=ACTOR, artifact_type=ArtifactType.AUDIO_RECORDING,
        audio_recording_type=AudioRecordingType.CONFERENCE_CUSTOMER, content_key="callRecording",
        filename="call.wav", stream=_Random(object_bytes), content_type="audio/wav",
    )  # fmt: skip
    storage = get_storage("active")
    rows = []
    for interaction in interactions[1:]:
        key = new_key(tenant.pk, "call.wav")
        version = storage.clone(first.storage_key, key, first.storage_version)
        rows.append(
            Artifact(
                tenant=tenant,
                interaction=interaction,
                artifact_type=first.artifact_type,
                audio_recording_type=first.audio_recording_type,
                content_key="callRecording",
                storage_key=key,
                storage_version=version,
                filename="call.wav",
                content_type="audio/wav",
                size=first.size,
                sha256=first.sha256,
                created_at=first.created_at,
            )
        )
    Artifact.objects.bulk_create(rows)
    return interactions


def run_export(interactions, traced=False):
    """Create and run one export of ``interactions`` (without Redis the job runs inline as the creation
    commits); returns (seconds, export, peak bytes or None)."""
    guids = [str(i.guid) for i in interactions]
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    export = services.create_export(interactions[0].tenant_id, ACTOR, interaction_ids=guids)
    jobs.work("export", export.pk)  # nothing left to do when it already ran inline
    seconds = time.perf_counter() - started
    peak = None
    if traced:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    export = Export.objects.get(pk=export.pk)
    assert export.status == Export.Status.COMPLETE, export.error_message
    get_storage("exports").delete_many([(export.storage_key, export.storage_version)])
    return seconds, export, peak


def bare_copy(interactions, read_back=False):
    """The same objects copied with bare boto3: each streamed from get_object into upload_fileobj
    (with ``read_back``, each copy then read back whole, streamed)."""
    config = TransferConfig(multipart_chunksize=settings.EXPORT_PART_BYTES, use_threads=False)
    keys = list(Artifact.objects.filter(interaction__in=interactions).values_list("storage_key", flat=True))
    started = time.perf_counter()
    for n, key in enumerate(keys):
        body = S3.get_object(Bucket=BUCKET, Key=key)["Body"]
        S3.upload_fileobj(body, BUCKET, f"bench-copy/{n}", Config=config)
        if read_back:
            for _chunk in S3.get_object(Bucket=BUCKET, Key=f"bench-copy/{n}")["Body"].iter_chunks(1024 * 1024):
                pass
    seconds = time.perf_counter() - started
    S3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": f"bench-copy/{n}"} for n in range(len(keys))]})
    return seconds


def main():
    S3.create_bucket(Bucket=BUCKET)
    tenant = account_services.create_tenant("bench", "bench", actor=ACTOR)
    object_bytes = args.object_mb * MB
    count = max(1, args.megabytes // args.object_mb)
    small = max(1, args.small // args.object_mb)
    print(f"seeding {count} artifacts of {args.object_mb} MB ({count * args.object_mb} MB) on moto S3 ...", flush=True)
    interactions = seed(tenant, count, object_bytes)
    total_mb = count * object_bytes / MB

    # Interleaved rounds, the best of each: the machine's load changes less between neighbours.
    copies, checked, exports = [], [], []
    for _round in range(ROUNDS):
        copies.append(bare_copy(interactions))
        seconds, export, _ = run_export(interactions)
        exports.append((seconds, VERIFY_SECONDS[-1]))
        checked.append(bare_copy(interactions, read_back=True))
    copy_seconds, (export_seconds, verify_seconds), checked_seconds = min(copies), min(exports), min(checked)
    export_rate, copy_rate = total_mb / export_seconds, total_mb / copy_seconds
    checked_rate = total_mb / checked_seconds
    parts = export.size // settings.EXPORT_PART_BYTES + 1
    print(
        f"export of {total_mb:.0f} MB ({count} artifacts, zip {export.size / MB:.1f} MB, {parts} parts), written and "
        f"read back to verify: {export_seconds:.2f} s = {export_rate:.1f} MB/s (best of {ROUNDS} interleaved rounds)"
    )
    write_seconds = export_seconds - verify_seconds
    print(f"  of which the read-back verification:      {verify_seconds:.2f} s (write {write_seconds:.2f} s)")
    print(f"bare boto3 copy of the same objects:       {copy_seconds:.2f} s = {copy_rate:.1f} MB/s")
    print(f"bare boto3 copy + read back of each copy:  {checked_seconds:.2f} s = {checked_rate:.1f} MB/s")
    print(f"export / copy throughput: {export_rate / copy_rate:.2f}x (goal >= 0.7x)")
    print(f"export / (copy + read back) throughput: {export_rate / checked_rate:.2f}x")

    _s, _e, peak_small = run_export(interactions[:small], traced=True)
    _s, _e, peak_large = run_export(interactions, traced=True)
    print(f"peak Python memory of the export (tracemalloc): {small * args.object_mb} MB -> {peak_small / MB:.1f} MiB, "
          f"{count * args.object_mb} MB -> {peak_large / MB:.1f} MiB ({peak_large / peak_small:.2f}x for "
          f"{count / small:.0f}x the content; goal: flat)")  # fmt: skip


try:
    main()
finally:
    MOTO.terminate()
    MOTO.wait(timeout=10)
