"""Export before delete: the exporter :mod:`artifacts.export_gate` calls when a Delete request or a
lifecycle policy requires a verified export and some of what it deletes has none.

It runs in the deleting job's own process (the request's or the sweep's worker): it creates an
export of the artifacts' interactions (audited, in the name of the *Export before deletion* system
actor, which only exports), writes it into the tenant's exports storage, reads it back and verifies
it (:func:`exports.runner.verify_stored`), which records it on each artifact; then the deletion's
decision re-checks, under its row locks, that each artifact records a verified export. Any failure
raises :class:`~artifacts.export_gate.ExportBeforeDeleteFailed` and deletes nothing.
"""

import logging

from django.conf import settings

from accounts.actors import system_actor
from accounts.permissions import EXPORT_CONTENT
from artifacts.export_gate import ExportBeforeDeleteFailed
from artifacts.models import Artifact
from config import jobs

from . import services
from .models import Export

DELETION_EXPORT_ACTOR = system_actor("export-before-delete", "Export before deletion", {EXPORT_CONTENT})
log = logging.getLogger(__name__)


def export_before_delete(tenant_id, artifact_ids, *, reason, job=""):
    """Write and verify exports holding ``artifact_ids`` (their interactions' present artifacts, at
    most ``EXPORT_MAX_INTERACTIONS`` interactions per export); raises ExportBeforeDeleteFailed."""
    interactions = sorted(
        set(Artifact.objects.filter(tenant_id=tenant_id, id__in=artifact_ids).values_list("interaction_id", flat=True))
    )
    step = settings.EXPORT_MAX_INTERACTIONS
    made = []
    for start in range(0, len(interactions), step):
        why = f"{reason} ({job})" if job else reason
        export = services.create_deletion_export(
            tenant_id, DELETION_EXPORT_ACTOR, interactions[start : start + step], reason=why
        )
        _write_here(export.pk)
        export = Export.objects.get(pk=export.pk)
        if export.status != jobs.JobStatus.COMPLETE:
            raise ExportBeforeDeleteFailed(
                f"the export before deletion (export {export.pk}) failed: {export.error_message or export.status}"
            )
        made.append(export.pk)
    missing = Artifact.objects.filter(id__in=artifact_ids, exported_at__isnull=True).present().count()
    if missing:
        raise ExportBeforeDeleteFailed(
            f"{missing} artifact(s) are in no verified export after export(s) {made} (content that arrived or "
            "changed meanwhile); they are kept"
        )


def _write_here(export_id):
    """Claim export ``export_id`` and write it in this process, as :func:`config.jobs.work` does —
    except that a failure leaves this process's database connection open: it holds the deleting
    job's slot (a session advisory lock), whose loss would make the reaper take that job for lost."""
    kind = jobs.KINDS["export"]
    with jobs.claimed(kind, export_id) as row:
        if row is None:
            return
        try:
            kind.process(row)
        except Exception as exc:
            log.exception("export %s (before deletion) failed", export_id)
            jobs.fail(kind, export_id, jobs.describe(exc), retryable=False)
