"""S3 legal holds that mirror the database's locks, so the storage itself refuses to delete held
content whatever bug or hand is behind a request.

``Artifact.legal_hold`` records the state the object carries. :func:`sync_legal_holds` is
idempotent: it sets the hold on locked artifacts that lack it and clears it on unlocked ones that
still carry it, so it can run after any lock change, after a crash, or from the sweep.
"""

import logging

from django.conf import settings
from django.db.models import Q

from .models import Artifact, Lock
from .storage import get_storage

log = logging.getLogger(__name__)


def legal_holds_enabled():
    """Holds are used when the active storage is an S3 bucket with Object Lock (``S3_OBJECT_LOCK``)."""
    return bool(getattr(settings, "S3_OBJECT_LOCK", False)) and get_storage("active").is_s3


def _apply(candidates, hold):
    """Put (``hold``) or clear the holds of ``candidates``; returns how many changed. An object that is
    gone is gone: its flag is cleared and it never blocks the others (a crash once left rows whose
    bytes had been deleted; their holds must not stop every later request on the interaction)."""
    changed, gone = [], []
    try:
        for pk, key, version, state, archived_at in candidates.values_list(
            "pk", "storage_key", "storage_version", "state", "archived_at"
        ):
            storage = get_storage(Artifact(state=state, archived_at=archived_at).storage_name)
            try:
                storage.set_legal_hold(key, version, hold)
            except Exception:
                # S3 answers NoSuchKey / NoSuchVersion (some servers a 500): ask whether it is there.
                if storage.holds_object(key, version):
                    raise
                log.warning("artifact %s: object %s (version %s) is gone; no hold to %s", pk, key, version,
                            "set" if hold else "clear")  # fmt: skip
                gone.append(pk)
            else:
                changed.append(pk)
    finally:
        if changed:
            Artifact.objects.filter(pk__in=changed).update(legal_hold=hold)
        if gone:
            Artifact.objects.filter(pk__in=gone).update(legal_hold=False)
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
