"""Background work: the database row is the truth; RQ only carries "work on row N now".

- :func:`enqueue` sends a job after the current transaction commits (so the worker sees the row),
  to the RQ queue when ``REDIS_URL`` is set, or runs it inline in this process when it is not.
- :func:`run` is the one runner every job goes through: fresh database connections, an explicit
  timeout, and any exception handed to the job kind's ``fail`` function, which records it on the
  row (the job itself then ends normally: the row, not RQ, says what happened).
"""

import logging
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobKind:
    """A kind of background work: what processes a row, what records a failure, how long it may run."""

    process: str
    fail: str
    timeout: int


JOB_KINDS = {
    "management_request": JobKind(
        process="artifacts.processing.process_request",
        fail="artifacts.processing.fail_request",
        timeout=3600,
    ),
    "reap": JobKind(process="artifacts.processing.reap_lost_requests", fail="config.jobs.log_failure", timeout=300),
    "lifecycle_sweep": JobKind(process="policies.sweep.run_sweep", fail="policies.sweep.fail_sweep", timeout=6 * 3600),
    "reap_sweeps": JobKind(process="policies.sweep.reap_lost_sweeps", fail="config.jobs.log_failure", timeout=300),
    "schedule_sweeps": JobKind(
        process="policies.sweep.schedule_daily_sweeps", fail="config.jobs.log_failure", timeout=300
    ),
}


@contextmanager
def slot(namespace, key):
    """Hold the PostgreSQL session advisory lock ``(namespace, key)`` while working on a row.

    A worker that dies loses its connection and so the lock: a reaper recognises a lost row by
    being able to take the lock of a row marked as running. Yields whether it was taken. On
    databases without advisory locks (SQLite, inline development runs) it always succeeds.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, key])


def log_failure(_pk, exc):
    """``fail`` for jobs without a row of their own."""
    log.error("background job failed: %s", exc)


def run(kind, pk=None):
    """Run one job of ``kind`` on row ``pk``; exceptions become the row's error state."""
    job = JOB_KINDS[kind]
    close_old_connections()
    try:
        return import_string(job.process)(pk)
    except Exception as exc:
        log.exception("%s %s failed", kind, pk)
        close_old_connections()
        import_string(job.fail)(pk, exc)
    finally:
        close_old_connections()


def enqueue(kind, pk=None, *, on_queued=None):
    """Run ``kind`` on ``pk`` after the transaction commits; ``on_queued(job_id)`` records the id."""

    def send():
        if settings.JOBS_INLINE:
            log.info("No Redis configured: running %s %s inline in this process", kind, pk)
            run(kind, pk)
            return
        import django_rq

        rq_job = django_rq.get_queue("default").enqueue(
            run, kind, pk, job_timeout=JOB_KINDS[kind].timeout, result_ttl=86400, failure_ttl=7 * 86400
        )
        if on_queued:
            on_queued(rq_job.id)

    transaction.on_commit(send)
