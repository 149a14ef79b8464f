"""``manage.py apply_lifecycle_policies [--tenant SLUG ...] [--dry-run]``: run the retention sweep.

Without ``--tenant`` every tenant is swept. Each tenant's sweep is a run row (trigger "command"),
run in this process by the same function the daily schedule's worker runs; the counts are printed
and stay on the policies page. ``--dry-run`` changes nothing (no run row either) and prints what
the sweep would do now, computed by the same SQL as the page's impact preview.
"""

from django.core.management.base import BaseCommand, CommandError

from accounts.actors import operator
from accounts.models import Tenant
from artifacts.management import get_tenant, table
from config import jobs
from policies.models import SweepRun
from policies.services import start_sweep, sweep_plan


class Command(BaseCommand):
    """Apply the Artifacts Lifecycle Policies now (or show what that would do)."""

    help = "Run the lifecycle sweep for one or more tenants (--dry-run: only print what it would do)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", action="append", help="Tenant slug (repeatable; default: all tenants).")
        parser.add_argument("--dry-run", action="store_true", help="Change nothing; print what would happen.")

    def handle(self, *args, tenant=None, dry_run=False, **options):
        tenants = [get_tenant(slug) for slug in tenant] if tenant else list(Tenant.objects.order_by("slug"))
        if not tenants:
            raise CommandError("There are no tenants.")
        rows = []
        for t in tenants:
            rows.append(self._dry_run(t) if dry_run else self._sweep(t))
        if dry_run:
            headers = ["Tenant", "Would delete", "Would archive", "Kept (locked)", "Lock expiries to record"]
            self.stdout.write("Dry run: nothing was changed.")
        else:
            headers = ["Tenant", "Run", "Status", "Deleted", "Archived", "Kept (locked)", "Lock expiries", "Errors"]
        self.stdout.write("\n".join(table(headers, rows)))

    def _dry_run(self, tenant):
        plan = sweep_plan(tenant.pk)
        return [tenant.slug, plan["delete"], plan["archive"], plan["locked"], plan["lapsed"]]

    def _sweep(self, tenant):
        actor = operator("manage.py apply_lifecycle_policies")
        run = start_sweep(tenant.pk, actor, SweepRun.Trigger.COMMAND, enqueue=False)
        jobs.work("lifecycle_sweep", run.pk)
        run.refresh_from_db()
        if run.status == SweepRun.Status.ERROR:
            self.stderr.write(f"{tenant.slug}: sweep {run.pk} ended in Error: {run.error_message}")
        return [
            tenant.slug,
            run.pk,
            run.get_status_display(),
            run.deleted,
            run.archived,
            run.skipped_locked,
            run.locks_expired,
            run.errors,
        ]
