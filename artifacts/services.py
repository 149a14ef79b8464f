"""State changes of artifacts: storing content, the one delete path, the one archive path, and
Artifacts Management Requests (create, cancel, retry; :mod:`artifacts.processing` runs them).

Every function takes the ids it works on and an :class:`~accounts.actors.Actor`, derives what the
actor may do on the tenant of those rows itself, runs in one transaction and writes its audit
events. Views, the admin, commands, jobs and the API call these and nothing else.
"""

import logging
import mimetypes
from collections import Counter
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Count, F, Value
from django.db.models.functions import Cast, JSONObject
from django.utils import timezone

from accounts import audit
from accounts.actors import ActorKind
from accounts.models import AuditEvent, Tenant
from accounts.permissions import (
    ARTIFACTS_MANAGEMENT_DELETE_REQUESTS,
    INGEST_CONTENT,
    MANAGE_LIFECYCLE_POLICIES,
)
from config import jobs
from core.sql import AnyOf, LookUp
from core.vocabulary import ArtifactState, lock_targets
from interactions.models import Interaction

from . import disposal, export_gate, holds, media
from .models import Artifact, Lock, ManagementRequest, ManagementRequestItem
from .storage import get_storage, new_key, tenant_region
from .validation import check_locked_interactions_limit, required_permissions, validate_request

log = logging.getLogger(__name__)

RequestType, Status = ManagementRequest.RequestType, ManagementRequest.Status


# --- storing content ----------------------------------------------------------------------------
def store_artifact(
    interaction_id,
    *,
    actor,
    artifact_type,
    content_key,
    filename,
    stream,
    content_type="",
    audio_recording_type="",
    created_at=None,
    idempotency_key="",
):
    """Write ``stream`` to active storage and record it as an artifact of the interaction.

    Idempotent by ``idempotency_key`` (the source's id of the content, unique per tenant): storing
    the same key again writes nothing and returns the artifact stored the first time. The bytes
    are written first (SHA-256 and size computed while writing, one object per artifact); the row
    and its audit event then commit together, or the bytes are deleted again so that no
    unrecorded content is left in storage. Content that arrives for an interaction under an active
    lock is locked at once (a lock covers what arrives later), in storage too (S3 legal hold).
    """
    interaction = Interaction.objects.only("id", "tenant_id", "guid").get(pk=interaction_id)
    actor.require(interaction.tenant_id, INGEST_CONTENT, doing="store content")
    if idempotency_key:
        known = Artifact.objects.filter(tenant_id=interaction.tenant_id, idempotency_key=idempotency_key).first()
        if known is not None:
            return known
    content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    key = new_key(interaction.tenant_id, filename)
    # The intent commits before the first byte: bytes a failed or killed write leaves are found. The
    # region is read with it, under a share lock of the tenant's row: a region change (refused while an
    # upload is in progress) either committed before, and is seen here, or sees this intent.
    with transaction.atomic():
        pending = disposal.begin_uploads(interaction.tenant_id, "active", [key])[key]
        region = tenant_region(interaction.tenant_id, for_upload=True)
    # Audio and video: the duration is read from the header as the bytes go by (no second read).
    probe = media.DurationProbe(stream) if media.is_media(content_type, filename) else None
    try:
        stored = get_storage("active", region).write(key, probe or stream, content_type)
    except Exception:
        disposal.abandon_upload(pending, "active", key, region)
        raise
    artifact = Artifact(
        tenant_id=interaction.tenant_id,
        interaction_id=interaction.pk,
        artifact_type=artifact_type,
        audio_recording_type=audio_recording_type or "",
        content_key=content_key,
        storage_key=stored.key,
        storage_version=stored.version,
        filename=filename,
        content_type=content_type,
        size=stored.size,
        sha256=stored.sha256,
        duration_seconds=probe.duration() if probe else None,
        created_at=created_at or timezone.now(),
        idempotency_key=idempotency_key,
    )
    try:
        # The database enforces the check constraints; validating them here would cost 3 queries.
        artifact.full_clean(exclude=["tenant", "interaction", "storage_key"], validate_constraints=False)
        with transaction.atomic():
            artifact.save(force_insert=True)
            disposal.claim_uploads([pending])
            locked = Artifact.objects.filter(pk=artifact.pk).locked().exists()
            audit.record(
                interaction.tenant_id,
                AuditEvent.Kind.ARTIFACT_STORED,
                actor,
                interaction_guid=interaction.guid,
                artifact_id=artifact.pk,
                reason="Content stored" + (" under an active lock: locked on arrival" if locked else ""),
                artifact_type=artifact.artifact_type,
                content_key=artifact.content_key,
                size=artifact.size,
                sha256=artifact.sha256,
                locked_on_arrival=locked,
            )
    except Exception as exc:
        log.warning("Artifact row for %s not saved; removing its bytes", stored.key)
        disposal.abandon_upload(pending, "active", key, region)
        if isinstance(exc, IntegrityError) and idempotency_key:
            # Stored concurrently under the same key: that one is the artifact.
            known = Artifact.objects.filter(tenant_id=interaction.tenant_id, idempotency_key=idempotency_key).first()
            if known is not None:
                return known
        raise
    holds.sync_legal_holds(Artifact.objects.filter(pk=artifact.pk))
    return artifact


# --- the one delete path and the one archive path -------------------------------------------------
@dataclass
class Disposal:
    """What :func:`delete_artifacts` or :func:`archive_artifacts` did with the ids it was given.

    ``done`` were deleted (archived), ``skipped_locked`` were kept because a lock covers them,
    ``failed`` maps an id to why the storage refused; ``interaction_of`` maps every present (or
    being deleted) id handled to its interaction; ``others`` were being deleted by another
    decision (finished here, counted for their decider). ``unexported`` were kept because their
    decider needs a verified export first and they have none (``export_error`` says why the export
    made for them failed). Ids that were not the tenant's are in none.
    """

    done: list = field(default_factory=list)
    skipped_locked: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)
    interaction_of: dict = field(default_factory=dict)
    others: list = field(default_factory=list)
    unexported: list = field(default_factory=list)
    export_error: str = ""


def delete_artifacts(
    tenant_id, artifact_ids, actor, reason, *, request_id=None, job="", now=None, then=None, require_export=False
):
    """Delete the bytes of artifacts and leave tombstones: the one delete path of Holdfast.

    Used by Delete requests, the lifecycle sweep and the API; crash-safe (see
    :mod:`artifacts.disposal`): the decision commits first, under row locks and the "not locked"
    re-check (a lock committed before this point always wins), then the bytes go in ≤ 1,000-key
    storage batches, then tombstones and one audit event per artifact in the actor's name. Must not
    run inside a transaction of the caller's: the decision has to commit before any byte goes.
    Artifacts an earlier decision is already deleting (a worker died) are finished too, and count
    for that decision's job (``Disposal.others``), not for this one. With ``require_export`` only
    content in a verified export is deleted: what has none is exported first (:mod:`.export_gate`).
    ``then(disposal)`` runs in the tombstones' transaction. Returns a :class:`Disposal`.
    """
    return delete_artifacts_by_decider(
        tenant_id, [(actor, reason, artifact_ids, require_export)], request_id=request_id, job=job, now=now, then=then
    )


def delete_artifacts_by_decider(tenant_id, deciders, *, request_id=None, job="", now=None, then=None):
    """:func:`delete_artifacts` for artifacts that different actors decide, each for its own reason
    (the sweep: each deciding lifecycle policy): ``deciders`` is ``[(actor, reason, artifact ids)]``,
    or ``[(actor, reason, artifact ids, needs_export)]`` for deciders that delete only exported
    content. Every actor must hold the delete permission. The rows are locked and re-checked once
    and the bytes and tombstones handled once for all, so a sweep batch costs the same statements
    however many policies decide in it; each artifact's audit event names its own decider and reason."""
    return begin_deleting_by_decider(tenant_id, deciders, request_id=request_id, job=job, now=now, then=then)()


def begin_deleting_by_decider(tenant_id, deciders, *, request_id=None, job="", now=None, then=None, storage=None):
    """:func:`delete_artifacts_by_decider` up to its bytes: the export a decider needs made first,
    the decision committed and the bytes going — in the thread of ``storage``
    (:func:`artifacts.disposal.storage_pipeline`) when given, so that the caller can decide its next
    batch meanwhile. Returns ``finish()``, which waits for the bytes, writes the tombstones and audit
    events (``then`` in their transaction) and returns the :class:`Disposal`. A caller that dies
    before ``finish`` leaves decided rows that the resume finishes
    (:func:`artifacts.disposal.resume_interrupted`)."""
    for actor, _reason, _ids, *_rest in deciders:
        actor.require(tenant_id, ARTIFACTS_MANAGEMENT_DELETE_REQUESTS, doing="delete content")
    now = now or timezone.now()
    export_error = _export_first(tenant_id, deciders, job, now)
    objects = {}
    held, decided, deciding, unexported = disposal.decide(
        tenant_id,
        deciders,
        request_id=request_id,
        job=job,
        now=now,
        export_failed=bool(export_error),
        objects=objects,
    )
    result = Disposal(interaction_of=held, unexported=unexported, export_error=export_error)
    kept = {*decided, *deciding, *unexported}
    result.skipped_locked = [pk for pk in held if pk not in kept]
    result.others = [pk for pk, decider in deciding.items() if decider != job]
    deletions = disposal.start_deletions([*decided, *deciding], storage=storage, objects=objects)

    def record(done, refused):
        result.done, result.failed = done, refused
        if then is not None:
            then(result)

    def finish():
        deletions.finish(now=now, then=record, job=job)
        return result

    return finish


def _export_first(tenant_id, deciders, job, now):
    """Export what deciders that need an export would delete and no verified export holds (only
    present, unlocked rows: the rest is not deleted anyway). Returns why the export failed ("" when
    it did not): the decision then keeps those rows, so a failed export deletes nothing of them."""
    wanted = [pk for _actor, _reason, ids, *rest in deciders if rest and rest[0] for pk in ids]
    if not wanted:
        return ""
    missing = list(
        Artifact.objects.filter(tenant_id=tenant_id, id__in=wanted, exported_at__isnull=True)
        .present()
        .not_locked(now)
        .order_by("id")
        .values_list("id", flat=True)
    )
    reasons = "; ".join(dict.fromkeys(reason for _actor, reason, _ids, *rest in deciders if rest and rest[0]))
    try:
        export_gate.export_first(tenant_id, missing, reason=reasons, job=job)
    except export_gate.ExportBeforeDeleteFailed as exc:
        log.warning("export before deletion failed (tenant %s, job %s): %s", tenant_id, job or "-", exc)
        return str(exc)
    return ""


def archive_artifacts(tenant_id, artifact_ids, actor, reason, *, now=None, then=None):
    """Move artifacts from active to archive storage: the one archive path (the sweep uses it).

    Under row locks and the "not locked" re-check, as :func:`delete_artifacts`: each copy is
    verified (SHA-256) in the archive before the artifact counts as archived; a bad copy keeps the
    source and is reported in ``failed``. The active copy is removed once the archive state has
    committed (a crash in between leaves it flagged; the resume removes it). ``then(disposal)``
    runs in the transaction that records the move.
    """
    actor.require(tenant_id, MANAGE_LIFECYCLE_POLICIES, doing="move content to archive storage")
    now = now or timezone.now()
    # The copies' intents commit first: a copy whose transaction rolls back, or whose worker dies, is
    # removed again (here, or by the resume) instead of outliving the artifact in the archive.
    keys = dict(
        Artifact.objects.filter(tenant_id=tenant_id, id__in=list(artifact_ids), state=ArtifactState.STORED)
        .not_locked(now)
        .values_list("id", "storage_key")
    )
    intents = disposal.begin_uploads(tenant_id, "archive", keys.values())
    pending = {pk: intents[key] for pk, key in keys.items()}
    # The copies stay in the tenant's region (it cannot change while the tenant holds content).
    region = tenant_region(tenant_id)
    try:
        result = _archive(tenant_id, artifact_ids, actor, reason, now, pending, then, region)
    except Exception:
        for pk, key in keys.items():
            disposal.abandon_upload(pending[pk], "archive", key, region)
        raise
    for pk, key in keys.items():
        if pk not in result.done:
            disposal.abandon_upload(pending[pk], "archive", key, region)
    for pk, message in disposal.remove_active_copies(result.done).items():
        result.failed[pk] = f"Archived, but its active copy is not removed yet (retried every minute): {message}"
    return result


def _archive(tenant_id, artifact_ids, actor, reason, now, pending, then, region):
    """The transaction of :func:`archive_artifacts`: copy, verify and record under row locks."""
    with transaction.atomic():
        held = dict(
            Artifact.objects.filter(tenant_id=tenant_id, id__in=list(artifact_ids), state=ArtifactState.STORED)
            .order_by("id")
            .select_for_update(no_key=True)
            .values_list("id", "interaction_id")
        )
        # Only what was checked before the intents were recorded may be copied.
        movable = Artifact.objects.filter(id__in=[pk for pk in held if pk in pending]).not_locked(now)
        facts = list(movable.values_list("id", "storage_key", "storage_version", "sha256", "content_type"))
        copied, copy_errors = disposal.copy_to_archive(facts, region)
        disposal.mark_archived(copied, tenant_id=tenant_id, actor=actor, reason=reason, now=now, pending=pending)
        result = Disposal(interaction_of=held, done=list(copied), failed=dict(copy_errors))
        result.skipped_locked = [pk for pk in held if pk not in {row[0] for row in facts}]
        if then is not None:
            then(result)
    return result


# --- locks (legal holds) --------------------------------------------------------------------------
@dataclass
class LockChange:
    """What :func:`add_locks` or :func:`release_locks` did, per interaction id: ``matched`` present
    artifacts of the selected types, ``changed`` of those newly covered (add: every matched one is
    covered now) or released (no active lock covers them any more), and ``deleting`` artifacts of
    the selected types whose deletion was decided before: no lock can hold them any more."""

    matched: Counter = field(default_factory=Counter)
    changed: Counter = field(default_factory=Counter)
    deleting: Counter = field(default_factory=Counter)


def _selected_artifacts(interaction_ids, pairs):
    return Artifact.objects.filter(AnyOf("interaction_id", interaction_ids)).selected(pairs).present()


def _row_lock(artifacts):
    """Row-lock ``artifacts`` in id order (one statement; one order for everyone: no deadlock).
    Returns the locked rows' ``(id, interaction id, artifact type, audio recording type)``: they
    stay as they are until the transaction ends, so no second statement needs to count them."""
    fields = ("id", "interaction_id", "artifact_type", "audio_recording_type")
    return list(artifacts.order_by("id").select_for_update(no_key=True).values_list(*fields))


def _per_interaction(rows):
    return Counter(row[1] for row in rows)


def _count_by_interaction(artifacts):
    return Counter(dict(artifacts.values("interaction_id").annotate(n=Count("id")).values_list("interaction_id", "n")))


def add_locks(
    tenant_id,
    interaction_ids,
    actor,
    *,
    selection,
    audio_recording_type="",
    expires_at=None,
    request=None,
    reason="",
    matter_id=None,
    then=None,
):
    """Lock (legal hold) the selected artifact types of the tenant's interactions: the artifacts there
    now and those that arrive later, until released or ``expires_at``.

    One lock row per interaction and ``(type, audio type)`` pair (*Any* is one per type it covers),
    inserted in one ``INSERT ... SELECT``; the same request item run twice adds nothing (unique
    per request). Refuses with ``ValidationError`` naming the limit when the tenant's limit of
    locked interactions would be passed. One ``LOCK_ADDED`` audit event per interaction; the S3
    legal holds follow after commit: call it outside a transaction, and record what depends on the
    change in ``then(change)``, which runs in its transaction. With ``matter_id`` the locks belong to
    that legal matter. Returns a :class:`LockChange`.
    """
    actor.require(tenant_id, *required_permissions(RequestType.ADD_LOCK), doing="add locks")
    pairs = lock_targets(selection, audio_recording_type)
    interaction_ids = list(interaction_ids)
    with transaction.atomic():
        # Serializes lock additions of a tenant (the limit check). NO KEY UPDATE, so that concurrent
        # inserts referencing the tenant (audit events of a delete holding artifact rows) don't deadlock.
        tenant = Tenant.objects.select_for_update(no_key=True).get(pk=tenant_id)
        owned = list(
            Interaction.objects.filter(AnyOf("id", interaction_ids), tenant_id=tenant_id).values_list("pk", flat=True)
        )
        matching = _selected_artifacts(owned, pairs)
        change = LockChange(matched=_per_interaction(_row_lock(matching)))
        check_locked_interactions_limit(tenant, owned)
        _insert_locks(tenant_id, owned, pairs, actor, selection, expires_at, request, matter_id)
        change.changed = Counter(change.matched)
        change.deleting = _count_by_interaction(
            Artifact.objects.filter(AnyOf("interaction_id", owned)).selected(pairs).deleting()
        )
        audit.record_rows(
            Interaction.objects.filter(AnyOf("id", owned)).values(
                interaction_guid=F("guid"),
                artifact_id=Cast(Value(None), BigIntegerField()),
                details=JSONObject(
                    artifact_type=Value(selection),
                    audio_recording_type=Value(audio_recording_type or ""),
                    expires_at=Value(expires_at.isoformat() if expires_at else ""),
                    # Counted when the rows were locked: the statement reads no artifact again.
                    artifacts_locked=LookUp(change.matched),
                    matter=Value(matter_id, output_field=BigIntegerField()),
                ),
            ),
            tenant_id,
            AuditEvent.Kind.LOCK_ADDED,
            actor,
            request_id=getattr(request, "pk", None),
            reason=reason,
        )
        if then is not None:
            then(change)
    # After the locks committed: a hold placed and then rolled back would be a hold nobody records.
    # A storage failure here leaves locks without their holds, which the caller reports and the
    # resume mends (holds.reconcile_legal_holds).
    holds.sync_legal_holds(matching)
    return change


def _insert_locks(tenant_id, interaction_ids, pairs, actor, selection, expires_at, request, matter_id=None):
    """One ``INSERT ... SELECT`` of a lock per interaction and pair; with a request, a row that exists
    already (the same request item run twice) is skipped by the unique constraint."""
    if not interaction_ids:
        return
    who = actor.audit_columns()
    sql, params = (
        Interaction.objects.filter(AnyOf("id", interaction_ids)).order_by().values("id").query.sql_with_params()
    )
    # The interactions are read once and crossed with the pairs (a UNION of one SELECT per pair read
    # them once per pair, which cost more than the insert itself).
    pair_rows = " UNION ALL ".join(["SELECT %s AS t, %s AS a"] * len(pairs))
    columns = (
        "tenant_id, interaction_id, artifact_type, audio_recording_type, selection, expires_at, created_at, "
        "created_by_user_id, created_by, request_id, released_by, matter_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Lock._meta.db_table} ({columns}) "
            f"SELECT %s, src.id, p.t, p.a, %s, %s, %s, %s, %s, %s, '', %s FROM ({sql}) src CROSS JOIN ({pair_rows}) p "
            # "WHERE 1 = 1": SQLite (development) would otherwise parse ON CONFLICT as a join's ON.
            "WHERE 1 = 1 ON CONFLICT DO NOTHING",
            [
                tenant_id,
                selection,
                expires_at,
                timezone.now(),
                who["actor_user_id"],
                who["actor_label"],
                getattr(request, "pk", None),
                matter_id,
                *params,
                *(value for pair in pairs for value in pair),
            ],
        )


def release_locks(
    tenant_id,
    interaction_ids,
    actor,
    *,
    selection,
    audio_recording_type="",
    request=None,
    reason="",
    now=None,
    matter_id=None,
    then=None,
):
    """Release every active lock of the selected types on the tenant's interactions (Remove Lock).

    Locks of other types stay, also where one request placed both (*Any* is one lock per type).
    Under row locks on the selected artifacts, so no lock can be added meanwhile: the artifacts
    locked before are exactly those it unlocks. One ``LOCK_REMOVED`` audit event per lock; the S3
    legal holds follow after commit (``then(change)`` runs in the transaction, as in
    :func:`add_locks`). With ``matter_id`` only that legal matter's locks are released: other locks
    (other matters', or none) on the same content stay, and ``changed`` counts only the artifacts
    nothing holds any more. Returns a :class:`LockChange`.
    """
    actor.require(tenant_id, *required_permissions(RequestType.REMOVE_LOCK), doing="remove locks")
    pairs = lock_targets(selection, audio_recording_type)
    now = now or timezone.now()
    with transaction.atomic():
        owned = list(
            Interaction.objects.filter(AnyOf("id", interaction_ids), tenant_id=tenant_id).values_list("pk", flat=True)
        )
        matching = _selected_artifacts(owned, pairs)
        rows = _row_lock(matching)
        who = actor.audit_columns()
        releasing = Lock.objects.active(now).filter(AnyOf("interaction_id", owned), tenant_id=tenant_id).covering(pairs)
        if matter_id is not None:
            locked_before = _count_by_interaction(matching.locked(now))
            releasing = releasing.filter(matter_id=matter_id)
        releases = list(releasing.values_list("id", "interaction_id", "artifact_type", "audio_recording_type"))
        released = [lock[0] for lock in releases]
        if matter_id is None:
            # Every active lock that covers a selected artifact is one of these (same interactions,
            # same pairs): the artifacts locked before are those one of them covers, no EXISTS needed.
            covered = {lock[1:] for lock in releases}
            locked_before = _per_interaction([row for row in rows if row[1:] in covered])
        Lock.objects.filter(AnyOf("id", released)).update(
            released_at=now,
            released_by=who["actor_label"],
            released_by_user_id=who["actor_user_id"],
            release_request=request,
        )
        _audit_locks(released, AuditEvent.Kind.LOCK_REMOVED, tenant_id, actor, reason, request=request)
        change = LockChange(matched=_per_interaction(rows), changed=locked_before)
        if matter_id is not None:  # other locks may still hold some of them
            change.changed = locked_before - _count_by_interaction(matching.locked(now))
        if then is not None:
            then(change)
    # After the release committed, as in add_locks: a hold cleared and then rolled back would leave
    # a lock without its hold.
    holds.sync_legal_holds(matching)
    return change


def lock_audit_rows(lock_ids, **extra):
    """The ``values()`` rows of :func:`accounts.audit.record_rows` for one event per lock: its
    interaction, and its id, types, expiry and matter (plus ``extra`` constants) as details."""
    return Lock.objects.filter(AnyOf("id", lock_ids)).values(
        interaction_guid=F("interaction__guid"),
        artifact_id=Cast(Value(None), BigIntegerField()),
        details=JSONObject(
            lock="id",
            artifact_type="artifact_type",
            audio_recording_type="audio_recording_type",
            expires_at="expires_at",
            matter="matter_id",
            **{name: Value(value) for name, value in extra.items()},
        ),
    )


def _audit_locks(lock_ids, kind, tenant_id, actor, reason, *, request=None):
    """One audit event of ``kind`` per lock of ``lock_ids`` (its types and expiry), in one statement."""
    audit.record_rows(
        lock_audit_rows(lock_ids),
        tenant_id,
        kind,
        actor,
        request_id=getattr(request, "pk", None),
        reason=reason,
    )


def record_lapsed_locks(tenant_id, actor, *, now=None, batch=1000, then=None):
    """Record (once) each lock of the tenant whose expiry has passed: its ``LOCK_EXPIRED`` audit event,
    and clear the S3 holds nothing holds any more. ``then(count)`` runs in each batch's
    transaction. Returns how many were recorded."""
    actor.require(tenant_id, MANAGE_LIFECYCLE_POLICIES, doing="record lock expiries")
    now = now or timezone.now()
    lapsed = Lock.objects.filter(
        tenant_id=tenant_id, released_at__isnull=True, expires_at__lte=now, expiry_recorded_at__isnull=True
    )
    total = 0
    while True:
        with transaction.atomic():
            ids = list(lapsed.order_by("id").select_for_update(no_key=True).values_list("id", flat=True)[:batch])
            if not ids:
                return total
            Lock.objects.filter(id__in=ids).update(expiry_recorded_at=now)
            _audit_locks(ids, AuditEvent.Kind.LOCK_EXPIRED, tenant_id, actor, "Lock expiry date passed")
            if then is not None:
                then(len(ids))
        total += len(ids)
        interactions = Lock.objects.filter(id__in=ids).values("interaction_id")
        holds.sync_legal_holds(Artifact.objects.filter(interaction_id__in=interactions))


# --- Artifacts Management Requests ------------------------------------------------------------
@transaction.atomic
def create_management_request(tenant_id, actor, **fields):
    """Validate and save a request with one item per interaction, then queue it for a worker.

    ``fields`` are the raw inputs of :func:`artifacts.validation.validate_request`; what the actor
    may save is derived from its grants on the tenant. Raises ``ValidationError`` /
    ``PermissionDenied`` with nothing saved. The work acts for ``actor``.

    Where the tenant requires two-person approval, Remove Lock and Delete requests are saved
    *Awaiting Approval* instead of Queued and wait for :func:`approve_management_request`.
    """
    tenant = Tenant.objects.get(pk=tenant_id)
    valid = validate_request(tenant, actor.perms_on(tenant), **fields)
    who = actor.audit_columns()
    waits = needs_approval(tenant, valid.request_type)
    req = ManagementRequest.objects.create(
        status=Status.AWAITING_APPROVAL if waits else Status.QUEUED,
        matter_id=valid.matter_id,
        tenant=tenant,
        request_type=valid.request_type,
        artifact_type=valid.artifact_type,
        audio_recording_type=valid.audio_recording_type,
        description=valid.description,
        lock_expires_on=valid.lock_expires_on,
        lock_expires_at=valid.lock_expires_at,
        remove_locks=valid.remove_locks,
        require_export=valid.require_export,
        confirmation=valid.confirmation,
        interaction_count=len(valid.interaction_ids),
        created_by_user_id=who["actor_user_id"],
        created_by=who["actor_label"],
        **actor.ref(),
    )
    ManagementRequestItem.objects.bulk_create(
        ManagementRequestItem(request=req, interaction_id=pk, position=n) for n, pk in enumerate(valid.interaction_ids)
    )
    audit.record(
        tenant.pk,
        AuditEvent.Kind.REQUEST_CREATED,
        actor,
        request_id=req.pk,
        reason=valid.description,
        request_type=valid.request_type,
        artifact_type=valid.artifact_type,
        interactions=len(valid.interaction_ids),
        matter=valid.matter_id,
        awaiting_approval=waits,
        **({"require_export": True} if valid.require_export else {}),
    )
    if not waits:
        jobs.enqueue(req)
    return req


def needs_approval(tenant, request_type):
    """Whether a new request of ``request_type`` waits for a second person (tenant setting)."""
    return tenant.require_approval and request_type in (RequestType.REMOVE_LOCK, RequestType.DELETE)


def _locked_request(request_id):
    return ManagementRequest.objects.select_for_update(no_key=True).get(pk=request_id)


@transaction.atomic
def cancel_management_request(request_id, actor):
    """Cancel a request that is still Queued or Awaiting Approval (a worker that picks it up later
    does nothing).

    Cancelling needs ``ARTIFACTS_MANAGEMENT_REQUESTS_CREATE`` on the request's tenant.
    """
    req = _locked_request(request_id)
    actor.require(req.tenant_id, *required_permissions(RequestType.ADD_LOCK), doing=f"cancel request {req.pk}")
    if req.status not in (Status.QUEUED, Status.AWAITING_APPROVAL):
        raise ValidationError(
            f"Only a Queued request can be cancelled; this one is {req.get_status_display()}. "
            "(A request Awaiting Approval can be cancelled too.)"
        )
    req.status, req.finished_at = Status.CANCELLED, timezone.now()
    req.save(update_fields=["status", "finished_at"])
    audit.record(req.tenant_id, AuditEvent.Kind.REQUEST_CANCELLED, actor, request_id=req.pk)
    return req


@transaction.atomic
def retry_management_request(request_id, actor):
    """Queue an Error request again; only its unfinished and failed interactions are redone.

    The actor needs the permissions creating the request needs, and the redone work acts for it.
    """
    req = _locked_request(request_id)
    needed = required_permissions(req.request_type, req.remove_locks)
    actor.require(req.tenant_id, *needed, doing=f"retry request {req.pk}")
    if req.status != Status.ERROR or not req.retryable:
        raise ValidationError(f"Only a request in Error can be retried; this one is {req.get_status_display()}.")
    req.items.filter(status=ManagementRequestItem.Status.ERROR).update(
        status=ManagementRequestItem.Status.PENDING, error="", finished_at=None
    )
    req.status, req.error_message, req.finished_at = Status.QUEUED, "", None
    for name, value in actor.ref().items():
        setattr(req, name, value)
    req.save(update_fields=["status", "error_message", "finished_at", *actor.ref()])
    audit.record(req.tenant_id, AuditEvent.Kind.REQUEST_RETRIED, actor, request_id=req.pk)
    jobs.enqueue(req)
    return req


# --- two-person approval ---------------------------------------------------------------------------
def _decide(request_id, actor, verb):
    """The Awaiting Approval request ``request_id``, row-locked, after checking that ``actor`` may
    decide it: a person (approval is given on the page or as a user) holding the permissions that
    creating the request needs, who is not its creator."""
    req = _locked_request(request_id)
    actor.require(
        req.tenant_id, *required_permissions(req.request_type, req.remove_locks), doing=f"{verb} request {req.pk}"
    )
    if actor.kind != ActorKind.USER or actor.user is None:
        raise PermissionDenied(
            f"{actor.label} may not {verb} request {req.pk}: approval is given by a person (a user)."
        )
    if req.created_by_user_id is not None and req.created_by_user_id == actor.user.pk:
        raise PermissionDenied(
            f"{actor.label} may not {verb} request {req.pk}: it is their own request. A second user holding the same "
            "permissions must decide it (two-person approval)."
        )
    if req.status != Status.AWAITING_APPROVAL:
        raise ValidationError(
            f"Only a request Awaiting Approval can be {verb}d; this one is {req.get_status_display()}."
        )
    who = actor.audit_columns()
    req.decided_at, req.decided_by_user_id, req.decided_by = timezone.now(), who["actor_user_id"], who["actor_label"]
    return req


@transaction.atomic
def approve_management_request(request_id, actor):
    """Approve a request Awaiting Approval (two-person approval): it is queued and a worker runs it,
    acting for its creator as any request does. Refused (``PermissionDenied``) for its creator and for
    anyone without the permissions creating it needs; audited ``request_approved``."""
    req = _decide(request_id, actor, "approve")
    req.status = Status.QUEUED
    req.save(update_fields=["status", "decided_at", "decided_by_user", "decided_by"])
    audit.record(
        req.tenant_id,
        AuditEvent.Kind.REQUEST_APPROVED,
        actor,
        request_id=req.pk,
        reason=f"{req.get_request_type_display()} request {req.pk} of {req.created_by} approved",
        request_type=req.request_type,
        creator=req.created_by,
    )
    jobs.enqueue(req)
    return req


@transaction.atomic
def reject_management_request(request_id, actor, reason):
    """Reject a request Awaiting Approval with a required ``reason``: it ends Rejected and nothing is
    done. The same people as :func:`approve_management_request` may; audited ``request_rejected``."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Reason: say why the request is rejected (required)."})
    if len(reason) > 1000:
        raise ValidationError({"reason": f"Reason: at most 1,000 characters ({len(reason):,} entered)."})
    req = _decide(request_id, actor, "reject")
    req.status, req.finished_at, req.rejection_reason = Status.REJECTED, req.decided_at, reason
    req.save(update_fields=["status", "finished_at", "rejection_reason", "decided_at", "decided_by_user", "decided_by"])
    audit.record(
        req.tenant_id,
        AuditEvent.Kind.REQUEST_REJECTED,
        actor,
        request_id=req.pk,
        reason=reason,
        request_type=req.request_type,
        creator=req.created_by,
    )
    return req
