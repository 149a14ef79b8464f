"""Passwords: a signed-in user changes theirs at /password_change/; anyone resets one by email at
/password_reset/ (the mail goes out through Django's SMTP backend: here a real SMTP server on
loopback, with authentication). Every change is recorded in each tenant of the user."""

import email
import email.policy
import json
import os
import re
import socket
import subprocess
import sys

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.actors import user_actor
from accounts.models import AuditEvent, User
from tests.factories import SYSTEM, MembershipFactory, UserFactory
from tests.matrix import client_for
from tests.test_config import ROOT

pytestmark = [
    pytest.mark.django_db,
    # The test server asks for a login over plain SMTP on loopback; aiosmtpd warns about that.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

OLD, NEW = "holdfast-test", "Tide-Marker-41-Lantern"
SMTP_USER, SMTP_PASSWORD = "holdfast-mailer", "smtp-secret-7"
SAME_ANSWER = "If an account uses that address"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps every message it receives, parsed."""

    def __init__(self):
        self.messages = []
        self.logins = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append((envelope.rcpt_tos, message))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append(auth_data.login.decode())
        ok = (auth_data.login.decode(), auth_data.password.decode()) == (SMTP_USER, SMTP_PASSWORD)
        return AuthResult(success=ok)


@pytest.fixture
def inbox(settings):
    """A real SMTP server on a free loopback port that requires a login; Django sends through it."""
    box = Inbox()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=box.authenticate,
        auth_required=True,
        auth_require_tls=False,  # loopback only, in a test
    )
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = SMTP_USER, SMTP_PASSWORD
    settings.EMAIL_USE_TLS = False
    settings.DEFAULT_FROM_EMAIL = "Holdfast <no-reply@holdfast.example>"
    yield box
    controller.stop()


@pytest.fixture
def alice(acme, globex, member):
    """A member of two tenants, with an email address."""
    user = member(acme, "Viewer", username="alice", email="alice@example.com")
    services.add_member(globex.pk, username="alice", role_id=globex.roles.get(name="Viewer").pk, actor=SYSTEM)
    return user


def signs_in(username, password):
    client = Client()
    response = client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR="198.51.100.9")
    return response.status_code == 302 and "_auth_user_id" in client.session


def changes(kind=AuditEvent.Kind.PASSWORD_CHANGED):
    return AuditEvent.objects.filter(kind=kind).order_by("tenant__slug")


# --- reset by email ---------------------------------------------------------------------------
def test_reset_by_email_then_sign_in_with_the_new_password(alice, acme, inbox):
    client = Client()
    page = client.get("/password_reset/")
    assert page.status_code == 200 and b'name="email"' in page.content
    response = client.post("/password_reset/", {"email": "ALICE@example.com"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert SAME_ANSWER in client.get(response["Location"]).content.decode()

    [(recipients, message)] = inbox.messages
    assert recipients == ["alice@example.com"] and inbox.logins == [SMTP_USER]
    assert message["From"] == "Holdfast <no-reply@holdfast.example>"
    assert message["Subject"] == "Reset your Holdfast password"
    body = message.get_content()
    assert "alice" in body, "the mail names the account"
    link = re.search(r"http://testserver(/reset/\S+/\S+/)", body).group(1)

    form = client.get(link, follow=True)
    assert form.status_code == 200 and b'name="new_password1"' in form.content
    done = client.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302 and done["Location"] == reverse("password_reset_complete")
    assert b"Log in" in client.get(done["Location"]).content

    assert signs_in("alice", NEW) and not signs_in("alice", OLD)
    assert client.get(link, follow=True).context["validlink"] is False, "a link works once"
    assert [e.tenant.slug for e in changes()] == ["acme", "globex"]
    event = changes().get(tenant=acme)
    assert (event.actor_user, event.source, event.details["how"]) == (alice, "web", "reset")
    assert event.remote_addr == "127.0.0.1"


def test_the_reset_form_answers_the_same_whether_or_not_the_address_exists(alice, inbox):
    answers = []
    for address in ("alice@example.com", "nobody@example.com"):
        response = Client().post("/password_reset/", {"email": address}, follow=True)
        answers.append((response.redirect_chain, response.status_code, response.content))
    assert answers[0] == answers[1]
    assert [recipients for recipients, _ in inbox.messages] == [["alice@example.com"]]


def test_an_unreachable_mail_server_gives_the_same_answer(alice, settings, caplog):
    """No 500 (which would also tell that the address exists): the failure is logged."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    response = Client().post("/password_reset/", {"email": "alice@example.com"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert "Failed to send password reset email" in caplog.text


@pytest.mark.parametrize("address", ["", "not-an-address", "a" * 300 + "@example.com"])
def test_a_malformed_address_is_a_field_error(address):
    response = Client().post("/password_reset/", {"email": address})
    assert response.status_code == 200 and "email" in response.context["form"].errors
    assert b'class="error"' in response.content


@pytest.mark.parametrize("link", ["/reset/MQ/bad-token/", "/reset/%%%/x-y/", "/reset/" + "A" * 500 + "/1-2/"])
def test_a_bad_reset_link_says_so(alice, link):
    response = Client().get(link, follow=True)
    assert response.status_code == 200 and response.context["validlink"] is False
    assert b"invalid" in response.content


def test_new_passwords_are_validated_on_reset(alice, inbox):
    client = Client()
    client.post("/password_reset/", {"email": "alice@example.com"})
    link = re.search(r"http://testserver(/reset/\S+/\S+/)", inbox.messages[0][1].get_content()).group(1)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": "password", "new_password2": "password"})
    assert response.status_code == 200 and "new_password2" in response.context["form"].errors
    assert signs_in("alice", OLD) and not changes().exists()


# --- change when signed in ------------------------------------------------------------------------
def test_change_password(alice, acme):
    client = client_for(alice)
    page = client.get("/password_change/")
    assert page.status_code == 200 and b'name="old_password"' in page.content
    response = client.post(
        "/password_change/",
        {"old_password": OLD, "new_password1": NEW, "new_password2": NEW},
        REMOTE_ADDR="203.0.113.4",
    )
    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    done = client.get(response["Location"])
    assert done.status_code == 200 and done.context["user"] == alice, "still signed in"
    assert signs_in("alice", NEW) and not signs_in("alice", OLD)
    assert [e.tenant.slug for e in changes()] == ["acme", "globex"]
    event = changes().get(tenant=acme)
    assert (event.actor_user, event.source, event.remote_addr) == (alice, "web", "203.0.113.4")
    assert (event.details["username"], event.details["how"]) == ("alice", "changed")


def attempt(old, new1, new2=None):
    return {"old_password": old, "new_password1": new1, "new_password2": new1 if new2 is None else new2}


@pytest.mark.parametrize(
    "data, field, message",
    [
        (attempt("wrong", NEW), "old_password", "incorrectly"),
        (attempt(OLD, NEW, NEW + "x"), "new_password2", "match"),
        (attempt(OLD, "password"), "new_password2", "too common"),
        (attempt(OLD, "90210338475"), "new_password2", "entirely numeric"),
        (attempt(OLD, "alice-example"), "new_password2", "too similar"),
        (attempt(OLD, "short"), "new_password2", "too short"),
        (attempt(OLD, ""), "new_password1", "required"),
    ],
)
def test_a_refused_change_is_a_field_error(alice, data, field, message):
    client = client_for(alice)
    response = client.post("/password_change/", data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field])
    label = str(response.context["form"][field].label)
    assert f"{label}: " in response.content.decode(), "the error names the field"
    assert signs_in("alice", OLD) and not changes().exists()


def test_changing_a_password_needs_a_signed_in_user():
    response = Client().get("/password_change/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_header_links_to_the_password_change_and_the_login_page_to_the_reset(alice):
    page = client_for(alice).get("/tenants/")
    assert b'href="/password_change/"' in page.content
    assert b'href="/password_reset/"' in Client().get("/login/").content


def test_the_admin_password_change_is_the_same_audited_page(acme, admin_client, admin_user):
    MembershipFactory(user=admin_user, tenant=acme, role_name="Administrator")
    response = admin_client.post(reverse("admin:password_change"), attempt("password", NEW))
    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    assert admin_client.get(response["Location"]).context["user"] == admin_user, "still signed in"
    assert changes().get(tenant=acme).actor_user == admin_user


def test_support_setting_a_users_password_in_the_admin_is_recorded(alice, admin_client, admin_user):
    url = reverse("admin:auth_user_password_change", args=[alice.pk])
    response = admin_client.post(url, {"password1": NEW, "password2": NEW, "usable_password": "true"})
    assert response.status_code == 302, response.context and response.context["form"].errors
    assert signs_in("alice", NEW)
    recorded = [(e.actor_user, e.source, e.details["how"]) for e in changes()]
    assert recorded == [(admin_user, "admin", "set by support")] * 2


def test_only_the_user_or_support_may_record_a_password_change(alice, acme, member):
    other = user_actor(member(acme, "Administrator"))
    with pytest.raises(PermissionDenied, match="only support staff"):
        services.record_password_change(alice.pk, other)
    assert not changes().exists()
    support = user_actor(UserFactory(is_superuser=True, is_staff=True))
    assert len(services.record_password_change(alice.pk, support, how="set by support")) == 2
    assert User.objects.get(pk=alice.pk).check_password(OLD), "recording changes no password"


# --- settings ---------------------------------------------------------------------------------------
SHOW = (
    "import json, django; from django.conf import settings as s; django.setup(); print(json.dumps([s.EMAIL_BACKEND,"
    " s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, s.EMAIL_HOST_PASSWORD, s.EMAIL_USE_TLS, s.DEFAULT_FROM_EMAIL]))"
)
SMTP = "django.core.mail.backends.smtp.EmailBackend"
DEFAULT_FROM = "Holdfast <noreply@localhost>"


@pytest.mark.parametrize(
    "env, expected",
    [
        (
            {
                "EMAIL_HOST": "smtp.example",
                "EMAIL_PORT": "2525",
                "EMAIL_HOST_USER": "u",
                "EMAIL_HOST_PASSWORD": "p",
                "EMAIL_USE_TLS": "true",
                "DEFAULT_FROM_EMAIL": "Holdfast <hf@example.com>",
            },
            [SMTP, "smtp.example", 2525, "u", "p", True, "Holdfast <hf@example.com>"],
        ),
        ({"DEBUG": "true"}, ["django.core.mail.backends.console.EmailBackend", "", 25, "", "", False, DEFAULT_FROM]),
        ({"SECRET_KEY": "k" * 60}, [SMTP, "localhost", 25, "", "", False, DEFAULT_FROM]),
    ],
)
def test_email_settings_come_from_the_environment(tmp_path, env, expected):
    result = subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATA_DIR": str(tmp_path),
            "DEBUG": "false",
            "SECRET_KEY": "k" * 60,
            **env,
        },
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected
