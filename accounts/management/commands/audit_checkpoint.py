"""``manage.py audit_checkpoint [--tenant SLUG]``: sign each tenant's audit chain head now (after
verifying the events since its last checkpoint), as the hourly job does. ``--new-key`` prints a new
Ed25519 private key (PEM) for ``AUDIT_SIGNING_KEY`` instead; ``--public-key`` the public key in use."""

import sys

from django.core.management.base import BaseCommand

from accounts import checkpoints
from accounts.models import Tenant


class Command(BaseCommand):
    help = "Take a signed audit checkpoint of every tenant (or one) now."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG")
        parser.add_argument("--new-key", action="store_true", help="print a new Ed25519 private key (PEM) and exit")
        parser.add_argument("--public-key", action="store_true", help="print the public key and its fingerprint")

    def handle(self, *args, tenant=None, new_key=False, public_key=False, **options):
        if new_key:
            self.stdout.write(checkpoints.generate_pem().decode(), ending="")
            return
        if public_key:
            self.stdout.write(checkpoints.public_pem().decode(), ending="")
            self.stdout.write(f"fingerprint (SHA-256) {checkpoints.key_fingerprint()}")
            return
        tenants = Tenant.objects.order_by("pk")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                self.stderr.write(f"No tenant {tenant!r}.")
                sys.exit(2)
        failed = False
        for row in tenants:
            checkpoint, created, result = checkpoints.take_checkpoint(row, source="command")
            if checkpoint is None and not result.ok:
                failed = True
                self.stdout.write(f"NOT SIGNED {result.line}")
            elif checkpoint is None:
                self.stdout.write(f"tenant {row.slug}: no events yet")
            else:
                what = "signed" if created else "unchanged since"
                self.stdout.write(
                    f"tenant {row.slug}: {what} checkpoint at seq {checkpoint.seq} {checkpoint.hash[:16]}"
                )
        if failed:
            sys.exit(1)
