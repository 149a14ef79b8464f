"""Downloads are counted and audited; a bundle stays for the tenant's export retention days, then the
hourly task removes it from the exports storage and audits *Export expired* (once)."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.actors import user_actor
from accounts.models import AuditEvent
from accounts.permissions import VIEWER
from artifacts.storage import get_storage
from config import jobs
from exports import runner, services
from exports.models import Export

pytestmark = pytest.mark.django_db


@pytest.fixture
def export(acme, officer, content):
    acme.export_retention_days = 3
    acme.save()
    row = services.create_export(acme.pk, user_actor(officer), filters={})
    jobs.work("export", row.pk)
    return Export.objects.get(pk=row.pk)


def test_the_retention_days_are_the_tenants(export):
    assert export.expires_at == export.finished_at + timedelta(days=3)


def test_downloads_are_counted_and_audited(export, officer, member, acme):
    services.record_download(export.pk, user_actor(officer))
    services.record_download(export.pk, user_actor(officer))
    export.refresh_from_db()
    assert export.download_count == 2 and export.last_downloaded_at is not None
    events = AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT_DOWNLOADED)
    assert events.count() == 2 and events.first().details["sha256"] == export.sha256
    with pytest.raises(PermissionDenied):
        services.record_download(export.pk, user_actor(member(acme, VIEWER)))


def test_expired_bundles_are_removed_and_audited_once(any_storage, export, officer):
    storage = get_storage("exports")
    assert storage.exists(export.storage_key)
    assert runner.expire_all(now=export.expires_at - timedelta(seconds=1)) == 0
    assert runner.expire_all(now=export.expires_at + timedelta(seconds=1)) == 1
    export.refresh_from_db()
    assert export.expired_at is not None and not export.is_downloadable
    assert not storage.exists(export.storage_key)
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_EXPIRED)
    assert event.details["export"] == export.pk and event.actor_label == "Export expiry"
    assert runner.expire_all(now=timezone.now() + timedelta(days=30)) == 0
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT_EXPIRED).count() == 1
    with pytest.raises(ValidationError, match="expired"):
        services.record_download(export.pk, user_actor(officer))


def test_the_expiry_task_is_registered_as_periodic():
    assert jobs.PERIODIC["expire_exports"].function is runner.expire_all
