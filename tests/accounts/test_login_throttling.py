"""Sign-in throttling (django-axes): a user name is locked out from one address after
``LOGIN_FAILURE_LIMIT`` failures for ``LOGIN_COOLOFF_MINUTES``, on the product's login page and the
admin's; the lockout is audited in each of the user's tenants; support staff unlock in the admin."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.actors import user_actor
from accounts.models import AuditEvent
from tests.factories import SYSTEM, UserFactory
from tests.test_config import ROOT

pytestmark = pytest.mark.django_db

PASSWORD = "holdfast-test"  # tests.factories.UserFactory
HOME, AWAY = "198.51.100.7", "203.0.113.50"
LOCKED_MESSAGE = "Too many failed sign-ins for this account from your address; try again in {} or ask support."


def sign_in(client, username, password, address=HOME, path="/login/", **extra):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address, **extra)


def signed_in(client):
    return "_auth_user_id" in client.session


@pytest.fixture
def alice(acme, globex, member):
    """A member of two tenants."""
    user = member(acme, "Viewer", username="alice")
    services.add_member(globex.pk, username="alice", role_id=globex.roles.get(name="Viewer").pk, actor=SYSTEM)
    return user


def lock_out(username, address=HOME, path="/login/", tries=5):
    client = Client()
    for _ in range(tries):
        response = sign_in(client, username, "wrong password", address, path)
    return client, response


def test_settings_defaults(settings):
    assert (settings.LOGIN_FAILURE_LIMIT, settings.LOGIN_COOLOFF_MINUTES) == (5, 15)
    limit, cool_off = settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME
    assert limit == 5 and cool_off == timedelta(minutes=15)
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_forty_wrong_passwords_then_the_right_one_does_not_sign_in(alice):
    client = Client()
    statuses = [sign_in(client, "alice", f"guess-{n}").status_code for n in range(40)]
    assert statuses[:4] == [200] * 4, "the first failures are ordinary form errors"
    assert set(statuses[4:]) == {429}, "the fifth failure locks the account out from this address"
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 429 and not signed_in(client)
    assert response.templates[0].name == "registration/login.html", "the message is on the login page"
    assert LOCKED_MESSAGE.format("15 minutes") in response.content.decode()
    # Attempts during the lockout neither count nor extend it: the cool-off runs from the lockout.
    assert AccessAttempt.objects.get(username="alice").failures_since_start == 5


def test_after_the_cool_off_the_right_password_signs_in(alice):
    client, _ = lock_out("alice")
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=10))
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 429 and LOCKED_MESSAGE.format("5 minutes") in response.content.decode()
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=5, seconds=1))
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 302 and signed_in(client)
    assert not AccessAttempt.objects.filter(username="alice").exists(), "a sign-in forgets earlier failures"


def test_the_cool_off_follows_the_setting(alice, settings):
    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
    client, response = lock_out("alice")
    assert LOCKED_MESSAGE.format("1 minute") in response.content.decode()
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(seconds=61))
    assert sign_in(client, "alice", PASSWORD).status_code == 302 and signed_in(client)


def test_the_failure_limit_follows_the_setting(alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    _, response = lock_out("alice", tries=2)
    assert response.status_code == 429


def test_another_user_and_another_address_are_unaffected(alice, acme, member):
    member(acme, "Viewer", username="bob")
    lock_out("alice", HOME)
    elsewhere = Client()
    assert sign_in(elsewhere, "alice", PASSWORD, AWAY).status_code == 302 and signed_in(elsewhere)
    colleague = Client()
    assert sign_in(colleague, "bob", PASSWORD, HOME).status_code == 302 and signed_in(colleague)
    assert sign_in(Client(), "alice", PASSWORD, HOME).status_code == 429


def test_behind_a_proxy_the_forwarded_address_counts(alice, settings):
    """The lockout is keyed by the address the audit trail records (``client_address``)."""
    settings.BEHIND_PROXY = True
    proxy = "10.0.0.2"
    for _ in range(5):
        sign_in(Client(), "alice", "wrong", proxy, HTTP_X_FORWARDED_FOR=HOME)
    assert sign_in(Client(), "alice", PASSWORD, proxy, HTTP_X_FORWARDED_FOR=HOME).status_code == 429
    other = Client()
    assert sign_in(other, "alice", PASSWORD, proxy, HTTP_X_FORWARDED_FOR=AWAY).status_code == 302


def test_the_lockout_is_audited_once_in_each_of_the_users_tenants(alice, acme, globex):
    client = Client()
    for n in range(40):
        sign_in(client, "alice", f"guess-{n}")
    events = AuditEvent.objects.filter(kind=AuditEvent.Kind.LOGIN_LOCKED_OUT)
    assert sorted(events.values_list("tenant__slug", flat=True)) == ["acme", "globex"]
    event = events.get(tenant=acme)
    assert (event.source, event.remote_addr, event.actor_kind, event.actor_user) == ("web", HOME, "visitor", None)
    assert event.details["username"] == "alice" and event.details["failures"] == 5
    assert event.details["cool_off_minutes"] == 15
    assert str(event) and event.get_kind_display() == "Sign-in locked out"


def test_an_unknown_user_name_is_locked_out_alike_and_audits_nothing():
    """The answer does not reveal whether the name exists; the trail belongs to tenants."""
    _, response = lock_out("nobody-by-this-name")
    assert response.status_code == 429
    assert LOCKED_MESSAGE.format("15 minutes") in response.content.decode()
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.LOGIN_LOCKED_OUT).exists()


def test_the_admin_login_is_throttled_too(acme, member):
    support = UserFactory(username="helpdesk", is_staff=True, is_superuser=True)
    member(acme, "Administrator", username=support.username)
    login = reverse("admin:login")
    client, response = lock_out("helpdesk", path=login)
    assert response.status_code == 429
    assert response.templates[0].name == "admin/login.html"
    assert LOCKED_MESSAGE.format("15 minutes") in response.content.decode()
    response = sign_in(client, "helpdesk", PASSWORD, path=login)
    assert response.status_code == 429 and not signed_in(client)
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.LOGIN_LOCKED_OUT, tenant=acme).count() == 1


def test_support_unlocks_in_the_admin(alice, acme, globex, admin_client, admin_user):
    lock_out("alice")
    lock_out("alice", AWAY)
    changelist = reverse("admin:axes_accessattempt_changelist")
    page = admin_client.get(changelist)
    assert page.status_code == 200 and b"Locked out until" in page.content
    here = AccessAttempt.objects.get(ip_address=HOME)
    response = admin_client.post(
        changelist, {"action": "unlock_selected", "_selected_action": [here.pk]}, REMOTE_ADDR="192.0.2.1", follow=True
    )
    assert any("Unlocked sign-ins of alice from 198.51.100.7" in str(m) for m in response.context["messages"])
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [AWAY], "only the selected one"
    client = Client()
    assert sign_in(client, "alice", PASSWORD, HOME).status_code == 302 and signed_in(client)
    events = AuditEvent.objects.filter(kind=AuditEvent.Kind.LOGIN_UNLOCKED)
    assert sorted(events.values_list("tenant__slug", flat=True)) == ["acme", "globex"]
    event = events.get(tenant=acme)
    assert (event.actor_user, event.source, event.remote_addr) == (admin_user, "admin", "192.0.2.1")
    assert (event.details["username"], event.details["address"]) == ("alice", HOME)


def test_support_unlocks_from_the_change_page_through_the_service(alice, admin_client):
    lock_out("alice")
    attempt = AccessAttempt.objects.get()
    assert admin_client.get(reverse("admin:axes_accessattempt_change", args=[attempt.pk])).status_code == 200
    delete = reverse("admin:axes_accessattempt_delete", args=[attempt.pk])
    assert admin_client.get(delete).status_code == 200
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not AccessAttempt.objects.exists()
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.LOGIN_UNLOCKED).count() == 2
    assert sign_in(Client(), "alice", PASSWORD).status_code == 302


def test_sign_in_admin_pages_load_and_are_read_only(alice, admin_client):
    lock_out("alice")
    sign_in(Client(), "alice", PASSWORD, AWAY)
    for model in ("accessattempt", "accesslog"):
        assert admin_client.get(reverse(f"admin:axes_{model}_changelist")).status_code == 200, model
        assert admin_client.get(reverse(f"admin:axes_{model}_add")).status_code == 403, model
    log = reverse("admin:axes_accesslog_changelist")
    assert admin_client.get(log, {"q": "alice"}).context["cl"].result_count == 1


def test_only_support_staff_may_unlock(alice, acme, member):
    lock_out("alice")
    attempt = AccessAttempt.objects.get()
    administrator = user_actor(member(acme, "Administrator"))
    with pytest.raises(PermissionDenied, match="only support staff"):
        services.unlock_sign_ins([attempt.pk], administrator)
    assert AccessAttempt.objects.exists()
    staff = UserFactory(is_staff=True)  # the admin, but no permission on sign-in attempts
    client = Client()
    client.force_login(staff)
    changelist = reverse("admin:axes_accessattempt_changelist")
    assert client.post(changelist, {"action": "unlock_selected", "_selected_action": [attempt.pk]}).status_code == 403
    assert AccessAttempt.objects.exists()


SHOW = (
    "import django; from django.conf import settings; django.setup(); "
    "print(settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME)"
)


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"LOGIN_FAILURE_LIMIT": "3", "LOGIN_COOLOFF_MINUTES": "60"}, "3 1:00:00"),
        ({"LOGIN_FAILURE_LIMIT": "0"}, "LOGIN_FAILURE_LIMIT must be a whole number of at least 1"),
        ({"LOGIN_COOLOFF_MINUTES": "soon"}, "LOGIN_COOLOFF_MINUTES must be a whole number of at least 1"),
    ],
)
def test_settings_come_from_the_environment(tmp_path, env, expected):
    result = subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "true",
            "DATA_DIR": str(tmp_path),
            **env,
        },
    )
    assert expected in result.stdout + result.stderr
