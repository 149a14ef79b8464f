"""Configuration > Users & Roles: Administrators re-role and remove members and edit roles (inviting
people is tests/accounts/test_invitations.py)."""

import pytest
from django.urls import reverse

from accounts.actors import user_grants as tenant_perms
from accounts.models import Membership, Role
from accounts.permissions import ADMINISTRATOR, MANAGE_MEMBERS, VIEW_INTERACTIONS
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db


def page(slug="acme"):
    return reverse("users-and-roles", args=[slug])


def test_only_administrators_open_the_page(acme):
    assert_role_matrix(page(), acme, {ADMINISTRATOR})
    role = Role.objects.get(tenant=acme, name="Viewer")
    assert_role_matrix(reverse("role-edit", args=["acme", role.pk]), acme, {ADMINISTRATOR})


def test_page_lists_members_and_the_role_matrix(acme, member, django_assert_max_num_queries):
    admin = member(acme, ADMINISTRATOR)
    for _ in range(5):
        member(acme, "Viewer")
    client = client_for(admin)
    client.get(page())
    with django_assert_max_num_queries(12):
        html = client.get(page()).content.decode()
    assert admin.username in html and "ARTIFACTS_MANAGEMENT_DELETE_REQUESTS" in html


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
