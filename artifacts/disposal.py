"""The deletion and archive protocols behind :func:`artifacts.services.delete_artifacts` and
:func:`artifacts.services.archive_artifacts`: crash-safe at every step, in set-based SQL and
batched storage calls. Permissions are the services' business; locks are re-checked here, under
row locks, at the moment of the decision.

Deleting is three steps, so that a worker killed at any point leaves rows that say truthfully what
is happening:

1. **decide** (one transaction): the rows are locked in id order, "not locked" is re-checked under
   those locks (a lock committed before this point always wins), and each deletable row becomes
   *being deleted*, recording who decided it, why, for which job, and when. From here the
   deletion is final: a lock placed now says the content is already being deleted.
2. **delete the bytes**, ≤ 1,000 keys per storage call (S3 legal holds left by released locks are
   cleared first); a key that is already gone counts as gone.
3. **tombstone** (one transaction): rows still *being deleted* become *deleted* with one audit
   event each, in the name of the actor that decided it (``then`` lets the caller count them in the
   same transaction). A key the storage refused goes back to its state and is reported.

A caller with many batches (the sweep) overlaps them: :func:`start_deletions` with the thread of
:func:`storage_pipeline` deletes a batch's bytes while the caller decides the next batch; the
batch's ``finish`` then waits for its bytes before step 3. The order of the steps of each batch is
the same.

:func:`finish_deletions` runs steps 2 and 3 for rows decided earlier; the periodic
:func:`resume_interrupted` calls it for deletions whose worker died (no click needed).

Archiving copies and verifies first (the source untouched), then records the artifact as archived
with its active copy *still to remove* (``stale_active_copy``), then removes that copy; a crash in
between leaves a flagged copy that :func:`resume_interrupted` removes.
"""

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import JSONObject
from django.utils import timezone

from accounts import audit
from accounts.models import AuditEvent
from config import jobs
from core.sql import AnyOf
from core.vocabulary import ArtifactState

from . import holds
from .models import Artifact, PendingUpload
from .storage import StorageError, get_storage, tenant_region, tenant_regions
from .storage import copy as copy_object

log = logging.getLogger(__name__)

#: Storage keys per batch of the protocols (one S3 DeleteObjects call each).
BATCH = 1000
#: How long a decided deletion without a running job may wait before the resume finishes it.
RESUME_AFTER = timedelta(minutes=2)


def _storage_of(state, archived_at):
    """:attr:`Artifact.storage_name` of a row's state (without building a model instance per row)."""
    if state == ArtifactState.DELETING:
        return "archive" if archived_at else "active"
    return {ArtifactState.STORED: "active", ArtifactState.ARCHIVED: "archive"}.get(state)


def delete_objects(rows):
    """Delete ``(id, storage region, storage name, key, version)`` rows' objects, ≤ 1,000 keys per
    call, each in its own region's storage (rows of several tenants are grouped by region). Returns
    ``{id: reason}`` for the objects a storage refused (a key already gone is not refused)."""
    by_storage = {}
    for pk, region, name, key, version in rows:
        by_storage.setdefault((region, name), []).append((pk, key, version))
    refused = {}
    for (region, name), objects in by_storage.items():
        storage = get_storage(name, region)
        for start in range(0, len(objects), BATCH):
            chunk = objects[start : start + BATCH]
            failed = storage.delete_many([(key, version) for _pk, key, version in chunk]).failed
            refused.update({pk: failed[key] for pk, key, _version in chunk if key in failed})
    return refused


# --- deleting -------------------------------------------------------------------------------------
def decide(tenant_id, deciders, *, request_id=None, job="", now, export_failed=False, objects=None):
    """Step 1: in one transaction, lock the tenant's present and already-deciding rows among the
    ids of ``deciders`` (``[(actor, reason, ids)]`` or ``[(actor, reason, ids, needs_export)]``: who
    decides which artifacts, why, and whether only exported content may go), re-check "not locked"
    — and, for a decider that needs an export, "in a verified export" — under the row locks, and
    mark the deletable ones *being deleted* in their decider's name (the lock, and the re-check
    with the marking, once for all deciders). Returns ``(held, decided, deciding, unexported)``:
    ``{id: interaction id}`` of every row held, the ids decided now, ``{id: deciding job}`` of
    those an earlier decision is deleting, and the ids kept because they are in no verified export
    (with ``export_failed``, every present row of such a decider: the export that had to come first
    failed, and it deletes nothing of what it was for). ``objects`` (a dict), when given, receives
    what :func:`start_deletions` needs of the decided and deciding rows (it then reads nothing again)."""
    decider_of = {pk: n for n, (_actor, _reason, ids, *_rest) in enumerate(deciders) for pk in ids}
    needs_export = {n for n, (_actor, _reason, _ids, *rest) in enumerate(deciders) if rest and rest[0]}
    with transaction.atomic():
        rows = Artifact.objects.filter(
            AnyOf("id", decider_of),
            tenant_id=tenant_id,
            state__in=(ArtifactState.STORED, ArtifactState.ARCHIVED, ArtifactState.DELETING),
        )
        locked_rows = rows.order_by("id").select_for_update(no_key=True)
        columns = ("id", "interaction_id", "state", "deletion_job", "archived_at", "storage_key", "storage_version")
        facts, unexported = {}, []
        for pk, *rest, exported in locked_rows.values_list(*columns, "exported_at"):
            facts[pk] = rest
            state = rest[1]
            if (
                state != ArtifactState.DELETING
                and decider_of[pk] in needs_export
                and (exported is None or export_failed)
            ):
                unexported.append(pk)
        kept = set(unexported)
        present = [
            pk for pk, (_iid, state, *_rest) in facts.items() if state != ArtifactState.DELETING and pk not in kept
        ]
        # A statement after the one that took the row locks: it sees every lock committed before them.
        decided = _mark_deleting(present, deciders, decider_of, request_id=request_id, job=job, now=now)
    deciding = {pk: decider for pk, (_iid, state, decider, *_rest) in facts.items() if state == ArtifactState.DELETING}
    if objects is not None and (decided or deciding):
        region = tenant_region(tenant_id)
        for pk in [*decided, *deciding]:
            _iid, _state, _job, archived_at, key, version = facts[pk]
            # Being deleted now: the bytes are in the archive storage when it was archived.
            name = _storage_of(ArtifactState.DELETING, archived_at)
            objects[pk] = (pk, region, name, key, version)
    return {pk: iid for pk, (iid, *_rest) in facts.items()}, decided, deciding, unexported


def _mark_deleting(present, deciders, decider_of, *, request_id, job, now):
    """Mark the unlocked rows of ``present`` *being deleted*, each in its decider's name; returns their
    ids. PostgreSQL: one ``UPDATE ... RETURNING`` for all deciders, the "not locked" check in it."""
    if not present:
        return []
    unlocked = Artifact.objects.filter(AnyOf("id", present)).not_locked(now).order_by()
    if connection.vendor != "postgresql":
        decided = list(unlocked.values_list("id", flat=True))
        shares = {}
        for pk in decided:
            shares.setdefault(decider_of[pk], []).append(pk)
        for n, ids in shares.items():
            Artifact.objects.filter(AnyOf("id", ids)).update(
                state=ArtifactState.DELETING,
                deletion_started_at=now,
                deletion_request_id=request_id,
                deletion_job=job,
                **dict(zip(_DECIDER_COLUMNS, _decider_values(deciders[n]), strict=True)),
            )
        return decided
    check_sql, check_params = unlocked.values("id").query.sql_with_params()
    values, values_params = [], []
    for n, decider in enumerate(deciders):
        values.append(
            "(%s::int, %s::varchar, %s::bigint, %s::varchar, %s::varchar, %s::varchar, %s::inet, %s::varchar)"
        )
        values_params += [n, *_decider_values(decider)]
    table = Artifact._meta.db_table
    sets = ", ".join(f"{column} = d.{column}" for column in _DECIDER_COLUMNS)
    sql = f"""
        UPDATE {table} a
        SET state = %s, deletion_started_at = %s, deletion_request_id = %s, deletion_job = %s, {sets}
        FROM unnest(%s::bigint[], %s::int[]) AS x(id, n)
        JOIN (VALUES {", ".join(values)}) AS d(n, {", ".join(_DECIDER_COLUMNS)}) ON d.n = x.n
        WHERE a.id = x.id AND a.id IN ({check_sql})
        RETURNING a.id
    """
    ids = list(present)
    params = [
        ArtifactState.DELETING.value, now, request_id, job,
        "{" + ",".join(map(str, ids)) + "}", "{" + ",".join(str(decider_of[pk]) for pk in ids) + "}",
        *values_params, *check_params,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(pk for (pk,) in cursor.fetchall())


#: The columns of a deletion that name its decider, as :func:`_decider_values` gives them.
_DECIDER_COLUMNS = (
    "deleted_by",
    "deleted_by_user_id",
    "deletion_actor_kind",
    "deletion_actor_key",
    "deletion_source",
    "deletion_remote_addr",
    "deletion_reason",
)


def _decider_values(decider):
    actor, reason, *_rest = decider
    who = actor.audit_columns()
    return (
        who["actor_label"],
        who["actor_user_id"],
        who["actor_kind"],
        who["actor_key"],
        who["source"],
        who["remote_addr"],
        reason[:300],
    )


def finish_deletions(ids, *, now=None, then=None, job=None):
    """Steps 2 and 3 for rows of ``ids`` that are *being deleted*. Returns ``(done, refused)``:
    the ids this call turned into tombstones, and ``{id: reason}`` for objects a storage refused
    (their rows are back in their state). ``then(done, refused)`` runs in the tombstones'
    transaction. With ``job`` (the caller's, "" for none), ``done`` holds only the deletions that
    job decided: those another job decided count for it (its kind's ``count_deletions``), in the
    same transaction, so every deletion is counted once, by its decider."""
    return start_deletions(ids).finish(now=now, then=then, job=job)


def start_deletions(ids, *, storage=None, objects=None):
    """Step 2 of :func:`finish_deletions`, begun: read the rows of ``ids`` that are *being deleted*,
    clear their legal holds and delete their objects — now, or, with ``storage`` (the executor of
    :func:`storage_pipeline`), in its thread while the caller goes on with its next batch. Returns
    the :class:`Deletions`, whose ``finish`` waits for the bytes and then does step 3. ``objects``:
    what :func:`decide` read of these rows under their locks (nothing is read again)."""
    if objects is not None:
        return _start(list(objects.values()), storage)
    rows = list(
        Artifact.objects.filter(AnyOf("id", ids), state=ArtifactState.DELETING).values_list(
            "id", "tenant__storage_region", "state", "archived_at", "storage_key", "storage_version"
        )
    )
    if not rows:
        return Deletions([], {})
    return _start([(pk, region, _storage_of(state, at), key, ver) for pk, region, state, at, key, ver in rows], storage)


def _start(objects, storage):
    if not objects:
        return Deletions([], {})
    wanted = [row[0] for row in objects]
    holds.clear_legal_holds(Artifact.objects.filter(AnyOf("id", wanted)))
    # A hold Holdfast did not put there (or no longer records) is honoured: the storage refuses,
    # and the artifact goes back to its state with the refusal reported.
    if storage is None:
        return Deletions(wanted, delete_objects(objects))
    return Deletions(wanted, storage.submit(delete_objects, objects))


@contextmanager
def storage_pipeline():
    """A bounded storage thread for :func:`start_deletions` (one ``DeleteObjects`` at a time, in
    order): the bytes of a batch go while the caller selects and decides the next one. Only
    storage calls run in it, never a database query, so it holds no database connection. On the
    way out it waits for the call under way (its rows are decided: they stay *being deleted*
    for the caller's ``finish`` or, after a failure, for :func:`resume_interrupted`) and drops
    the queued ones."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="holdfast-storage")
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class Deletions:
    """Deletions whose bytes are going (:func:`start_deletions`); :meth:`finish` tombstones them."""

    def __init__(self, wanted, refused):
        self.wanted = wanted
        self._refused = refused  # {id: reason}, or the future of the storage thread that gives it

    def finish(self, *, now=None, then=None, job=None):
        """Step 3 once the bytes are gone: as :func:`finish_deletions` (same arguments and result).
        A storage call that failed (raised) raises here, its rows still *being deleted*."""
        now = now or timezone.now()
        refused = self._refused.result() if isinstance(self._refused, Future) else self._refused
        if not self.wanted:
            if then is not None:
                with transaction.atomic():
                    then([], {})
            return [], {}
        return _tombstone(self.wanted, refused, now=now, then=then, job=job)


def _tombstone(wanted, refused, *, now, then, job):
    """Step 3 (one transaction): rows of ``wanted`` still *being deleted* whose bytes are gone become
    tombstones with their audit events; those of ``refused`` go back to their state."""
    with transaction.atomic():
        decider = _mark_deleted([pk for pk in wanted if pk not in refused], now)
        done = list(decider)
        _audit_deleted(done)
        _take_back(refused)
        if job is not None:
            others = {}
            for pk in done:
                if decider[pk] != job:
                    others.setdefault(decider[pk], []).append(pk)
            for other, pks in others.items():
                _count_for_job(other, pks)
            done = [pk for pk in done if decider[pk] == job]
        if then is not None:
            then(done, refused)
    return done, refused


def _mark_deleted(ids, now):
    """Lock (in id order) the rows of ``ids`` still *being deleted* and make them tombstones; returns
    ``{id: deciding job}`` of those, in id order. PostgreSQL: one statement."""
    if not ids:
        return {}
    if connection.vendor != "postgresql":
        still = Artifact.objects.filter(AnyOf("id", ids), state=ArtifactState.DELETING)
        decider = dict(still.order_by("id").select_for_update(no_key=True).values_list("id", "deletion_job"))
        Artifact.objects.filter(AnyOf("id", decider)).update(
            state=ArtifactState.DELETED, deleted_at=now, legal_hold=False
        )
        return decider
    table = Artifact._meta.db_table
    sql = f"""
        WITH held AS (
            SELECT id FROM {table} WHERE id = ANY(%s::bigint[]) AND state = %s ORDER BY id FOR NO KEY UPDATE
        )
        UPDATE {table} a SET state = %s, deleted_at = %s, legal_hold = false
        FROM held WHERE a.id = held.id AND a.state = %s
        RETURNING a.id, a.deletion_job
    """
    deleting = ArtifactState.DELETING.value
    with connection.cursor() as cursor:
        cursor.execute(sql, ["{" + ",".join(map(str, ids)) + "}", deleting, ArtifactState.DELETED.value, now, deleting])
        return dict(sorted(cursor.fetchall()))


def _audit_deleted(ids):
    """One ``ARTIFACT_DELETED`` event per row, in the name of the actor that decided it (one INSERT)."""
    audit.record_selected(  # unordered: the chain numbers the events by artifact id itself
        Artifact.objects.filter(AnyOf("id", ids))
        .order_by()
        .values(
            "tenant_id",
            kind=Value(AuditEvent.Kind.ARTIFACT_DELETED),
            actor_user_id=F("deleted_by_user_id"),
            actor_label=F("deleted_by"),
            actor_kind=F("deletion_actor_kind"),
            actor_key=F("deletion_actor_key"),
            source=F("deletion_source"),
            remote_addr=F("deletion_remote_addr"),
            request_id=F("deletion_request_id"),
            reason=F("deletion_reason"),
            interaction_guid=F("interaction__guid"),
            artifact_id=F("id"),
            details=JSONObject(storage_key="storage_key", export="exported_in"),
        )
    )


def _take_back(refused):
    """Rows whose bytes a storage refused to delete are what they were before the decision."""
    if not refused:
        return
    for pk, reason in refused.items():
        log.warning("storage refused to delete artifact %s: %s", pk, reason)
    Artifact.objects.filter(id__in=list(refused), state=ArtifactState.DELETING).update(
        state=Case(
            When(archived_at__isnull=True, then=Value(ArtifactState.STORED)), default=Value(ArtifactState.ARCHIVED)
        ),
        deletion_started_at=None,
        deleted_by="",
        deleted_by_user_id=None,
        deletion_actor_kind="",
        deletion_actor_key="",
        deletion_source="",
        deletion_remote_addr=None,
        deletion_request_id=None,
        deletion_job="",
        deletion_reason="",
    )


# --- archiving ----------------------------------------------------------------------------------------
def copy_to_archive(rows, region):
    """Copy each artifact of ``rows`` (``(id, storage_key, storage_version, sha256, content_type)``,
    all of tenants in ``region``) to the archive storage of that region and verify its SHA-256 there.

    Returns ``(copied, errors)``: ``copied`` maps id → the archive object's version, ``errors``
    maps id → why the copy failed (the source is kept, untouched, for those).
    """
    copied, errors = {}, {}
    for pk, key, version, sha256, content_type in rows:
        try:
            stored = copy_object(
                key, "active", "archive", sha256, version=version, content_type=content_type, region=region
            )
        except (StorageError, OSError) as exc:
            errors[pk] = str(exc)
        except Exception as exc:  # botocore's ClientError / EndpointConnectionError and the like
            if "botocore" not in type(exc).__module__:
                raise
            errors[pk] = f"Storage error: {exc}"
        else:
            copied[pk] = stored.version
    return copied, errors


def mark_archived(copied, *, tenant_id, actor, reason, now, pending=None):
    """Record the artifacts of ``copied`` (id → archive version) as archived, their active copies
    (and those copies' versions) still to remove; audit each. ``pending`` maps each copied id to
    its upload intent (:func:`begin_uploads`), ended here."""
    if not copied:
        return
    if pending:
        claim_uploads(pending[pk] for pk in copied)
    ids = list(copied)
    # The active copies may carry holds of released locks: clear them while the rows say "stored".
    holds.clear_legal_holds(Artifact.objects.filter(id__in=ids))
    Artifact.objects.filter(id__in=ids).update(
        state=ArtifactState.ARCHIVED,
        archived_at=now,
        legal_hold=False,
        stale_active_copy=True,
        stale_active_version=F("storage_version"),
        storage_version=Case(*[When(pk=pk, then=Value(v)) for pk, v in copied.items()], default=Value("")),
    )
    audit_each(ids, AuditEvent.Kind.ARTIFACT_ARCHIVED, tenant_id, actor, reason)


def remove_active_copies(ids):
    """Remove the active copies of archived artifacts of ``ids`` flagged ``stale_active_copy``.
    Returns ``{id: reason}`` for the copies a storage refused (they stay flagged)."""
    rows = list(
        Artifact.objects.filter(id__in=list(ids), stale_active_copy=True).values_list(
            "id", "tenant__storage_region", "storage_key", "stale_active_version"
        )
    )
    refused = delete_objects([(pk, region, "active", key, version) for pk, region, key, version in rows])
    Artifact.objects.filter(id__in=[pk for pk, _region, _key, _version in rows if pk not in refused]).update(
        stale_active_copy=False, stale_active_version=""
    )
    return refused


def audit_each(ids, kind, tenant_id, actor, reason, request_id=None):
    """One audit event of ``kind`` per artifact of ``ids``, in one ``INSERT ... SELECT``."""
    audit.record_rows(
        Artifact.objects.filter(id__in=ids).values(
            interaction_guid=F("interaction__guid"),
            artifact_id=F("id"),
            details=JSONObject(storage_key="storage_key"),
        ),
        tenant_id,
        kind,
        actor,
        request_id=request_id,
        reason=reason,
    )


# --- uploads: bytes recorded by nobody yet ----------------------------------------------------------
def begin_uploads(tenant_id, storage, keys):
    """Commit the intent to write ``keys`` to ``storage`` before any byte goes (call outside a
    transaction). Returns ``{key: pending id}``."""
    rows = PendingUpload.objects.bulk_create(
        PendingUpload(tenant_id=tenant_id, storage=storage, storage_key=key) for key in keys
    )
    return {row.storage_key: row.pk for row in rows}


def claim_uploads(pending_ids):
    """In the transaction that records the bytes: end their intents. Raises :class:`StorageError`
    when the resume took one meanwhile (it removes the bytes: they must not be recorded)."""
    pending_ids = list(pending_ids)
    intents = PendingUpload.objects.filter(pk__in=pending_ids).select_for_update(no_key=True)
    held = list(intents.values_list("pk", flat=True))
    if len(held) != len(pending_ids):
        raise StorageError("An upload was abandoned as interrupted while it was being recorded; nothing is recorded.")
    PendingUpload.objects.filter(pk__in=held).delete()


def abandon_upload(pending_id, storage, key, region):
    """Remove the bytes of a write that will not be recorded (to storage ``storage`` of ``region``),
    and its intent. Never raises: when the storage refuses now, the intent stays and the resume
    removes them later."""
    try:
        get_storage(storage, region).remove_versions(key)
    except Exception as exc:  # the storage failed the write; it may fail this too
        log.warning("bytes of the abandoned upload %s:%s stay until the resume removes them: %s", storage, key, exc)
        return
    PendingUpload.objects.filter(pk=pending_id).delete()


def _recorded_versions(storage, key):
    """The versions of ``key`` in ``storage`` an artifact records (its bytes, or a copy still to remove)."""
    keep = set()
    for state, archived_at, version, stale, stale_version in Artifact.objects.filter(storage_key=key).values_list(
        "state", "archived_at", "storage_version", "stale_active_copy", "stale_active_version"
    ):
        if state != ArtifactState.DELETED and _storage_of(state, archived_at) == storage:
            keep.add(version)
        if storage == "active" and stale:
            keep.add(stale_version)
    return keep


def remove_unrecorded_uploads(now, batch=100):
    """Remove the bytes of uploads left unrecorded over :data:`RESUME_AFTER` (writer killed, or the
    storage failed the write and its clean-up): every version of their keys no artifact records.
    The intent's row is held meanwhile, so its writer cannot record bytes being removed. Returns
    ``(versions removed, keys the storage refused)``."""
    removed = refused = 0
    while True:
        with transaction.atomic():
            rows = list(
                PendingUpload.objects.filter(started_at__lte=now - RESUME_AFTER)
                .order_by("id")
                .select_for_update(no_key=True, skip_locked=True)[:batch]
            )
            if not rows:
                return removed, refused
            done = []
            regions = tenant_regions(row.tenant_id for row in rows)
            for row in rows:
                try:
                    removed += get_storage(row.storage, regions[row.tenant_id]).remove_versions(
                        row.storage_key, _recorded_versions(row.storage, row.storage_key)
                    )
                except Exception as exc:  # the storage is failing: try again next time
                    log.warning("unrecorded upload %s stays for now: %s", row, exc)
                    refused += 1
                else:
                    done.append(row.pk)
            PendingUpload.objects.filter(pk__in=done).delete()
        if not done:
            return removed, refused


# --- residency: what a tenant holds in its region ----------------------------------------------------
def content_held(sender, tenant, region, **kwargs):
    """Receiver of ``accounts.signals.tenant_region_changing``: why ``tenant`` cannot leave its storage
    region — artifacts present or being deleted, active copies still to remove, uploads in progress —
    or None when no byte of it is in the region's storages."""
    held = []
    if Artifact.objects.filter(tenant_id=tenant.pk).exclude(state=ArtifactState.DELETED).exists():
        held.append("artifacts")
    if Artifact.objects.filter(tenant_id=tenant.pk, stale_active_copy=True).exists():
        held.append("active copies of archived artifacts still to remove")
    if PendingUpload.objects.filter(tenant_id=tenant.pk).exists():
        held.append("uploads in progress")
    if not held:
        return None
    return f"it holds content in region {tenant.storage_region} ({', '.join(held)})"


# --- resuming after a crash -------------------------------------------------------------------------------
def _job_running(job):
    kind_name, _, pk = job.partition(":")
    kind = jobs.KINDS.get(kind_name)
    if kind is None or not pk.isdigit():
        return False
    return kind.model.objects.filter(pk=int(pk), status=jobs.JobStatus.IN_PROGRESS).exists()


def resume_interrupted(now=None):
    """Finish what a dead worker left: deletions decided but not finished (their job is no longer
    In Progress, or, without a job, decided over :data:`RESUME_AFTER` ago), active copies of
    archived artifacts still to remove, bytes of uploads nobody recorded
    (:func:`remove_unrecorded_uploads`), and S3 holds a storage failure left apart from the locks
    (:func:`artifacts.holds.reconcile_legal_holds`). Runs every minute (a periodic task) and needs no click.
    Returns ``{"deleted": n, "copies_removed": n, "unrecorded_removed": n, "refused": n}``."""
    now = now or timezone.now()
    deleted = refused = 0
    pending = Artifact.objects.deleting().filter(
        Q(deletion_job="", deletion_started_at__lte=now - RESUME_AFTER) | ~Q(deletion_job="")
    )
    for job in pending.order_by().values_list("deletion_job", flat=True).distinct():
        if job and _job_running(job):
            continue  # its live worker finishes them
        while ids := list(pending.filter(deletion_job=job).order_by("id").values_list("id", flat=True)[:BATCH]):
            done, failed = finish_deletions(
                ids, now=now, job=job, then=lambda done, _refused, job=job: _count_for_job(job, done)
            )
            deleted, refused = deleted + len(done), refused + len(failed)
            if not done:
                break
    copies = 0
    stale = Artifact.objects.filter(stale_active_copy=True)
    while ids := list(stale.order_by("id").values_list("id", flat=True)[:BATCH]):
        failed = remove_active_copies(ids)
        copies, refused = copies + len(ids) - len(failed), refused + len(failed)
        if len(failed) == len(ids):
            break
    uploads, upload_refusals = remove_unrecorded_uploads(now)
    refused += upload_refusals
    try:
        holds.reconcile_legal_holds()
    except Exception as exc:  # the storage is failing: next minute
        log.warning("legal holds not reconciled now: %s", exc)
        refused += 1
    if deleted or copies or refused or uploads:
        log.warning(
            "resumed interrupted work: %s deleted, %s active copies removed, %s unrecorded versions removed, "
            "%s refused",
            deleted,
            copies,
            uploads,
            refused,
        )
    return {"deleted": deleted, "copies_removed": copies, "unrecorded_removed": uploads, "refused": refused}


def _count_for_job(job, done):
    """Let the job kind that decided these deletions count them (a sweep adds them to its run)."""
    kind_name, _, pk = job.partition(":")
    kind = jobs.KINDS.get(kind_name)
    if done and kind is not None and kind.count_deletions is not None and pk.isdigit():
        kind.count_deletions(int(pk), len(done))
