"""``manage.py artifact_durations [--tenant SLUG] [--batch N]``: record the duration of audio and video
artifacts stored before durations were kept.

Reads only the first bytes of each recording (its header; a ranged read, never the whole file), in
batches by ascending id. Idempotent: artifacts that have a duration are skipped, and a re-run only
retries those whose header said nothing.
"""

from django.core.management.base import BaseCommand, CommandError

from accounts.actors import operator
from artifacts import media
from artifacts.management import get_tenant


class Command(BaseCommand):
    """Fill in ``duration_seconds`` of stored recordings from their headers."""

    help = "Record the duration of stored audio and video artifacts that have none (reads headers only)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Only this tenant (slug); default: every tenant.")
        parser.add_argument("--batch", type=int, default=500, metavar="N", help="Artifacts per batch (default 500).")

    def handle(self, *args, tenant=None, batch=500, **options):
        if batch < 1:
            raise CommandError("--batch must be 1 or more.")
        tenant_id = get_tenant(tenant).pk if tenant else None

        def progress(measured, unknown):
            if options["verbosity"] >= 2:
                self.stdout.write(f"  {measured:,} measured, {unknown:,} unknown so far")

        measured, unknown = media.measure_durations(
            actor=operator("manage.py artifact_durations"), tenant_id=tenant_id, batch_size=batch, progress=progress
        )
        self.stdout.write(f"{measured:,} durations recorded; {unknown:,} recordings whose header gives none.")
