from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    """Artifacts Lifecycle Policies and the retention sweep; registers the sweep job kind, the
    hourly schedule, and the default policies every new tenant starts with."""

    name = "policies"

    def ready(self):
        from accounts.signals import tenant_created
        from artifacts.impact import register_policy_due
        from config import jobs
        from interactions.services import register_retention_dates

        from . import retention, services, sweep
        from .models import SweepRun

        jobs.register(
            jobs.JobKind(
                name="lifecycle_sweep",
                model=SweepRun,
                process=sweep.run_sweep,
                timeout=6 * 3600,
                lost_message=sweep.WORKER_LOST,
                on_failed=sweep.record_failure,
                exclusive_key=lambda run: run.tenant_id,
                count_deletions=sweep.count_finished_deletions,
            )
        )
        jobs.register_periodic(jobs.PeriodicTask("schedule_sweeps", sweep.schedule_daily_sweeps, interval=3600))
        register_retention_dates(retention.deletion_dates)
        register_policy_due(retention.count_delete_due)
        tenant_created.connect(services.give_default_policies, dispatch_uid="policies.default_policies")
