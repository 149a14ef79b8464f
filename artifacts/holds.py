"""S3 legal holds that mirror the database's locks, so the storage itself refuses to delete held
content whatever bug or hand is behind a request.

``Artifact.legal_hold`` records the state the object carries. :func:`sync_legal_holds` is
idempotent: it sets the hold on locked artifacts that lack it and clears it on unlocked ones that
still carry it, so it can run after any lock change, after a crash, or from the sweep.
"""

import logging

from django.conf import settings

from .models import Artifact
from .storage import get_storage

log = logging.getLogger(__name__)


def legal_holds_enabled():
    """Holds are used when the active storage is an S3 bucket with Object Lock (``S3_OBJECT_LOCK``)."""
    return bool(getattr(settings, "S3_OBJECT_LOCK", False)) and get_storage("active").is_s3


def sync_legal_holds(artifacts):
    """Make the objects of ``artifacts`` (a queryset) carry a hold exactly while they are locked.

    Returns ``(set_count, cleared_count)``. A storage error propagates (the caller's runner
    records it); flags are saved for every object already changed, so a retry continues.
    """
    if not legal_holds_enabled():
        return 0, 0
    present = artifacts.present().order_by("id")
    counts = []
    for hold, candidates in (
        (True, present.filter(legal_hold=False).locked()),
        (False, present.filter(legal_hold=True).not_locked()),
    ):
        changed = []
        try:
            for pk, key, version, state in candidates.values_list("pk", "storage_key", "storage_version", "state"):
                get_storage(Artifact(state=state).storage_name).set_legal_hold(key, version, hold)
                changed.append(pk)
        finally:
            if changed:
                Artifact.objects.filter(pk__in=changed).update(legal_hold=hold)
        counts.append(len(changed))
    return tuple(counts)
