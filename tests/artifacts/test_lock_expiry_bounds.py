"""Lock Expires On, any date from year 1 to 9999, through every way in: the request form, the
Protected dialog and ``manage.py artifacts_requests create --expires``. A date in the past or today,
or more than :data:`~artifacts.validation.MAX_LOCK_YEARS` years ahead, is a message naming the
field; anything between is saved. Never a 500 (9999-12-31 used to overflow computing its end)."""

import datetime as dt
import io
import zoneinfo

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from hypothesis import example, given, settings
from hypothesis import strategies as st

from accounts.permissions import COMPLIANCE_OFFICER
from artifacts.models import ManagementRequest
from artifacts.validation import MAX_LOCK_YEARS, latest_lock_expiry
from core.vocabulary import ANY
from tests.factories import InteractionFactory
from tests.matrix import client_for

pytestmark = pytest.mark.django_db

#: Every representable date, with the interesting stretch (today ± the limit) drawn more often.
DATES = st.one_of(
    st.dates(),
    st.dates(min_value=dt.date.today() - dt.timedelta(days=3), max_value=dt.date(2200, 1, 1)),
)
EXTREMES = (dt.date.min, dt.date(9999, 12, 31), dt.date(9999, 12, 30), dt.date(2200, 1, 1))
FAST = settings(max_examples=12, deadline=None)


def expected(tenant, day):
    """The validator's verdict on ``day``: None (saved) or the start of the field's message."""
    today = timezone.now().astimezone(zoneinfo.ZoneInfo(tenant.time_zone)).date()
    if day <= today:
        return "Lock Expires On: must be a future date"
    if day > latest_lock_expiry(today):
        return f"Lock Expires On: at most {MAX_LOCK_YEARS} years ahead"
    return None


def with_extremes(test):
    for day in EXTREMES:
        test = example(day)(test)
    return test


@pytest.fixture
def setup(acme, member):
    return acme, member(acme, COMPLIANCE_OFFICER, username="officer"), InteractionFactory(tenant=acme)


def test_latest_lock_expiry_is_the_same_day_a_hundred_years_on():
    assert latest_lock_expiry(dt.date(2026, 3, 1)) == dt.date(2126, 3, 1)
    assert latest_lock_expiry(dt.date(2028, 2, 29)) == dt.date(2128, 2, 29)
    assert latest_lock_expiry(dt.date(2029, 2, 28)) == dt.date(2129, 2, 28)
    assert latest_lock_expiry(dt.date(2000, 2, 29)) == dt.date(2100, 2, 28)  # 2100 has no 29 February


def test_request_form(setup):
    tenant, officer, call = setup
    client = client_for(officer)
    url = reverse("management-request-create", args=[tenant.slug])

    @FAST
    @with_extremes
    @given(DATES)
    def check(day):
        before = ManagementRequest.objects.count()
        data = {
            "request_type": "add_lock",
            "artifact_type": ANY,
            "interaction_ids": str(call.guid),
            "confirm_add_lock": "on",
            "lock_expires": "on",
            "lock_expires_on": day.isoformat(),
        }
        response = client.post(url, data)
        problem = expected(tenant, day)
        if problem is None:
            assert response.status_code == 302
            assert ManagementRequest.objects.latest("id").lock_expires_on == day
        else:
            assert response.status_code == 400
            assert any(problem in error for error in response.context["form"].errors["lock_expires_on"])
            assert ManagementRequest.objects.count() == before

    check()


def test_protected_dialog(setup):
    tenant, officer, call = setup
    client = client_for(officer)
    url = reverse("interaction-protection", args=[tenant.slug, call.guid])

    @FAST
    @with_extremes
    @given(DATES)
    def check(day):
        before = ManagementRequest.objects.count()
        data = {"protected": "on", "confirmed": "on", "confirms": "add_lock", "lock_expires_on": day.isoformat()}
        response = client.post(url, data)
        assert response.status_code == 302
        # What the interaction page shows next (read here: rendering that page is not under test).
        shown = [str(message) for message in get_messages(response.wsgi_request)]
        problem = expected(tenant, day)
        if problem is None:
            assert ManagementRequest.objects.count() == before + 1
            assert ManagementRequest.objects.latest("id").lock_expires_on == day
        else:
            assert any(problem in message for message in shown), shown
            assert ManagementRequest.objects.count() == before

    check()


def test_command(setup):
    tenant, officer, call = setup

    @FAST
    @with_extremes
    @given(DATES)
    def check(day):
        before = ManagementRequest.objects.count()
        args = ["--tenant", tenant.slug, "--type", "add_lock", "--artifact-type", "any"]
        args += ["--ids", str(call.guid), "--user", officer.username, "--expires", day.isoformat()]
        problem = expected(tenant, day)
        if problem is None:
            call_command("artifacts_requests", "create", *args, stdout=io.StringIO())
            assert ManagementRequest.objects.latest("id").lock_expires_on == day
        else:
            with pytest.raises(CommandError, match=f"--expires: {problem}"):
                call_command("artifacts_requests", "create", *args, stdout=io.StringIO())
            assert ManagementRequest.objects.count() == before

    check()
