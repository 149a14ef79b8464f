"""Changing a tenant's settings while its audit trail is being appended to: both finish.

An audit append locks the tenant's chain head, then its INSERT takes a KEY SHARE lock on the tenant
row (the foreign key). A service that holds the tenant row with ``FOR UPDATE`` and then appends
would wait for the head while the append waits for the row: PostgreSQL breaks that deadlock by
failing one of them. Tenant settings never change the tenant's key, so ``FOR NO KEY UPDATE`` is
the lock they take, and it does not conflict with KEY SHARE.
"""

import threading

import pytest
from django.db import connection, connections, transaction

from accounts import audit
from accounts.actors import operator
from accounts.models import AuditEvent
from accounts.services import invite_member, update_tenant

pytestmark = [pytest.mark.django_db(transaction=True)]


def _wait_until_blocked(errors, timeout=10):
    """Wait until another session waits on a row lock."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # the view is a snapshot per transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError(f"the other session never waited for the chain head: {errors}")


def _run_while_an_append_holds_the_head(tenant, change):
    """Hold the tenant's chain head (the first half of an append), let ``change`` start and block on
    it, then finish the append; returns ``change``'s error or None."""
    errors = []

    def other():
        try:
            change()
        except Exception as exc:  # the deadlock victim's error is what the test reports
            errors.append(exc)
        finally:
            connections.close_all()

    actor = operator("test")
    with transaction.atomic():
        audit.record(tenant.pk, AuditEvent.Kind.TENANT_CHANGED, actor, reason="first")  # holds the head
        thread = threading.Thread(target=other)
        thread.start()
        _wait_until_blocked(errors)
        # The append's foreign key check on the tenant row, as a fresh append statement makes it.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM accounts_tenant WHERE id = %s FOR KEY SHARE", [tenant.pk])
        audit.record(tenant.pk, AuditEvent.Kind.TENANT_CHANGED, actor, reason="second")
    thread.join(30)
    assert not thread.is_alive()
    return errors[0] if errors else None


def test_tenant_settings_change_while_an_audit_append_holds_the_chain_head(acme):
    error = _run_while_an_append_holds_the_head(
        acme, lambda: update_tenant(acme.pk, operator("test"), name="Acme Renamed")
    )
    assert error is None
    acme.refresh_from_db()
    assert acme.name == "Acme Renamed"
    assert AuditEvent.objects.filter(tenant=acme, kind=AuditEvent.Kind.TENANT_CHANGED).count() == 3


def test_an_invitation_while_an_audit_append_holds_the_chain_head(acme, mailoutbox):
    from accounts.models import Role

    role = Role.objects.filter(tenant=acme).first()
    error = _run_while_an_append_holds_the_head(
        acme,
        lambda: invite_member(
            acme.pk, email="new@example.com", role_id=role.pk, actor=operator("test"), site_url="http://testserver"
        ),
    )
    assert error is None
    assert AuditEvent.objects.filter(tenant=acme, kind=AuditEvent.Kind.MEMBER_INVITED).count() == 1
