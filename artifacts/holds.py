"""S3 legal holds that mirror the database's locks, so the storage itself refuses to delete held
content whatever bug or hand is behind a request.

``Artifact.legal_hold`` records the state the object carries. :func:`sync_legal_holds` is
idempotent: it sets the hold on locked artifacts that lack it and clears it on unlocked ones that
still carry it, so it can run after any lock change, after a crash, or from the sweep.
"""

import logging
import os
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db.models import Q

from .models import Artifact, Lock
from .storage import get_storage

log = logging.getLogger(__name__)


def legal_holds_enabled():
    """Holds are used when the active storage is an S3 bucket with Object Lock (``S3_OBJECT_LOCK``).
    (Configured storage regions are S3 buckets all; the implicit one is S3 or the file system.)"""
    return bool(getattr(settings, "S3_OBJECT_LOCK", False)) and get_storage("active").is_s3


def _hold_pool():
    """The threads that talk to S3 for holds, kept per process so each keeps its boto3 connection
    (django-storages keeps one per thread). A forked RQ work horse makes its own: threads do not
    survive a fork."""
    global _pool
    size = settings.S3_HOLD_CONCURRENCY
    if _pool is None or _pool[0] != os.getpid() or _pool[1] != size:
        _pool = (os.getpid(), size, ThreadPoolExecutor(max_workers=size, thread_name_prefix="s3-hold"))
    return _pool[2]


_pool = None


def _set_one(storage, key, version, hold):
    """Set or clear one object's hold: ``"changed"``, ``"gone"``, or the storage's exception."""
    try:
        storage.set_legal_hold(key, version, hold)
        return "changed"
    except Exception as exc:
        # S3 answers NoSuchKey / NoSuchVersion (some servers a 500): ask whether it is there.
        try:
            there = storage.holds_object(key, version)
        except Exception as probe_error:
            return probe_error
        return exc if there else "gone"


def _run(objects, hold):
    """Set or clear the hold of each ``(key, version, storage)``, S3_HOLD_CONCURRENCY at a time;
    the outcomes in order (see :func:`_set_one`)."""
    if settings.S3_HOLD_CONCURRENCY > 1 and len(objects) > 1:
        return list(_hold_pool().map(lambda obj: _set_one(obj[2], obj[0], obj[1], hold), objects))
    return [_set_one(storage, key, version, hold) for key, version, storage in objects]


def _apply(candidates, hold):
    """Put (``hold``) or clear the holds of ``candidates``; returns how many changed.

    The calls run ``S3_HOLD_CONCURRENCY`` at a time (S3 has no batch call for holds). Every object
    is tried; the flags of those that changed are saved whatever happens to the others, and the
    first failure is raised after naming how many failed, so a retry continues where this stopped.
    Lock changes call it after they commit, so the flags it saves are never rolled back.
    An object that is gone is gone: its flag is cleared and it never blocks the others (a crash once
    left rows whose bytes had been deleted; their holds must not stop every later request on the
    interaction).
    """
    rows = list(
        candidates.values_list("pk", "tenant__storage_region", "storage_key", "storage_version", "state", "archived_at")
    )
    if not rows:
        return 0
    storages = {}
    jobs = []
    for pk, region, key, version, state, archived_at in rows:
        # Each object's hold is set in its own tenant's region (a reconcile spans tenants).
        name = Artifact(state=state, archived_at=archived_at).storage_name
        storage = storages.get((region, name)) or storages.setdefault((region, name), get_storage(name, region))
        jobs.append((pk, key, version, storage))
    outcomes = _run([(key, version, storage) for _, key, version, storage in jobs], hold)
    results = list(zip(jobs, outcomes, strict=True))
    changed = [job[0] for job, outcome in results if outcome == "changed"]
    gone = [job for job, outcome in results if outcome == "gone"]
    failed = [(job, outcome) for job, outcome in results if isinstance(outcome, Exception)]
    if changed:
        Artifact.objects.filter(pk__in=changed).update(legal_hold=hold)
    if gone:
        Artifact.objects.filter(pk__in=[job[0] for job in gone]).update(legal_hold=False)
        for pk, key, version, _ in gone:
            log.warning("artifact %s: object %s (version %s) is gone; no hold to %s", pk, key, version,
                        "set" if hold else "clear")  # fmt: skip
    if failed:
        (pk, key, _, _), error = failed[0]
        log.error("%d of %d legal holds could not be %s; first: artifact %s (%s): %s", len(failed), len(jobs),
                  "set" if hold else "cleared", pk, key, error)  # fmt: skip
        raise error
    return len(changed)


def sync_legal_holds(artifacts):
    """Make the objects of ``artifacts`` (a queryset) carry a hold exactly while they are locked.

    Artifacts being deleted never get one (the decision to delete was taken while nothing locked
    them) and lose any they have. Returns ``(set_count, cleared_count)``. A storage error other
    than "the object is gone" propagates (the caller's runner records it); flags are saved for
    every object already changed, so a retry continues.
    """
    if not legal_holds_enabled():
        return 0, 0
    present = artifacts.present().order_by("id")
    put = _apply(present.filter(legal_hold=False).locked(), True)
    cleared = _apply(present.filter(legal_hold=True).not_locked(), False)
    cleared += _apply(artifacts.deleting().filter(legal_hold=True).order_by("id"), False)
    return put, cleared


def clear_legal_holds(artifacts):
    """Clear the holds Holdfast put on ``artifacts`` (unlocked ones about to be deleted or moved).
    Returns how many were cleared."""
    if not legal_holds_enabled():
        return 0
    return _apply(artifacts.filter(legal_hold=True).order_by("id"), False)


def reconcile_legal_holds():
    """Mend holds a storage failure left apart from the locks (a lock committed, its hold refused;
    a release committed, the hold still on): sync the artifacts flagged held and those of
    interactions under an active lock. Runs every minute with the resume. Returns ``(set, cleared)``."""
    if not legal_holds_enabled():
        return 0, 0
    locked_interactions = Lock.objects.active().values("interaction_id")
    return sync_legal_holds(Artifact.objects.filter(Q(legal_hold=True) | Q(interaction_id__in=locked_interactions)))
