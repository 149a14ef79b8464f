"""Configuration > Users & Roles: Administrators add, re-role and remove members and edit roles."""

import pytest
from django.urls import reverse

from accounts.actors import user_grants as tenant_perms
from accounts.models import AuditEvent, Membership, Role, User
from accounts.permissions import ADMINISTRATOR, MANAGE_MEMBERS, VIEW_INTERACTIONS
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db


def page(slug="acme"):
    return reverse("users-and-roles", args=[slug])


def test_only_administrators_open_the_page(acme):
    assert_role_matrix(page(), acme, {ADMINISTRATOR})
    role = Role.objects.get(tenant=acme, name="Viewer")
    assert_role_matrix(reverse("role-edit", args=["acme", role.pk]), acme, {ADMINISTRATOR})


def test_forged_posts_from_non_administrators_are_refused(acme):
    viewer_role = Role.objects.get(tenant=acme, name="Viewer")
    assert_role_matrix(
        page(),
        acme,
        {ADMINISTRATOR},
        method="post",
        data={"username": "x", "role": viewer_role.pk},
        ok_status=400,
    )
    assert not User.objects.filter(username="x").exists()


def test_page_lists_members_and_the_role_matrix(acme, member, django_assert_max_num_queries):
    admin = member(acme, ADMINISTRATOR)
    for _ in range(5):
        member(acme, "Viewer")
    client = client_for(admin)
    client.get(page())
    with django_assert_max_num_queries(12):
        html = client.get(page()).content.decode()
    assert admin.username in html and "ARTIFACTS_MANAGEMENT_DELETE_REQUESTS" in html


def test_add_a_new_user_with_a_role(acme, member):
    client = client_for(member(acme, ADMINISTRATOR))
    supervisor = Role.objects.get(tenant=acme, name="Supervisor")
    response = client.post(
        page(),
        {
            "username": "new-agent",
            "email": "new@acme.test",
            "password": "correct horse battery",
            "role": supervisor.pk,
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="new-agent")
    assert user.check_password("correct horse battery")
    assert Membership.objects.get(user=user).role == supervisor
    assert "artifacts_management_requests_create" in tenant_perms(user, acme)
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.MEMBER_ADDED, details__member="new-agent").exists()


def test_bad_input_names_the_field_and_saves_nothing(acme, member):
    client = client_for(member(acme, ADMINISTRATOR))
    viewer = Role.objects.get(tenant=acme, name="Viewer")
    response = client.post(page(), {"username": "newbie", "role": viewer.pk})
    assert response.status_code == 400
    assert "Initial password: “newbie” is a new user: set an initial password." in response.content.decode()
    response = client.post(page(), {"username": "newbie", "role": "999999"})
    assert response.status_code == 400 and "Role:" in response.content.decode()
    assert not User.objects.filter(username="newbie").exists()


def test_role_of_another_tenant_cannot_be_posted(acme, globex, member):
    client = client_for(member(acme, ADMINISTRATOR))
    target = member(acme, "Viewer")
    membership = Membership.objects.get(user=target)
    foreign = Role.objects.get(tenant=globex, name=ADMINISTRATOR)
    client.post(reverse("member-role", args=["acme", membership.pk]), {"role": foreign.pk})
    assert Membership.objects.get(pk=membership.pk).role.name == "Viewer"
    assert tenant_perms(target, globex) == frozenset()


def test_change_role_and_remove_member(acme, member):
    client = client_for(member(acme, ADMINISTRATOR))
    target = member(acme, "Viewer")
    membership = Membership.objects.get(user=target)
    admin_role = Role.objects.get(tenant=acme, name=ADMINISTRATOR)
    client.post(reverse("member-role", args=["acme", membership.pk]), {"role": admin_role.pk})
    assert MANAGE_MEMBERS in tenant_perms(target, acme)
    client.post(reverse("member-remove", args=["acme", membership.pk]))
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert tenant_perms(target, acme) == frozenset()


def test_last_administrator_cannot_remove_themselves(acme, member):
    admin = member(acme, ADMINISTRATOR)
    client = client_for(admin)
    response = client.post(reverse("member-remove", args=["acme", Membership.objects.get(user=admin).pk]), follow=True)
    assert "without any member who can manage users and roles" in response.content.decode()
    assert Membership.objects.filter(user=admin).exists()


def test_edit_role_permissions(acme, member):
    client = client_for(member(acme, ADMINISTRATOR))
    viewer_role = Role.objects.get(tenant=acme, name="Viewer")
    viewer = member(acme, "Viewer")
    response = client.post(
        reverse("role-edit", args=["acme", viewer_role.pk]),
        {"name": "ignored", "permissions": [VIEW_INTERACTIONS]},
    )
    assert response.status_code == 302
    viewer_role.refresh_from_db()
    assert viewer_role.name == "Viewer"  # the name is fixed
    assert tenant_perms(viewer, acme) == {VIEW_INTERACTIONS}


def test_create_role(acme, member):
    client = client_for(member(acme, ADMINISTRATOR))
    response = client.post(
        reverse("role-create", args=["acme"]),
        {"name": "Auditor", "permissions": [VIEW_INTERACTIONS, "artifacts_management_requests_read"]},
    )
    assert response.status_code == 302
    role = Role.objects.get(tenant=acme, name="Auditor")
    assert role.permission_codenames == {VIEW_INTERACTIONS, "artifacts_management_requests_read"}
    duplicate = client.post(reverse("role-create", args=["acme"]), {"name": "auditor", "permissions": []})
    assert duplicate.status_code == 200 and "already exists" in duplicate.content.decode()
