from django.apps import AppConfig


class ExportsConfig(AppConfig):
    """Export bundles (verified zips of content); registers the export job kind, the hourly removal
    of expired bundles and daily archives, the export buckets' secrets for rotation, and the
    exporter of Export Before Deleting."""

    name = "exports"

    def ready(self):
        from accounts.signals import tenant_region_changing
        from artifacts import export_gate
        from config import jobs
        from core import secrets

        from . import before_delete, buckets, runner, schedules
        from .models import Export

        jobs.register(
            jobs.JobKind(
                name="export",
                model=Export,
                process=runner.process_export,
                timeout=6 * 3600,
                lost_message=runner.WORKER_LOST,
                on_failed=runner.record_failure,
            )
        )
        jobs.register_periodic(jobs.PeriodicTask("expire_exports", runner.expire_all, interval=3600, timeout=1800))
        jobs.register_periodic(jobs.PeriodicTask("schedule_exports", schedules.run_schedules, interval=3600))
        secrets.register_rotation("export buckets", buckets.rotate_secrets)
        tenant_region_changing.connect(runner.bundles_held, dispatch_uid="exports.bundles_held")
        export_gate.register(before_delete.export_before_delete)
