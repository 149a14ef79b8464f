"""The ingestion job kind and its periodic tasks (registered in ``IngestionConfig.ready``)."""

from django.conf import settings

from config import jobs


def register():
    """Register ``twilio_flex_ingestion`` (one run at a time per connection), the schedule that
    queues a run of every enabled connection, and the retries of webhooks and source deletions."""
    from . import ingest
    from .models import IngestionRun

    jobs.register(
        jobs.JobKind(
            name="twilio_flex_ingestion",
            model=IngestionRun,
            process=ingest.process_run,
            timeout=6 * 3600,
            lost_message=ingest.WORKER_LOST,
            on_failed=ingest.record_failure,
            exclusive_key=lambda run: run.connection_id,
        )
    )
    jobs.register_periodic(
        jobs.PeriodicTask("schedule_ingestion", ingest.schedule_connections, interval=settings.TWILIO_INGEST_INTERVAL)
    )
    jobs.register_periodic(jobs.PeriodicTask("ingestion_retries", ingest.retry_pending, interval=60))
