from django.apps import AppConfig


class ArtifactsConfig(AppConfig):
    """Artifacts (stored content of interactions), the storage service, locks and Artifacts
    Management Requests; registers the request job kind."""

    name = "artifacts"

    def ready(self):
        from config import jobs

        from . import processing
        from .models import ManagementRequest

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
