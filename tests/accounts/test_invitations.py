"""Users & Roles → Invite: administrators invite people by email, within their tenant only.

A new address gets an account and an email (through a real SMTP server on loopback) whose link sets
its password; an address whose account lives in another tenant is never attached, and the tenant
cannot tell it from a new address: same answer, same page, same audit event, one email each.
"""

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.actors import user_actor
from accounts.actors import user_grants as tenant_perms
from accounts.models import AuditEvent, Invitation, Membership, Role, User
from accounts.permissions import ADMINISTRATOR, MANAGE_MEMBERS, VIEW_INTERACTIONS
from tests.factories import RoleFactory
from tests.loopback import free_port
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db
PASSWORD = "a long and unusual passphrase 42"


def page(slug="acme"):
    return reverse("users-and-roles", args=[slug])


def role(tenant, name):
    return Role.objects.get(tenant=tenant, name=name)


def invite(client, email, role_obj=None, slug="acme", **extra):
    data = {"email": email, **extra}
    if role_obj is not None:
        data["role"] = role_obj.pk
    return client.post(page(slug), data, follow=True)


def link_in(body):
    match = re.search(r"https?://\S+/invitation/\S+/", body)
    assert match, body
    return match.group(0)


def test_only_administrators_invite(acme, smtp_server):
    assert_role_matrix(
        page(), acme, {ADMINISTRATOR}, method="post", data={"email": "x@example.test", "role": ""}, ok_status=400
    )
    assert not Invitation.objects.exists() and not User.objects.filter(email="x@example.test").exists()
    assert smtp_server.messages == []


def test_the_form_asks_for_an_email_and_offers_viewer_first(acme, member):
    html = client_for(member(acme, ADMINISTRATOR)).get(page()).content.decode()
    assert 'name="email"' in html and 'name="username"' not in html and 'name="password"' not in html
    assert f'<option value="{role(acme, "Viewer").pk}" selected>Viewer</option>' in html


def test_a_new_address_gets_an_account_and_a_link_that_lets_them_in(acme, member, smtp_server):
    admin = member(acme, ADMINISTRATOR, username="boss")
    response = invite(client_for(admin), "New.Agent@Example.test", role(acme, "Supervisor"))
    assert response.redirect_chain == [(page(), 302)]
    assert "Invitation sent to New.Agent@example.test." in response.content.decode()

    user = User.objects.get(email__iexact="new.agent@example.test")
    assert user.username == "new.agent@example.test" and not user.has_usable_password()
    assert Membership.objects.get(user=user, tenant=acme).role.name == "Supervisor"
    invitation = Invitation.objects.get(tenant=acme)
    assert invitation.user == user and invitation.accepted_at is None and invitation.invited_by == "boss"
    # Not a member on the page until they have joined: listed as a pending invitation instead.
    html = response.content.decode()
    members, invitations = html.split('id="invitations"')
    assert user.username not in members.split("<h2>Members of")[1] and "New.Agent@example.test" in invitations
    # Nobody can log in to it yet.
    assert not user.has_usable_password()
    refused = Client().post("/login/", {"username": user.username, "password": ""})
    assert refused.status_code == 200 and "_auth_user_id" not in refused.wsgi_request.session

    [mail] = smtp_server.to("New.Agent@example.test")
    assert mail["Subject"] == "Invitation to Acme on Holdfast"
    body = smtp_server.body(mail)
    assert "boss invited you to Acme on Holdfast, as Supervisor" in body
    assert "Your user name: new.agent@example.test" in body

    newcomer = Client()
    opened = newcomer.get(link_in(body), follow=True)
    assert opened.status_code == 200 and 'id="invitation-form"' in opened.content.decode()
    form_url = opened.redirect_chain[-1][0]
    assert form_url.endswith("/set-password/")  # the token left the address bar
    weak = newcomer.post(form_url, {"new_password1": "123", "new_password2": "123"})
    assert weak.status_code == 200 and "This password is too short" in weak.content.decode()
    joined = newcomer.post(form_url, {"new_password1": PASSWORD, "new_password2": PASSWORD}, follow=True)
    assert joined.redirect_chain[-1][0] == reverse("login")
    assert "Log in with your user name, new.agent@example.test." in joined.content.decode()

    logged_in = newcomer.post(reverse("login"), {"username": user.username, "password": PASSWORD}, follow=True)
    assert logged_in.redirect_chain[-1][0] == reverse("interaction-list", args=["acme"])
    assert "artifacts_management_requests_create" in tenant_perms(user, acme)
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    html = client_for(admin).get(page()).content.decode()
    assert user.username in html.split('id="invitations"')[0] and "Nobody is waiting to join." in html
    kinds = list(AuditEvent.objects.filter(tenant=acme).order_by("id").values_list("kind", "details"))
    assert (AuditEvent.Kind.MEMBER_INVITED, {"email": "New.Agent@example.test", "role": "Supervisor"}) in kinds
    added = AuditEvent.objects.get(tenant=acme, kind=AuditEvent.Kind.MEMBER_ADDED, details__member=user.username)
    assert added.actor_label == user.username

    # The link works once.
    again = Client().get(link_in(body), follow=True)
    assert "This invitation link is no longer valid" in again.content.decode()


def normalized(response, email):
    """The response's page with what legitimately differs between two posts taken out: the address
    typed in, the per-render CSRF token, and the times shown (two posts may be a second apart)."""
    html = response.content.decode()
    html = re.sub(re.escape(email), "EMAIL", html, flags=re.IGNORECASE)
    html = re.sub(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?", "TIME", html)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', 'name="csrfmiddlewaretoken" value=""', html)


class Statements:
    """Records the SQL statements run on the connection (placeholders, not values: what work was
    done, not on which rows); savepoint names, which are unique per use, are taken out, and so is
    the one ``ROLLBACK TO SAVEPOINT`` that undoes the rehearsal for an address in use."""

    def __init__(self):
        self.shapes = []

    def __call__(self, execute, sql, params, many, context):
        if not sql.startswith("ROLLBACK TO SAVEPOINT"):
            self.shapes.append(re.sub(r'"s\d+_x\d+"', '"savepoint"', sql))
        return execute(sql, params, many, context)


def invite_and_forget(client, email, role_obj):
    """Invite ``email`` and roll everything back; returns what the tenant saw and recorded, and the
    database work the invitation did."""
    with transaction.atomic():
        work = Statements()
        with connection.execute_wrapper(work):
            posted = client.post(page(), {"email": email, "role": role_obj.pk})
        shown = client.get(posted["Location"])
        events = list(AuditEvent.objects.filter(kind=AuditEvent.Kind.MEMBER_INVITED).values("kind", "details"))
        transaction.set_rollback(True)
    for event in events:
        event["details"]["email"] = event["details"]["email"].replace(email, "EMAIL")
    return {
        "status": (posted.status_code, posted["Location"], shown.status_code),
        "page": normalized(shown, email),
        "audit": events,
        "work": work.shapes,
    }


def test_an_address_with_an_account_elsewhere_gets_the_same_answer_and_is_not_attached(
    acme, globex, member, smtp_server
):
    admin = client_for(member(acme, ADMINISTRATOR))
    outsider = member(globex, "Viewer", username="viewer-globex", email="gus@globex.test", first_name="Gus")
    viewer = role(acme, "Viewer")

    elsewhere = invite_and_forget(admin, "gus@globex.test", viewer)
    new = invite_and_forget(admin, "nobody@example.test", viewer)
    assert elsewhere["status"] == new["status"] == (302, page(), 200)
    assert elsewhere["page"] == new["page"] and "Invitation sent to EMAIL." in new["page"]
    invited = {"kind": "member_invited", "details": {"email": "EMAIL", "role": "Viewer"}}
    assert elsewhere["audit"] == new["audit"] == [invited]
    # The same database work, statement for statement (the account elsewhere is only looked up).
    assert elsewhere["work"] == new["work"]
    assert len(smtp_server.messages) == 2  # and one email each way

    # For real this time: nothing of the account is attached or shown.
    response = invite(admin, "gus@globex.test", viewer)
    assert not Membership.objects.filter(user=outsider, tenant=acme).exists()
    assert tenant_perms(outsider, acme) == frozenset()
    invitation = Invitation.objects.get(tenant=acme)
    assert invitation.user is None and invitation.accepted_at is None
    html = response.content.decode()
    assert "viewer-globex" not in html and "Gus" not in html
    # The owner of the address learns what happened, and how to join with the account they have.
    mail = smtp_server.to("gus@globex.test")[-1]
    body = smtp_server.body(mail)
    assert mail["Subject"] == "Invitation to Acme on Holdfast"
    assert "already belongs to a Holdfast account, so that account was not added to Acme" in body
    assert "asks Holdfast support to link it" in body and "/invitation/" not in body


def test_acme_admin_cannot_see_a_globex_user_in_any_way(acme, globex, member, smtp_server):
    admin = client_for(member(acme, ADMINISTRATOR))
    theirs = member(globex, ADMINISTRATOR, username="admin-globex", email="secret.admin@globex.test")
    their_membership = Membership.objects.get(user=theirs)
    secrets_ = ("admin-globex", "secret.admin@globex.test")

    html = admin.get(page()).content.decode()
    assert not any(s in html for s in secrets_)
    # The old "add by user name" form is gone: a user name posted is no way in.
    legacy = admin.post(page(), {"username": "admin-globex", "role": role(acme, "Viewer").pk})
    assert legacy.status_code == 400 and "Email: This field is required." in legacy.content.decode()
    assert not any(s in legacy.content.decode() for s in secrets_)
    assert not Membership.objects.filter(user=theirs, tenant=acme).exists()
    # Their membership and roles are not reachable through acme's page actions either.
    role_url = reverse("member-role", args=["acme", their_membership.pk])
    assert admin.post(role_url, {"role": role(acme, "Viewer").pk}).status_code == 404
    assert admin.post(reverse("member-remove", args=["acme", their_membership.pk])).status_code == 404
    assert admin.get(reverse("role-edit", args=["acme", role(globex, ADMINISTRATOR).pk])).status_code == 404
    assert Membership.objects.filter(pk=their_membership.pk, tenant=globex).exists()


def test_a_member_is_told_they_are_one_and_nothing_is_sent(acme, member, smtp_server):
    admin = client_for(member(acme, ADMINISTRATOR))
    member(acme, "Viewer", email="ada@acme.test")
    response = admin.post(page(), {"email": "ADA@acme.test", "role": role(acme, "Viewer").pk})
    assert response.status_code == 400
    assert "Email: ADA@acme.test is already a member of this tenant." in response.content.decode()
    assert smtp_server.messages == [] and not Invitation.objects.exists()


def test_inviting_again_sends_again_with_the_first_role(acme, member, smtp_server):
    admin = client_for(member(acme, ADMINISTRATOR))
    invite(admin, "twice@example.test", role(acme, "Supervisor"))
    again = invite(admin, "Twice@example.test", role(acme, "Viewer"))
    assert "Invitation sent to twice@example.test." in again.content.decode()
    assert Invitation.objects.get().role.name == "Supervisor"
    assert User.objects.filter(email__iexact="twice@example.test").count() == 1
    assert len(smtp_server.to("twice@example.test")) == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"role": "VIEWER"}, "Email: This field is required."),
        ({"email": "not-an-address", "role": "VIEWER"}, "Email: Enter a valid email address."),
        ({"email": "a@example.test", "role": "999999"}, "Role: Select a valid choice."),
        ({"email": "x" * 250 + "@example.test", "role": "VIEWER"}, "Email: Ensure this value has at most 254"),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(acme, member, smtp_server, data, message):
    data = {k: (role(acme, "Viewer").pk if v == "VIEWER" else v) for k, v in data.items()}
    response = client_for(member(acme, ADMINISTRATOR)).post(page(), data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Invitation.objects.exists() and smtp_server.messages == []
    assert User.objects.count() == 1


def test_a_mail_server_that_refuses_leaves_nothing_half_saved(acme, member, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens there
    admin = client_for(member(acme, ADMINISTRATOR))
    response = admin.post(page(), {"email": "lost@example.test", "role": role(acme, "Viewer").pk})
    assert response.status_code == 400
    assert "Email: The invitation could not be sent" in response.content.decode()
    assert not User.objects.filter(email="lost@example.test").exists()
    assert not Invitation.objects.exists() and not AuditEvent.objects.filter(kind="member_invited").exists()


def test_nobody_invites_into_a_role_beyond_their_own(acme, member, smtp_server):
    managers = RoleFactory(tenant=acme, name="Member managers", permissions=[MANAGE_MEMBERS, VIEW_INTERACTIONS])
    manager = member(acme, "Viewer")
    services.change_member_role(Membership.objects.get(user=manager).pk, managers.pk, services_actor())
    response = client_for(manager).post(page(), {"email": "boss@example.test", "role": role(acme, ADMINISTRATOR).pk})
    assert response.status_code == 400 and "may not give the role Administrator" in response.content.decode()
    assert not User.objects.filter(email="boss@example.test").exists() and smtp_server.messages == []


def services_actor():
    from tests.factories import SYSTEM

    return SYSTEM


def test_someone_invited_does_not_count_as_the_remaining_administrator(acme, member, smtp_server):
    admin = member(acme, ADMINISTRATOR)
    invite(client_for(admin), "heir@example.test", role(acme, ADMINISTRATOR))
    response = client_for(admin).post(
        reverse("member-remove", args=["acme", Membership.objects.get(user=admin).pk]), follow=True
    )
    assert "without any member who can manage users and roles" in response.content.decode()
    assert Membership.objects.filter(user=admin).exists()


def test_attaching_an_account_by_name_is_for_support_only(acme, globex, member, admin_client, smtp_server):
    tenant_admin = user_actor(member(acme, ADMINISTRATOR))
    outsider = member(globex, "Viewer", email="gus@globex.test")
    with pytest.raises(PermissionDenied, match="only support staff"):
        services.add_member(acme.pk, username=outsider.username, role_id=role(acme, "Viewer").pk, actor=tenant_admin)
    # Support links the existing account an invitation is waiting for, in the admin.
    invite(client_for(tenant_admin.user), "gus@globex.test", role(acme, "Viewer"))
    response = admin_client.post(
        reverse("admin:accounts_membership_add"),
        {"user": outsider.pk, "tenant": acme.pk, "role": role(acme, "Viewer").pk},
    )
    assert response.status_code == 302
    assert Membership.objects.filter(user=outsider, tenant=acme).exists()
    assert Invitation.objects.get(tenant=acme).accepted_at is not None
    assert "gus@globex.test" in client_for(tenant_admin.user).get(page()).content.decode().split('id="invitations"')[0]


def test_support_sees_which_invitations_wait_for_an_existing_account(acme, globex, member, admin_client, smtp_server):
    admin = client_for(member(acme, ADMINISTRATOR))
    member(globex, "Viewer", email="gus@globex.test")
    invite(admin, "gus@globex.test", role(acme, "Viewer"))
    invite(admin, "fresh@example.test", role(acme, "Viewer"))
    html = admin_client.get(reverse("admin:accounts_invitation_changelist")).content.decode()
    assert "existing account — link it in Memberships" in html and "fresh@example.test" in html
    invitation = Invitation.objects.get(email="gus@globex.test")
    assert admin_client.get(reverse("admin:accounts_invitation_change", args=[invitation.pk])).status_code == 200
