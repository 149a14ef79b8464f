"""Daily archives: the hourly ``schedule_exports`` task makes, for every enabled export schedule, the
export of each tenant-local day that is over and due (from the schedule's hour the next day), catching
up days the scheduler missed (at most :data:`CATCH_UP_DAYS`). Each (schedule, day) is exported once:
the database refuses a second row, so running the task again, or twice at once, changes nothing. A
day whose export failed is made again on that row (at most ``EXPORT_SCHEDULE_ATTEMPTS`` runs)."""

import logging
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actors import system_actor
from accounts.permissions import EXPORT_CONTENT

from . import services
from .models import Export, ExportSchedule

log = logging.getLogger(__name__)
#: Most past days one run makes up for (a scheduler down for longer leaves the older days to an operator).
CATCH_UP_DAYS = 7
SCHEDULE_ACTOR = system_actor("export-schedule", "Daily export schedule", {EXPORT_CONTENT})


def due_days(schedule, now):
    """The tenant-local days ``schedule`` should have archived by ``now`` (oldest first)."""
    local = timezone.localtime(now, zoneinfo.ZoneInfo(schedule.tenant.time_zone))
    last = local.date() - timedelta(days=1 if local.hour >= schedule.hour else 2)
    first = max(schedule.starts_on, last - timedelta(days=CATCH_UP_DAYS - 1))
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _retry_failed(schedule, days):
    """Queue again the schedule's failed archives of ``days`` that may be retried (fewer than
    ``EXPORT_SCHEDULE_ATTEMPTS`` runs); returns them."""
    failed = Export.objects.filter(
        schedule=schedule,
        scheduled_for__in=days,
        status=Export.Status.ERROR,
        retryable=True,
        attempts__lt=settings.EXPORT_SCHEDULE_ATTEMPTS,
    )
    retried = []
    for pk in failed.order_by("scheduled_for").values_list("pk", flat=True):
        export = services.retry_scheduled_export(pk, SCHEDULE_ACTOR, attempts=settings.EXPORT_SCHEDULE_ATTEMPTS)
        if export is not None:
            retried.append(export)
    return retried


def run_schedules(now=None):
    """Create the due daily archives (``schedule_exports``, hourly), and queue again those of the due
    days whose export failed (up to ``EXPORT_SCHEDULE_ATTEMPTS`` runs each, audited *Export retried*).
    Returns the exports created or retried."""
    now = now or timezone.now()
    created = []
    for schedule in (
        ExportSchedule.objects.filter(enabled=True).select_related("tenant", "push_to").order_by("pk")
    ):  # fmt: skip
        done = set(Export.objects.filter(schedule=schedule).values_list("scheduled_for", flat=True))
        days = due_days(schedule, now)
        created.extend(_retry_failed(schedule, [day for day in days if day in done]))
        for day in days:
            if day in done:
                continue
            filters = {**schedule.filters, "started_from": day.isoformat(), "started_to": day.isoformat()}
            try:
                with transaction.atomic():
                    export = services.create_export(
                        schedule.tenant_id,
                        SCHEDULE_ACTOR,
                        filters=filters,
                        description=f"{schedule.name}: {day.isoformat()}",
                        schedule=schedule,
                        scheduled_for=day,
                        push_bucket=schedule.push_to,
                    )
            except IntegrityError:
                continue  # another run made this day's archive meanwhile
            except ValidationError as exc:
                log.error("export schedule %s, day %s: %s", schedule.pk, day, exc.messages)
                continue
            created.append(export)
    return created
