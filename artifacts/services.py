"""State changes of artifacts: ingestion, and Artifacts Management Requests (create, cancel,
retry; the processing itself is in :mod:`artifacts.processing`, run by the job runner)."""

import logging
import mimetypes

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import AuditEvent, Tenant
from config import jobs
from interactions.models import Interaction

from . import holds
from .models import Artifact, ManagementRequest, ManagementRequestItem
from .storage import get_storage, new_key
from .validation import required_permissions, validate_request

log = logging.getLogger(__name__)


def store_artifact(
    interaction_id,
    *,
    artifact_type,
    content_key,
    filename,
    stream,
    content_type="",
    audio_recording_type="",
    created_at=None,
):
    """Write ``stream`` to active storage and record it as an artifact of the interaction.

    The bytes are written first (SHA-256 and size computed while writing); the row is then
    validated and inserted in one transaction. If the row cannot be saved, the bytes are deleted
    again so that no unrecorded content is left in storage.
    """
    interaction = Interaction.objects.only("id", "tenant_id").get(pk=interaction_id)
    content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    storage = get_storage("active")
    stored = storage.write(new_key(interaction.tenant_id, filename), stream, content_type)
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
        created_at=created_at or timezone.now(),
    )
    try:
        # The database enforces the check constraints; validating them here would cost 3 queries.
        artifact.full_clean(exclude=["tenant", "interaction"], validate_constraints=False)
        with transaction.atomic():
            artifact.save(force_insert=True)
    except Exception:
        log.warning("Artifact row for %s not saved; removing its bytes", stored.key)
        storage.delete_many([(stored.key, stored.version)])
        raise
    # Content that arrives for an interaction under a lock is held at once, in storage too.
    holds.sync_legal_holds(Artifact.objects.filter(pk=artifact.pk))
    return artifact


# --- Artifacts Management Requests ------------------------------------------------------------
def _record_job_id(request_id):
    def record(job_id):
        ManagementRequest.objects.filter(pk=request_id).update(rq_job_id=job_id)

    return record


@transaction.atomic
def create_management_request(tenant_id, actor, perms, **fields):
    """Validate and save a request with one item per interaction, then queue it for a worker.

    ``fields`` are the raw inputs of :func:`artifacts.validation.validate_request`; ``perms`` the
    actor's permissions on the tenant. Raises ``ValidationError`` / ``PermissionDenied`` with
    nothing saved.
    """
    tenant = Tenant.objects.get(pk=tenant_id)
    valid = validate_request(tenant, perms, **fields)
    req = ManagementRequest.objects.create(
        tenant=tenant,
        request_type=valid.request_type,
        artifact_type=valid.artifact_type,
        audio_recording_type=valid.audio_recording_type,
        description=valid.description,
        lock_expires_on=valid.lock_expires_on,
        lock_expires_at=valid.lock_expires_at,
        remove_locks=valid.remove_locks,
        confirmation=valid.confirmation,
        interaction_count=len(valid.interaction_ids),
        **_creator(actor),
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
    )
    jobs.enqueue("management_request", req.pk, on_queued=_record_job_id(req.pk))
    return req


def _creator(actor):
    fields = audit.actor_fields(actor)
    return {"created_by_user": fields["actor_user"], "created_by": fields["actor_label"]}


def _require(perms, needed, verb, req):
    missing = needed - set(perms)
    if missing:
        raise PermissionDenied(
            f"You may not {verb} request {req.pk}: it needs {', '.join(sorted(m.upper() for m in missing))}."
        )


@transaction.atomic
def cancel_management_request(request_id, actor, perms):
    """Cancel a request that is still Queued (a worker that picks it up later does nothing).

    ``perms`` are the actor's permissions on the request's tenant: cancelling needs CREATE.
    """
    req = ManagementRequest.objects.select_for_update().get(pk=request_id)
    _require(perms, required_permissions(ManagementRequest.RequestType.ADD_LOCK), "cancel", req)
    if req.status != ManagementRequest.Status.QUEUED:
        raise ValidationError(f"Only a Queued request can be cancelled; this one is {req.get_status_display()}.")
    req.status, req.finished_at = ManagementRequest.Status.CANCELLED, timezone.now()
    req.save(update_fields=["status", "finished_at"])
    audit.record(req.tenant_id, AuditEvent.Kind.REQUEST_CANCELLED, actor, request_id=req.pk)
    return req


@transaction.atomic
def retry_management_request(request_id, actor, perms):
    """Queue an Error request again; only its unfinished and failed interactions are redone.

    ``perms`` are the actor's permissions on the request's tenant: the ones creating it needs.
    """
    req = ManagementRequest.objects.select_for_update().get(pk=request_id)
    _require(perms, required_permissions(req.request_type, req.remove_locks), "retry", req)
    if req.status != ManagementRequest.Status.ERROR or not req.retryable:
        raise ValidationError(f"Only a request in Error can be retried; this one is {req.get_status_display()}.")
    req.items.filter(status=ManagementRequestItem.Status.ERROR).update(
        status=ManagementRequestItem.Status.PENDING, error="", finished_at=None
    )
    req.status, req.error_message, req.finished_at = ManagementRequest.Status.QUEUED, "", None
    req.save(update_fields=["status", "error_message", "finished_at"])
    audit.record(req.tenant_id, AuditEvent.Kind.REQUEST_RETRIED, actor, request_id=req.pk)
    jobs.enqueue("management_request", req.pk, on_queued=_record_job_id(req.pk))
    return req
