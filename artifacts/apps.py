from django.apps import AppConfig
from django.core import checks


class ArtifactsConfig(AppConfig):
    """Artifacts (stored content of interactions), the storage service, locks and Artifacts
    Management Requests; registers the request job kind and the Object Lock start-up check."""

    name = "artifacts"

    def ready(self):
        from accounts.signals import tenant_region_changing
        from config import jobs

        from . import disposal, notices, processing
        from .checks import object_lock_check
        from .models import ManagementRequest

        # A tenant's storage region cannot change while it holds bytes there (data residency).
        tenant_region_changing.connect(disposal.content_held, dispatch_uid="artifacts.content_held")
        # Registered, not run: the check asks S3 only on the start-up path (see artifacts/checks.py).
        checks.register(object_lock_check, "storage")

        jobs.register(
            jobs.JobKind(
                name="management_request",
                model=ManagementRequest,
                process=processing.process_request,
                timeout=3600,
                lost_message=processing.WORKER_LOST,
                on_failed=processing.record_failure,
            )
        )
        # Deletions and archive moves a dead worker left half done are finished every minute.
        jobs.register_periodic(jobs.PeriodicTask("resume_interrupted", disposal.resume_interrupted, interval=60))
        # Lapsed locks are recorded (audited) within a minute; expiry notices go out daily.
        jobs.register_periodic(jobs.PeriodicTask("record_lock_lapses", notices.record_all_lapses, interval=60))
        jobs.register_periodic(
            jobs.PeriodicTask("lock_expiry_notices", notices.send_all_expiry_notices, interval=86400, timeout=1800)
        )
