"""S3 legal holds that mirror the database's locks, so the storage itself refuses to delete held
content whatever bug or hand is behind a request.

``Artifact.legal_hold`` records the state the object carries (None: unknown, after a failed call
whose outcome S3 could not be asked about; both directions then try again). :func:`sync_legal_holds` is
idempotent: it sets the hold on locked artifacts that lack it and clears it on unlocked ones that
still carry it, so it can run after any lock change, after a crash, or from the sweep.
"""

import logging
import os
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import transaction
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


#: Artifacts whose object may carry a hold / may lack one: the flag says so, or is unknown (None).
MAYBE_HELD = Q(legal_hold=True) | Q(legal_hold__isnull=True)
MAYBE_NOT_HELD = Q(legal_hold=False) | Q(legal_hold__isnull=True)


def _set_one(storage, key, version, hold):
    """Set or clear one object's hold. Returns ``(state, error)``: the hold S3 has now (True / False,
    None when it cannot be known, ``"gone"`` when the object is) and the failure, if the call failed.

    A failed call may still have been carried out (S3 acted, its answer was lost): S3 is asked what
    the object carries, so the recorded flag is the truth, or unknown — never a guess that a later
    lock would trust (a flag saying "held" on an object S3 had released left a locked recording
    without its hold: the soak, seed 1717)."""
    try:
        storage.set_legal_hold(key, version, hold)
        return hold, None
    except Exception as exc:
        try:
            now = storage.legal_hold_on(key, version)
        except Exception:
            # S3 answers NoSuchKey / NoSuchVersion (some servers a 500): ask whether it is there.
            try:
                there = storage.holds_object(key, version)
            except Exception:
                return None, exc
            return (None, exc) if there else ("gone", None)
        return (now, None) if now == hold else (now, exc)


def _run(objects, hold):
    """Set or clear the hold of each ``(key, version, storage)``, S3_HOLD_CONCURRENCY at a time;
    the outcomes in order (see :func:`_set_one`)."""
    if settings.S3_HOLD_CONCURRENCY > 1 and len(objects) > 1:
        return list(_hold_pool().map(lambda obj: _set_one(obj[2], obj[0], obj[1], hold), objects))
    return [_set_one(storage, key, version, hold) for key, version, storage in objects]


def _apply(candidates, hold):
    """Put (``hold``) or clear the holds of ``candidates``; returns how many changed.

    The calls run ``S3_HOLD_CONCURRENCY`` at a time (S3 has no batch call for holds). The rows stay
    locked from choosing them to recording what S3 holds, so two changes of one object's hold (a
    release and a new lock in quick succession) reach S3 in the order their flags are saved, and
    the one waiting chooses again from the other's result. Every object is tried; the flags are
    saved whatever happens to the others, and the first failure is raised after naming how many
    failed, so a retry continues where this stopped. Lock changes call it after they commit, so the
    flags it saves are never rolled back. An object that is gone is gone: its flag is cleared and it
    never blocks the others (a crash once left rows whose bytes had been deleted; their holds must
    not stop every later request on the interaction).
    """
    chosen = list(candidates.values_list("pk", flat=True))
    if not chosen:
        return 0
    with transaction.atomic():
        # Lock, then choose again: the second statement sees what a change that held a row saved.
        list(Artifact.objects.filter(pk__in=chosen).order_by("pk").select_for_update(no_key=True).values_list("pk"))
        rows = list(
            candidates.filter(pk__in=chosen).values_list(
                "pk", "tenant__storage_region", "storage_key", "storage_version", "state", "archived_at"
            )
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
        recorded = {}
        for job, (state, _error) in results:
            recorded.setdefault(False if state == "gone" else state, []).append(job[0])
        for state, pks in recorded.items():
            Artifact.objects.filter(pk__in=pks).update(legal_hold=state)
    for pk, key, version, _ in (job for job, (state, _) in results if state == "gone"):
        log.warning("artifact %s: object %s (version %s) is gone; no hold to %s", pk, key, version,
                    "set" if hold else "clear")  # fmt: skip
    failed = [(job, error) for job, (_state, error) in results if error is not None]
    if failed:
        (pk, key, _, _), error = failed[0]
        log.error("%d of %d legal holds could not be %s; first: artifact %s (%s): %s", len(failed), len(jobs),
                  "set" if hold else "cleared", pk, key, error)  # fmt: skip
        raise error
    return len(recorded.get(hold, []))


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
    put = _apply(present.filter(MAYBE_NOT_HELD).locked(), True)
    cleared = _apply(present.filter(MAYBE_HELD).not_locked(), False)
    cleared += _apply(artifacts.deleting().filter(MAYBE_HELD).order_by("id"), False)
    return put, cleared


def clear_legal_holds(artifacts):
    """Clear the holds Holdfast put on ``artifacts`` (unlocked ones about to be deleted or moved).
    Returns how many were cleared."""
    if not legal_holds_enabled():
        return 0
    return _apply(artifacts.filter(MAYBE_HELD).order_by("id"), False)


def reconcile_legal_holds():
    """Mend holds a storage failure left apart from the locks (a lock committed, its hold refused;
    a release committed, the hold still on): sync the artifacts flagged held and those of
    interactions under an active lock. Runs every minute with the resume. Returns ``(set, cleared)``."""
    if not legal_holds_enabled():
        return 0, 0
    locked_interactions = Lock.objects.active().values("interaction_id")
    return sync_legal_holds(Artifact.objects.filter(MAYBE_HELD | Q(interaction_id__in=locked_interactions)))
