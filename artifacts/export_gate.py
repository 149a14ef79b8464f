"""Export before delete: a Delete request or a lifecycle policy can require that content is in a
verified export before it is destroyed (babelforce tells customers to archive what they want to
keep; Genesys records an export date per recording).

The guarantee is enforced where deletions are decided (:func:`artifacts.disposal.decide`): a row
of a decider that needs an export is decided only when it records a verified export
(``Artifact.exported_at``), under the same row locks as the "not locked" re-check. Making that
export is the exports app's work; it registers its exporter here (the artifacts layer cannot
import it), and :func:`artifacts.services.delete_artifacts_by_decider` calls it for the rows that
have none before deciding. An export that fails leaves those rows unexported, so nothing of them
is deleted.
"""

_exporter = None


class ExportBeforeDeleteFailed(Exception):
    """The export that had to come first failed or did not verify: nothing it was for is deleted."""


def register(exporter):
    """Install ``exporter(tenant_id, artifact_ids, *, reason, job)``: writes and verifies an export
    holding those artifacts and records it on them, or raises :class:`ExportBeforeDeleteFailed`."""
    global _exporter
    _exporter = exporter


def export_first(tenant_id, artifact_ids, *, reason, job=""):
    """Export ``artifact_ids`` (present and in no verified export) so they may be deleted."""
    if not artifact_ids:
        return
    if _exporter is None:
        raise ExportBeforeDeleteFailed("exports are not installed in this deployment: nothing can be exported")
    _exporter(tenant_id, list(artifact_ids), reason=reason, job=job)
