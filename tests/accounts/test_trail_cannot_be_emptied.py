"""The audit trail and the locks cannot be emptied at the database: TRUNCATE (which fires no row
trigger) and so ``manage.py flush`` are refused, by any connection that has not deliberately set
the suite's bypass."""

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import AuditEvent
from artifacts.models import Lock
from tests.factories import SYSTEM, InteractionFactory, management_request

pytestmark = pytest.mark.django_db(transaction=True)


def plain_connection():
    """A connection to the test database as an operator's psql would open it (no bypass)."""
    params = connection.get_connection_params()
    params.pop("options", None)
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**{k: v for k, v in params.items() if k in ("dbname", "user", "host", "port", "password")})


@pytest.mark.parametrize("table", ["accounts_auditevent", "artifacts_lock", "interactions_interaction"])
def test_truncate_of_the_trail_or_the_locks_is_refused(acme, table):
    management_request(acme, SYSTEM, "add_lock", [InteractionFactory(tenant=acme)], process=True)
    before = (AuditEvent.objects.count(), Lock.objects.count())
    with plain_connection() as conn, pytest.raises(psycopg.errors.RaiseException, match=r"TRUNCATE of \w+ is refused"):
        conn.execute(f"TRUNCATE {table} CASCADE")  # the interactions cascade into the locks
    assert (AuditEvent.objects.count(), Lock.objects.count()) == before


def test_flush_is_refused_outside_the_suite(acme):
    management_request(acme, SYSTEM, "add_lock", [InteractionFactory(tenant=acme)], process=True)
    with plain_connection() as conn:
        conn.execute("SET holdfast.allow_truncate = off")
        with pytest.raises(psycopg.errors.RaiseException):
            # (with the table of expiry notices that references the locks, or its foreign key refuses first)
            conn.execute("TRUNCATE accounts_auditevent, artifacts_lock, artifacts_lockexpirynotice")
    # Django's flush on the same refused connection fails too, and leaves everything in place.
    with connection.cursor() as cursor:
        cursor.execute("SET holdfast.allow_truncate = off")
    try:
        with pytest.raises(Exception, match="couldn't be flushed") as raised:
            call_command("flush", "--no-input", verbosity=0)
        assert "is refused" in str(raised.value.__cause__)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET holdfast.allow_truncate = on")
    assert AuditEvent.objects.exists() and Lock.objects.exists()
