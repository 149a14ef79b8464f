"""Benchmark of the Twilio Flex ingestion (not part of the test suite).

    .venv/bin/python bench/ingest.py [--megabytes 50] [--recordings 1000]

On PostgreSQL (its own database ``holdfast_bench_ingest``, recreated each run), the file-system
storage in a temporary folder and the fake Twilio on loopback (tests/fake_twilio.py). Prints:

- decrypt + store throughput of one encrypted recording (default 50 MB: Twilio's AES-256-GCM with
  the RSA-wrapped key, decrypted chunk by chunk while ``store_artifact`` writes it with its SHA-256)
  vs ``cryptography``'s raw one-shot AES-GCM decryption of the same bytes in the same run (goal:
  >= 0.5x), and the same end to end through an ingestion run (download from the fake server included);
- peak Python memory of decrypt + store at a tenth of the size and at the full size (goal: flat);
- 1,000 small recordings (3 legs per voice task) ingested by one run: time, recordings per second
  and Twilio calls per recording.
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
# This folder has a requests.py (another benchmark) that would shadow the requests library.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_DATABASE", "holdfast_bench_ingest")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DATA_DIR = tempfile.mkdtemp(prefix="holdfast-bench-ingest-")
os.environ["DATABASE_URL"] = f"{PG}/{BENCH_DB}"
os.environ["DATA_DIR"] = DATA_DIR
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.pop("REDIS_URL", None)
os.environ.setdefault("LOG_LEVEL", "WARNING")
if not os.environ.get("HOLDFAST_SECRET_KEYS"):
    from cryptography.fernet import Fernet

    os.environ["HOLDFAST_SECRET_KEYS"] = Fernet.generate_key().decode()

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--megabytes", type=int, default=50)
parser.add_argument("--recordings", type=int, default=1000)
args = parser.parse_args()


def recreate_database():
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


recreate_database()
import django  # noqa: E402

django.setup()

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

call_command("migrate", verbosity=0)

from accounts import services as account_services  # noqa: E402
from accounts.actors import operator  # noqa: E402
from artifacts.services import store_artifact  # noqa: E402
from config import jobs  # noqa: E402
from core.vocabulary import ArtifactType, AudioRecordingType, Channel, Direction  # noqa: E402
from ingestion import crypto, services  # noqa: E402
from ingestion.models import IngestionRun  # noqa: E402
from interactions.services import create_interaction  # noqa: E402
from tests.fake_twilio import FakeTwilio, encrypt_recording, new_rsa_key, sid  # noqa: E402

ACTOR = operator("bench")
CHUNK = 1024 * 1024


def chunks(data, size=CHUNK):
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield view[start : start + size]


def decrypt_and_store(interaction, media, details, private_key, n):
    cek, iv = crypto.unwrap_cek(private_key, details)
    return store_artifact(
        interaction.pk,
        actor=ACTOR,
        artifact_type=ArtifactType.AUDIO_RECORDING,
        audio_recording_type=AudioRecordingType.CONFERENCE_CUSTOMER,
        content_key="callRecording",
        filename=f"bench-{n}.wav",
        stream=crypto.DecryptingReader(chunks(media), cek, iv),
        content_type="audio/wav",
        idempotency_key=f"bench:{n}",
    )


def best_of(runs, function):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def main():
    tenant = account_services.create_tenant("bench", "bench", actor=ACTOR)
    interaction, _ = create_interaction(
        tenant.pk,
        ACTOR,
        channel=Channel.VOICE,
        direction=Direction.INBOUND,
        started_at=timezone.now(),
        source_system="bench",
        source_call_id="CA" + "0" * 32,
    )
    private_key, pem = new_rsa_key()
    key_sid = sid("CR")
    size = args.megabytes * 1024 * 1024
    plain = os.urandom(size)
    media, details = encrypt_recording(plain, private_key.public_key(), key_sid)
    cek, iv = crypto.unwrap_cek(private_key, details)

    # 1. Throughput: raw one-shot AES-GCM vs decrypt + store (streamed, SHA-256, file system, audited row).
    raw = best_of(3, lambda: AESGCM(cek).decrypt(iv, media, None))
    counter = iter(range(1_000_000))
    ours = best_of(3, lambda: decrypt_and_store(interaction, media, details, private_key, next(counter)))
    mb = size / 1024 / 1024
    print(f"decrypt+store {mb:.0f} MB: {mb / ours:8.1f} MB/s  ({ours:.3f} s)")
    print(f"raw AES-GCM   {mb:.0f} MB: {mb / raw:8.1f} MB/s  ({raw:.3f} s)")
    print(f"ratio decrypt+store / raw AES-GCM throughput: {raw / ours:.2f}x  (goal >= 0.5x)")

    # 2. Peak Python memory at a tenth of the size and at the full size.
    small_plain = plain[: size // 10]
    small_media, small_details = encrypt_recording(small_plain, private_key.public_key(), key_sid)
    peaks = {}
    for label, (m, d) in (("1/10", (small_media, small_details)), ("full", (media, details))):
        tracemalloc.start()
        decrypt_and_store(interaction, m, d, private_key, next(counter))
        peaks[label] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(
        f"peak memory of decrypt+store: {peaks['1/10'] / 1024:.0f} KiB at {mb / 10:.0f} MB, "
        f"{peaks['full'] / 1024:.0f} KiB at {mb:.0f} MB (ratio {peaks['full'] / peaks['1/10']:.2f}; flat = ~1)"
    )

    with FakeTwilio() as twilio:
        settings.TWILIO_API_BASE_URL = twilio.url
        connection, _ = services.create_connection(
            tenant.pk,
            ACTOR,
            name="Bench",
            account_sid=twilio.account_sid,
            auth_token=twilio.auth_token,
            workspace_sid=twilio.workspace_sid,
            voice_enabled=True,
            public_key_sid=key_sid,
            private_key=pem,
        )
        # 3. End to end: one task whose call has the big encrypted recording (download included).
        task = twilio.add_voice_task(recordings=False)
        twilio.add_recording(call_sid=task["call"], media=plain, encrypt_for=(private_key.public_key(), key_sid))
        run = services.start_ingestion(connection.pk, ACTOR, trigger="command", enqueue=False)
        started = time.perf_counter()
        jobs.work(run.job_kind, run.pk)
        end_to_end = time.perf_counter() - started
        run.refresh_from_db()
        assert run.artifacts_stored == 1 and run.errors == 0, (run.status, run.error_message, run.error_details)
        print(
            f"ingestion run, {mb:.0f} MB encrypted recording from the fake Twilio: {mb / end_to_end:.1f} MB/s "
            f"({end_to_end:.2f} s, {run.twilio_calls} Twilio calls)"
        )

        # 4. Many small recordings: three legs per voice task.
        twilio.events.clear()
        twilio.recordings.clear()
        tasks = -(-args.recordings // 3)
        for _ in range(tasks):
            twilio.add_voice_task()
        run = services.start_ingestion(
            connection.pk, ACTOR, trigger="command", enqueue=False, since=timezone.now() - timezone.timedelta(hours=1)
        )
        started = time.perf_counter()
        jobs.work(run.job_kind, run.pk)
        elapsed = time.perf_counter() - started
        run.refresh_from_db()
        stored = run.artifacts_stored
        print(
            f"{stored} small recordings ({tasks} tasks) ingested in {elapsed:.1f} s: {stored / elapsed:.0f} "
            f"recordings/s, {run.twilio_calls} Twilio calls = {run.twilio_calls / max(stored, 1):.2f} per recording "
            f"(errors {run.errors})"
        )
        assert IngestionRun.objects.filter(status="complete").count() == 2


if __name__ == "__main__":
    main()
