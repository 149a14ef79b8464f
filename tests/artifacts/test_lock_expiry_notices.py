"""Lock expiry notices through a real SMTP server on loopback (aiosmtpd): the matter's owner and the
Compliance Officers get one notice per lock and threshold, a second run sends nothing; a refused mail
records nothing. Lapses are recorded (audited) by their own periodic task, once."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import AuditEvent
from accounts.permissions import COMPLIANCE_OFFICER, SUPERVISOR, VIEWER
from artifacts import matter_services
from artifacts.models import Lock, LockExpiryNotice, ManagementRequest
from config import jobs
from tests.factories import SYSTEM, InteractionFactory, management_request

pytestmark = pytest.mark.django_db
RequestType = ManagementRequest.RequestType


def periodic(name):
    """Run the registered periodic task ``name`` as the runner does (in the test's transaction)."""
    return jobs.PERIODIC[name].function()


@pytest.fixture
def people(acme, member):
    return {
        "officer": member(acme, COMPLIANCE_OFFICER, email="officer@acme.test"),
        "owner": member(acme, SUPERVISOR, email="owner@acme.test"),
        "viewer": member(acme, VIEWER, email="viewer@acme.test"),
    }


def lock_expiring(tenant, user, days, matter=None):
    interaction = InteractionFactory(tenant=tenant)
    expires_on = timezone.now().date() + dt.timedelta(days=days)
    management_request(
        tenant,
        user,
        RequestType.ADD_LOCK,
        [interaction],
        process=True,
        lock_expires=True,
        lock_expires_on=expires_on,
        matter=matter.case_id if matter else "",
    )
    return interaction


def test_notice_sent_once_to_owner_and_compliance_officers(acme, people, smtp_server):
    matter = matter_services.create_matter(
        acme.pk, SYSTEM, case_id="2024-CV-118", name="Smith v. Acme", reason="Hold", owner_id=people["owner"].pk
    )
    soon = lock_expiring(acme, people["officer"], 5, matter)
    lock_expiring(acme, people["officer"], 40, matter)  # beyond the 14 days: not yet

    assert periodic("lock_expiry_notices") == {"acme": Lock.objects.filter(interaction=soon).count()}
    assert {tuple(m.envelope_recipients) for m in smtp_server.messages} == {
        ("officer@acme.test",),
        ("owner@acme.test",),
    }
    body = smtp_server.body(smtp_server.to("owner@acme.test")[0])
    assert str(soon.guid) in body and "2024-CV-118 · Smith v. Acme" in body and "within 14 days" in body
    assert not smtp_server.to("viewer@acme.test")
    events = AuditEvent.objects.filter(kind=AuditEvent.Kind.LOCK_EXPIRY_NOTICE_SENT)
    assert events.count() == Lock.objects.filter(interaction=soon).count()
    assert "owner@acme.test" in events.first().reason and events.first().details["threshold_days"] == 14

    assert periodic("lock_expiry_notices") == {}
    assert len(smtp_server.messages) == 2, "a second run sends nothing"

    # A new threshold is a new notice (once again).
    account_services.update_tenant(acme.pk, SYSTEM, lock_expiry_notice_days=60)
    periodic("lock_expiry_notices")
    assert len(smtp_server.messages) == 4
    assert LockExpiryNotice.objects.filter(threshold_days=60).count() == Lock.objects.count()


def test_a_lock_without_matter_goes_to_the_compliance_officers(acme, people, smtp_server):
    lock_expiring(acme, people["officer"], 2)
    periodic("lock_expiry_notices")
    assert [m.envelope_recipients for m in smtp_server.messages] == [["officer@acme.test"]]


def test_a_refused_mail_records_nothing(acme, people, smtp_server, settings):
    lock_expiring(acme, people["officer"], 2)
    settings.EMAIL_PORT = 1  # nothing listens there: the connection is refused
    assert periodic("lock_expiry_notices") == {}
    assert not LockExpiryNotice.objects.exists()
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.LOCK_EXPIRY_NOTICE_SENT).exists()
    settings.EMAIL_PORT = smtp_server.port
    periodic("lock_expiry_notices")
    assert len(smtp_server.messages) == 1 and LockExpiryNotice.objects.exists()


def test_lapses_are_recorded_promptly_and_once(acme, people):
    interaction = lock_expiring(acme, people["officer"], 3)
    Lock.objects.filter(interaction=interaction).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    count = Lock.objects.filter(interaction=interaction).count()
    assert periodic("record_lock_lapses") == {acme.pk: count}
    lapses = AuditEvent.objects.filter(kind=AuditEvent.Kind.LOCK_EXPIRED, interaction_guid=interaction.guid)
    assert lapses.count() == count and lapses.first().actor_label == "Lock expiry recorder"
    assert periodic("record_lock_lapses") == {}
    assert lapses.count() == count
