"""``manage.py verify_audit [--tenant SLUG] [--from-seq N]``: verify the audit chains.

Prints one line per tenant: ``OK tenant SLUG: ...`` when intact, or ``BROKEN tenant SLUG: <kind>
at seq N: <what>`` for the first break (kinds: row edited, row removed or inserted, tail truncated,
bad signature, chain does not extend checkpoint). Exit status 0 when every chain is intact, 1 when
one is not, 2 for bad arguments. Each run is recorded (the Audit Trail page shows the last).
"""

import sys

from django.core.management.base import BaseCommand

from accounts.models import Tenant
from accounts.verification import verify_tenant


class Command(BaseCommand):
    help = "Verify the audit trail's hash chains, checkpoint signatures and tails (exit 1 on the first break)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG", help="only this tenant (default: every tenant)")
        parser.add_argument("--from-seq", type=int, default=1, metavar="N", help="start at sequence number N")

    def handle(self, *args, tenant=None, from_seq=1, **options):
        if from_seq < 1:
            self.stderr.write("--from-seq must be 1 or more.")
            sys.exit(2)
        tenants = Tenant.objects.order_by("pk")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                self.stderr.write(f"No tenant {tenant!r}.")
                sys.exit(2)
        broken = False
        for row in tenants:
            result = verify_tenant(row, from_seq=from_seq, source="command")
            self.stdout.write(result.line)
            broken = broken or not result.ok
        if broken:
            sys.exit(1)
