"""``manage.py locks --tenant SLUG [--interaction GUID] [--all]``: a tenant's locks (legal holds).

By default only the locks that protect now (``Lock.objects.active()``, the one definition of an
active lock); ``--all`` adds released and expired ones with their state. Read-only.
"""

import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Exists, OuterRef
from django.utils import timezone

from artifacts.management import get_tenant, local, table
from artifacts.models import Lock
from interactions.models import Interaction


def lock_state(lock, tenant, now):
    """``active``, ``released <when> by <who>`` or ``expired <when>``."""
    if lock.released_at is not None:
        return f"released {local(lock.released_at, tenant)} by {lock.released_by or '?'}" + (
            f" (request {lock.release_request_id})" if lock.release_request_id else ""
        )
    if lock.expires_at is not None and lock.expires_at <= now:
        return f"expired {local(lock.expires_at, tenant)}"
    return "active"


class Command(BaseCommand):
    """List the active locks of a tenant, or of one of its interactions; ``--all`` for history."""

    help = "List a tenant's active locks (--all: released and expired ones too)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--interaction", help="Only the locks of this interaction (GUID).")
        parser.add_argument("--all", action="store_true", help="Include released and expired locks.")

    def handle(self, *args, **options):
        tenant = get_tenant(options["tenant"])
        now = timezone.now()
        locks = Lock.objects.filter(tenant=tenant)
        if options["interaction"]:
            try:
                guid = uuid.UUID(options["interaction"].strip())
            except ValueError:
                raise CommandError(f"--interaction: {options['interaction']!r} is not an interaction GUID.") from None
            interaction = Interaction.objects.filter(tenant=tenant, guid=guid).only("pk").first()
            if interaction is None:
                raise CommandError(f"--interaction: {guid} is not an interaction of the tenant {tenant.slug!r}.")
            locks = locks.filter(interaction=interaction)
        if not options["all"]:
            locks = locks.filter(Exists(Lock.objects.active(now).filter(pk=OuterRef("pk"))))
        locks = locks.select_related("interaction", "matter").order_by(
            "interaction__started_at", "interaction_id", "id"
        )
        headers = [
            "Interaction Id", "Artifact Type", "Selection", "Expires", "Created By", "Request", "Created At", "Matter",
        ]  # fmt: skip
        if options["all"]:
            headers.append("State")
        rows = []
        for lock in locks:
            row = [
                lock.interaction.guid,
                lock.type_label,
                lock.get_selection_display(),
                local(lock.expires_at, tenant) if lock.expires_at else "never",
                lock.created_by,
                lock.request_id or "—",
                local(lock.created_at, tenant),
                lock.matter.case_id if lock.matter_id else "—",
            ]
            if options["all"]:
                row.append(lock_state(lock, tenant, now))
            rows.append(row)
        if not rows:
            what = "locks" if options["all"] else "active locks"
            where = f"interaction {options['interaction']}" if options["interaction"] else f"tenant {tenant.slug}"
            self.stdout.write(f"No {what} on {where}.")
            return
        for line in table(headers, rows):
            self.stdout.write(line)
        interactions = len({row[0] for row in rows})
        kind = "lock(s)" if options["all"] else "active lock(s)"
        self.stdout.write(
            f"{len(rows)} {kind} on {interactions} interaction(s) of {tenant.slug} (times in {tenant.time_zone})."
        )
