"""Daily archives: an export schedule makes one export per tenant-local day from its hour on, of that
day's interactions its selectors pick; running again changes nothing; missed days are caught up
(bounded); disabled schedules make nothing; creating and changing one is audited."""

import datetime as dt
import json
import zoneinfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError

from accounts.actors import user_actor
from accounts.models import AuditEvent
from accounts.permissions import SUPERVISOR
from config import jobs
from core.vocabulary import ArtifactType, Direction, Origin
from exports import schedules, services
from exports.models import Export
from tests.factories import ArtifactFactory, InteractionFactory

pytestmark = pytest.mark.django_db
PARIS = zoneinfo.ZoneInfo("Europe/Paris")  # acme's time zone (TenantFactory)


def at(day, hour):
    return dt.datetime.combine(day, dt.time(hour), tzinfo=PARIS)


@pytest.fixture
def dialer(acme, officer):
    return services.create_schedule(
        acme.pk,
        user_actor(officer),
        name="Dialer recordings",
        direction=Direction.OUTBOUND,
        origin=Origin.DIALER,
        artifact_type=ArtifactType.AUDIO_RECORDING,
        hour=3,
        starts_on=dt.date(2026, 11, 1),
    )


def call_on(tenant, day, hour=10, **fields):
    fields = {"direction": Direction.OUTBOUND, "origin": Origin.DIALER, **fields}
    interaction = InteractionFactory(tenant=tenant, started_at=at(day, hour), ended_at=at(day, hour), **fields)
    return ArtifactFactory(interaction=interaction, content_type="audio/wav")


def test_yesterdays_dialer_recordings_every_morning_once(acme, dialer):
    day = dt.date(2026, 11, 1)
    wanted = call_on(acme, day)
    call_on(acme, day, origin=Origin.QUEUE)  # not the dialer
    call_on(acme, day, direction=Direction.INBOUND)
    call_on(acme, day + dt.timedelta(days=1))  # the next day
    ArtifactFactory(interaction=wanted.interaction, artifact_type=ArtifactType.EMAIL, content_key="transcript")
    assert schedules.run_schedules(now=at(day + dt.timedelta(days=1), 2)) == [], "before the hour"
    created = schedules.run_schedules(now=at(day + dt.timedelta(days=1), 3))
    assert [e.scheduled_for for e in created] == [day]
    assert schedules.run_schedules(now=at(day + dt.timedelta(days=1), 9)) == [], "idempotent per day"
    jobs.work("export", created[0].pk)
    export = Export.objects.get(pk=created[0].pk)
    assert export.status == Export.Status.COMPLETE and export.created_by == "Daily export schedule"
    assert [a["id"] for a in json.loads(export.manifest)["artifacts"]] == [wanted.pk]
    assert export.filters["started_from"] == export.filters["started_to"] == "2026-11-01"


def test_missed_days_are_caught_up_bounded(acme, dialer):
    created = schedules.run_schedules(now=at(dt.date(2026, 11, 5), 4))
    assert [e.scheduled_for for e in created] == [dt.date(2026, 11, d) for d in (1, 2, 3, 4)]
    assert all(e.interaction_count == 0 for e in created), "a day without content gets an empty archive"
    later = schedules.run_schedules(now=at(dt.date(2026, 11, 30), 4))
    assert len(later) == schedules.CATCH_UP_DAYS and later[-1].scheduled_for == dt.date(2026, 11, 29)


def test_the_database_refuses_a_second_archive_of_a_day(acme, dialer):
    (first,) = schedules.run_schedules(now=at(dt.date(2026, 11, 2), 5))
    with pytest.raises(IntegrityError):
        Export.objects.create(
            tenant=acme, created_by="x", selection="filters", schedule=dialer, scheduled_for=first.scheduled_for
        )


def test_disabled_schedules_make_nothing_and_changes_are_audited(acme, officer, dialer):
    services.update_schedule(dialer.pk, user_actor(officer), enabled=False)
    assert schedules.run_schedules(now=at(dt.date(2026, 11, 3), 5)) == []
    assert AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_SCHEDULE_CREATED).details["name"] == "Dialer recordings"
    changed = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_SCHEDULE_CHANGED)
    assert changed.details["changed"] == {"enabled": ["True", "False"]}


def test_bad_schedules_name_the_field_and_need_the_permission(acme, officer, member, dialer):
    with pytest.raises(ValidationError) as caught:
        services.create_schedule(acme.pk, user_actor(officer), name="Dialer recordings", hour=24)
    assert {"hour", "__all__"} <= set(caught.value.message_dict) or "hour" in caught.value.message_dict
    with pytest.raises(PermissionDenied):
        services.create_schedule(acme.pk, user_actor(member(acme, SUPERVISOR)), name="x")
