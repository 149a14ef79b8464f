"""Background work: the database row is the truth; RQ only carries "work on row N now".

One job-row model and one runner serve every kind of background work (Artifacts Management
Requests, lifecycle sweeps, and whatever comes next):

- :class:`Job` is the abstract row: status (Queued → In Progress → Complete / Error, or
  Cancelled), attempts, RQ job id, started / finished, heartbeat, error and whether it can be
  retried, and the actor the work acts for (:mod:`accounts.actors` restores it when it runs).
- Each app registers its kinds in its ``AppConfig.ready`` with :func:`register` (a
  :class:`JobKind` names the row model and the function that processes a claimed row) and its
  periodic tasks with :func:`register_periodic` (``config/schedule.py`` hands them to rq-cron).
- :func:`enqueue` sends "work on row N" after the current transaction commits, to RQ when
  ``REDIS_URL`` is set, or runs it inline in this process when it is not (development).
- :func:`run` is the one runner: it *claims* the row (Queued → In Progress under the row lock,
  attempts + 1, heartbeat), holds the kind's slot while the work runs, and turns any exception
  into the row's Error state (:func:`fail`), so the row, not RQ, says what happened.
- :func:`reap` turns In Progress rows whose worker died into Error. On PostgreSQL a live worker
  holds a session advisory lock (its *slot*) that dies with its connection: a row whose slot can
  be taken is lost. On SQLite (development), where there are no advisory locks, a row whose
  heartbeat is older than ``JOB_HEARTBEAT_TIMEOUT`` seconds is lost; workers beat between batches.
"""

import logging
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import close_old_connections, connection, models, transaction
from django.utils import timezone

log = logging.getLogger(__name__)


class JobStatus(models.TextChoices):
    """Where a job row is in its life."""

    QUEUED = "queued", "Queued"
    IN_PROGRESS = "in_progress", "In Progress"
    COMPLETE = "complete", "Complete"
    ERROR = "error", "Error"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.CANCELLED)


class Job(models.Model):
    """A row that is the truth about one piece of background work (abstract).

    ``job_kind`` names the registered :class:`JobKind` that processes rows of the model. The
    ``actor_*`` columns say whom the work acts for (see :func:`accounts.actors.acting_for`).
    """

    job_kind = ""

    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    rq_job_id = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Last sign of life of the worker processing it."
    )
    error_message = models.TextField(blank=True)
    retryable = models.BooleanField(default=False)
    actor_kind = models.CharField(max_length=20, blank=True, editable=False)
    actor_key = models.CharField(max_length=100, blank=True, editable=False)
    actor_label = models.CharField(
        "acts for", max_length=200, blank=True, editable=False, help_text="Whose grants the work runs with."
    )

    class Meta:
        abstract = True

    @property
    def is_finished(self):
        return self.status in FINISHED

    @property
    def is_running(self):
        return self.status in (JobStatus.QUEUED, JobStatus.IN_PROGRESS)


@dataclass(frozen=True)
class JobKind:
    """A kind of background work on rows of ``model``.

    ``process(row)`` does the work of a claimed (In Progress) row and finishes it (:func:`finish`);
    it may raise, and the runner records the failure. ``on_failed(row, message)`` writes what a
    failure means for the product (an audit event), inside the failure's transaction.
    ``exclusive_key(row)`` is the slot's key: rows with the same key never run at once (default:
    the row itself; a tenant's sweeps share the tenant's key). ``count_deletions(pk, n)`` counts
    deletions the row's work decided and someone else finished after its worker died.
    """

    name: str
    model: type
    process: object
    timeout: int
    lost_message: str
    on_failed: object = None
    exclusive_key: object = None
    count_deletions: object = None

    @property
    def namespace(self):
        """The advisory-lock key space of this kind (stable across processes)."""
        return zlib.crc32(self.name.encode()) & 0x7FFFFFFF

    def slot_key(self, row):
        return int(self.exclusive_key(row) if self.exclusive_key else row.pk)


@dataclass(frozen=True)
class PeriodicTask:
    """Work without a row, run every ``interval`` seconds by the cron scheduler."""

    name: str
    function: object
    interval: int
    timeout: int = 300


KINDS = {}
PERIODIC = {}


def register(kind):
    """Register a job kind (from an app's ``AppConfig.ready``)."""
    KINDS[kind.name] = kind
    kind.model.job_kind = kind.name
    return kind


def register_periodic(task):
    """Register a periodic task (from an app's ``AppConfig.ready``)."""
    PERIODIC[task.name] = task
    return task


# --- slots ------------------------------------------------------------------------------------
@contextmanager
def slot(namespace, key):
    """Hold the PostgreSQL session advisory lock ``(namespace, key)`` while working on a row.

    A worker that dies loses its connection and so the lock: the reaper recognises a lost row by
    being able to take the lock of a row marked In Progress. Yields whether it was taken. Without
    advisory locks (SQLite) it always succeeds; heartbeats tell lost rows there.
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


def kind_slot(kind, row):
    """The slot of ``row`` (see :func:`slot`)."""
    return slot(kind.namespace, kind.slot_key(row))


def _heartbeat_cutoff():
    return timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)


def _busy_elsewhere(kind, row):
    """On SQLite: another row with the same exclusive key is In Progress with a fresh heartbeat."""
    if connection.vendor == "postgresql" or kind.exclusive_key is None:
        return False
    others = kind.model.objects.filter(status=JobStatus.IN_PROGRESS, heartbeat_at__gt=_heartbeat_cutoff())
    return any(kind.slot_key(other) == kind.slot_key(row) for other in others.exclude(pk=row.pk))


# --- the row's life -------------------------------------------------------------------------------
@contextmanager
def claimed(kind, pk):
    """Claim row ``pk`` for this process: yields the row, now In Progress, or None when it is not
    Queued (done, cancelled, or being processed elsewhere). The slot is held until the block ends."""
    row = kind.model.objects.filter(pk=pk).first()
    if row is None:
        yield None
        return
    with kind_slot(kind, row) as mine:
        if not mine:
            log.info("%s %s: its slot is held elsewhere; left as it is", kind.name, pk)
            yield None
            return
        with transaction.atomic():
            row = kind.model.objects.select_for_update(no_key=True).get(pk=pk)
            if row.status != JobStatus.QUEUED or _busy_elsewhere(kind, row):
                log.info("%s %s is %s: nothing to do now", kind.name, pk, row.status)
                row = None
            else:
                now = timezone.now()
                row.status, row.attempts, row.error_message = JobStatus.IN_PROGRESS, row.attempts + 1, ""
                row.started_at, row.heartbeat_at, row.finished_at = now, now, None
                row.save(
                    update_fields=["status", "attempts", "error_message", "started_at", "heartbeat_at", "finished_at"]
                )
        yield row


def beat(row):
    """Record that the worker processing ``row`` is alive (call between batches)."""
    row.heartbeat_at = timezone.now()
    type(row).objects.filter(pk=row.pk).update(heartbeat_at=row.heartbeat_at)


def finish(row, status, *, error_message="", retryable=False, then=None):
    """End a claimed row: Complete, or Error with a message. ``then(row)`` runs in the same
    transaction (the product's audit event of the outcome). Returns the row. Called inside a
    transaction (a job's last batch), it joins it without a savepoint: a failure rolls it all back."""
    with transaction.atomic(savepoint=False):
        row = type(row).objects.select_for_update(no_key=True).get(pk=row.pk)
        row.status, row.finished_at = status, timezone.now()
        row.error_message, row.retryable = error_message, retryable
        row.save(update_fields=["status", "finished_at", "error_message", "retryable"])
        if then is not None:
            then(row)
    return row


def describe(exc):
    """A failure in a user's words: storage problems and refusals as such, else the exception."""
    if isinstance(exc, PermissionDenied):
        return str(exc)
    # The storage service's errors say so (``is_storage_error``), as do the file system and boto.
    if getattr(exc, "is_storage_error", False) or isinstance(exc, OSError) or "botocore" in type(exc).__module__:
        return f"Storage error: {exc}"
    return f"The work stopped on an unexpected error ({type(exc).__name__}: {exc}). Retry usually finishes it."


def fail(kind, pk, message, *, retryable=True, statuses=(JobStatus.QUEUED, JobStatus.IN_PROGRESS)):
    """Put row ``pk`` in Error with ``message`` (when it is still in one of ``statuses``)."""
    with transaction.atomic():
        row = kind.model.objects.select_for_update(no_key=True).filter(pk=pk).first()
        if row is None or row.status not in statuses:
            return None
        row.status, row.finished_at = JobStatus.ERROR, timezone.now()
        row.error_message, row.retryable = message[:2000], retryable
        row.save(update_fields=["status", "finished_at", "error_message", "retryable"])
        if kind.on_failed is not None:
            kind.on_failed(row, row.error_message)
    return row


# --- the runner -------------------------------------------------------------------------------------
def work(kind_name, pk):
    """Claim row ``pk`` of ``kind_name`` and process it in this process; a failure becomes the row's
    Error state. Returns the claimed row, or None when there was nothing to do."""
    kind = KINDS[kind_name]
    with claimed(kind, pk) as row:
        if row is None:
            return None
        try:
            kind.process(row)
        except Exception as exc:
            log.exception("%s %s failed", kind_name, pk)
            if not connection.in_atomic_block:
                close_old_connections()  # a broken connection is replaced before recording the failure
            fail(kind, pk, describe(exc))
        return row


def run(kind_name, pk=None):
    """The RQ entry point: a periodic task, or :func:`work` on row ``pk``, on fresh connections."""
    close_old_connections()
    try:
        if kind_name in PERIODIC:
            return PERIODIC[kind_name].function()
        work(kind_name, pk)
        return None
    finally:
        close_old_connections()


_connections = {}


def _queue():
    """This deployment's RQ queue (``RQ_QUEUE`` on ``REDIS_URL``), with short connect timeouts."""
    from redis import Redis
    from rq import Queue

    url = settings.REDIS_URL
    if url not in _connections:
        _connections[url] = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)
    return Queue(settings.RQ_QUEUE, connection=_connections[url])


def _send(kind, pk):
    """Put "work on row ``pk``" on the queue; returns the RQ job id, or "" when Redis is unreachable
    (the row stays Queued and the reaper sends it again once the workers are back)."""
    from redis.exceptions import RedisError

    try:
        rq_job = _queue().enqueue(run, kind.name, pk, job_timeout=kind.timeout, result_ttl=86400, failure_ttl=7 * 86400)
    except (RedisError, OSError) as exc:
        log.warning("%s %s stays Queued: the background workers are unreachable (%s)", kind.name, pk, exc)
        kind.model.objects.filter(pk=pk).update(rq_job_id="")
        return ""
    kind.model.objects.filter(pk=pk).update(rq_job_id=rq_job.id)
    return rq_job.id


def enqueue(row):
    """Run the work on ``row`` after the transaction commits (RQ, or inline without Redis).

    When Redis cannot be reached the row stays Queued (the row is the truth) and
    ``row.workers_unreachable`` is set, so that the caller can say so; the reaper enqueues it again.
    """
    kind, pk = KINDS[row.job_kind], row.pk
    row.workers_unreachable = False

    def send():
        if settings.JOBS_INLINE:
            log.info("No Redis configured: running %s %s inline in this process", kind.name, pk)
            run(kind.name, pk)
            return
        row.workers_unreachable = not _send(kind, pk)

    transaction.on_commit(send)


def _orphaned(row, queue, older_than):
    """A Queued row whose RQ job is missing or over (Redis was down, or flushed), or was taken by a
    worker that died before claiming the row: "started", with no heartbeat for ``older_than``
    seconds (a live worker claims at once and beats while it works; RQ itself would notice only
    after the job's timeout, an hour later)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job as RQJob

    if not row.rq_job_id:
        return True
    try:
        rq_job = RQJob.fetch(row.rq_job_id, connection=queue.connection)
        status = rq_job.get_status()
    except NoSuchJobError:
        return True
    if status == "started":
        beat = rq_job.last_heartbeat or rq_job.started_at
        if beat is not None and beat.tzinfo is None:
            beat = beat.replace(tzinfo=UTC)
        return beat is None or beat <= timezone.now() - timedelta(seconds=older_than)
    return status not in ("queued", "deferred", "scheduled")


def requeue_orphans(older_than=60):
    """Send again the Queued rows no live RQ job carries (older than ``older_than`` seconds, so as not
    to race a row whose commit is still sending it). Returns ``{kind name: [ids]}``."""
    if settings.JOBS_INLINE:
        return {}
    queue, sent = _queue(), {}
    cutoff = timezone.now() - timedelta(seconds=older_than)
    for kind in KINDS.values():
        queued = kind.model.objects.filter(status=JobStatus.QUEUED, created_at__lt=cutoff).order_by("pk")
        for row in queued.only("pk", "rq_job_id"):
            if _orphaned(row, queue, older_than) and _send(kind, row.pk):
                sent.setdefault(kind.name, []).append(row.pk)
    if sent:
        log.warning("queued again (their jobs were lost): %s", sent)
    return sent


# --- the reaper --------------------------------------------------------------------------------------
def _lost_on_sqlite(row):
    seen = row.heartbeat_at or row.started_at
    return seen is None or seen <= _heartbeat_cutoff()


def reap():
    """Turn In Progress rows whose worker died into Error (every minute, from the schedule).

    Returns ``{kind name: [ids]}`` of the rows reaped.
    """
    reaped = {}
    for kind in KINDS.values():
        for row in kind.model.objects.filter(status=JobStatus.IN_PROGRESS):
            if connection.vendor != "postgresql":
                if _lost_on_sqlite(row) and fail(kind, row.pk, kind.lost_message, statuses=(JobStatus.IN_PROGRESS,)):
                    reaped.setdefault(kind.name, []).append(row.pk)
                continue
            with kind_slot(kind, row) as free:
                # A live worker holds the slot; a free slot of an In Progress row means it died.
                if free and fail(kind, row.pk, kind.lost_message, statuses=(JobStatus.IN_PROGRESS,)):
                    reaped.setdefault(kind.name, []).append(row.pk)
    if reaped:
        log.warning("reaped lost jobs: %s", reaped)
    requeue_orphans()
    return reaped


register_periodic(PeriodicTask("reap", reap, interval=60))
