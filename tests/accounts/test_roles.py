"""Roles are editable permission bundles; grants follow membership and role changes at once."""

import pytest
from django.core.exceptions import ValidationError

from accounts import services
from accounts.actors import user_grants as tenant_perms
from accounts.models import AuditEvent, Membership, Role
from accounts.permissions import (
    ACCESS_CONTENT,
    ARTIFACTS_MANAGEMENT_DELETE_REQUESTS,
    ARTIFACTS_MANAGEMENT_REQUESTS_CREATE,
    ARTIFACTS_MANAGEMENT_REQUESTS_READ,
    DEFAULT_ROLES,
    MANAGE_MEMBERS,
    VIEW_INTERACTIONS,
)
from tests.factories import SYSTEM, TenantFactory

pytestmark = pytest.mark.django_db


def role(tenant, name):
    return Role.objects.get(tenant=tenant, name=name)


def test_new_tenant_has_the_four_default_roles(acme):
    for name, codenames in DEFAULT_ROLES.items():
        assert role(acme, name).permission_codenames == set(codenames)


def test_role_change_moves_grants_in_the_same_transaction(acme, member):
    user = member(acme, "Viewer")
    assert tenant_perms(user, acme) == {VIEW_INTERACTIONS, ACCESS_CONTENT}
    membership = Membership.objects.get(user=user, tenant=acme)
    services.change_member_role(membership.pk, role(acme, "Compliance Officer").pk, SYSTEM)
    perms = tenant_perms(user, acme)
    assert ARTIFACTS_MANAGEMENT_DELETE_REQUESTS in perms and MANAGE_MEMBERS not in perms
    assert user.has_perm(f"accounts.{ARTIFACTS_MANAGEMENT_DELETE_REQUESTS}", acme)  # guardian agrees
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.MEMBER_ROLE_CHANGED)
    assert event.details == {"member": user.username, "old_role": "Viewer", "new_role": "Compliance Officer"}


def test_removed_member_loses_every_grant(acme, member):
    user = member(acme, "Supervisor")
    member(acme, "Administrator")
    services.remove_member(Membership.objects.get(user=user, tenant=acme).pk, SYSTEM)
    assert tenant_perms(user, acme) == frozenset()
    assert not user.has_perm(f"accounts.{VIEW_INTERACTIONS}", acme)


def test_editing_a_role_changes_every_members_grants(acme, member):
    a, b = member(acme, "Viewer"), member(acme, "Viewer")
    services.set_role_permissions(
        role(acme, "Viewer").pk, [VIEW_INTERACTIONS, ARTIFACTS_MANAGEMENT_REQUESTS_READ], SYSTEM
    )
    for user in (a, b):
        assert tenant_perms(user, acme) == {VIEW_INTERACTIONS, ARTIFACTS_MANAGEMENT_REQUESTS_READ}
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.ROLE_PERMISSIONS_CHANGED)
    assert event.details["added"] == [ARTIFACTS_MANAGEMENT_REQUESTS_READ]
    assert event.details["removed"] == [ACCESS_CONTENT]


def test_roles_of_one_tenant_grant_nothing_in_another(acme, globex, member):
    user = member(acme, "Administrator")
    assert tenant_perms(user, globex) == frozenset()
    with pytest.raises(ValidationError):
        # A role of globex cannot be given to an acme membership.
        services.change_member_role(Membership.objects.get(user=user).pk, role(globex, "Viewer").pk, SYSTEM)
    assert Membership.objects.get(user=user).role.tenant == acme


def test_last_member_manager_cannot_be_removed_demoted_or_stripped(acme, member):
    admin = member(acme, "Administrator")
    membership = Membership.objects.get(user=admin)
    with pytest.raises(ValidationError, match="without any member who can manage"):
        services.remove_member(membership.pk, SYSTEM)
    with pytest.raises(ValidationError):
        services.change_member_role(membership.pk, role(acme, "Viewer").pk, SYSTEM)
    with pytest.raises(ValidationError):
        services.set_role_permissions(role(acme, "Administrator").pk, [VIEW_INTERACTIONS], SYSTEM)
    # Nothing was half-done: the admin keeps the role and every grant.
    assert Membership.objects.get(user=admin).role.name == "Administrator"
    assert MANAGE_MEMBERS in tenant_perms(admin, acme)
    assert admin.groups.filter(pk=role(acme, "Administrator").group_id).exists()


def test_add_member_validates_new_users_password_and_duplicates(acme, member):
    viewer_role = role(acme, "Viewer")
    with pytest.raises(ValidationError) as exc:
        services.add_member(acme.pk, username="newbie", role_id=viewer_role.pk, actor=SYSTEM)
    assert "password" in exc.value.error_dict
    with pytest.raises(ValidationError) as exc:
        services.add_member(acme.pk, username="newbie", role_id=viewer_role.pk, actor=SYSTEM, password="123")
    assert "password" in exc.value.error_dict
    services.add_member(
        acme.pk, username="newbie", role_id=viewer_role.pk, actor=SYSTEM, password="a-long-enough-passphrase"
    )
    with pytest.raises(ValidationError, match="already a member"):
        services.add_member(acme.pk, username="newbie", role_id=viewer_role.pk, actor=SYSTEM)


def test_unknown_permission_is_refused(acme):
    with pytest.raises(ValidationError, match="Unknown permission"):
        services.create_role(acme.pk, "Auditor", ["delete_everything"], SYSTEM)
    assert not Role.objects.filter(name="Auditor").exists()


def test_audit_events_are_append_only(acme, member):
    member(acme, "Viewer")
    event = AuditEvent.objects.first()
    with pytest.raises(PermissionError):
        event.reason = "rewritten"
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().update(reason="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()


def test_database_refuses_to_change_audit_events(acme, member):
    """Even raw SQL cannot rewrite the trail on PostgreSQL."""
    from django.db import DatabaseError, connection, transaction

    member(acme, "Viewer")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE accounts_auditevent SET reason = 'x'")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM accounts_auditevent")


def test_tenants_are_independent_in_defaults(db):
    t1, t2 = TenantFactory(), TenantFactory()
    services.set_role_permissions(role(t1, "Viewer").pk, [VIEW_INTERACTIONS], SYSTEM)
    assert role(t2, "Viewer").permission_codenames == set(DEFAULT_ROLES["Viewer"])
    assert ARTIFACTS_MANAGEMENT_REQUESTS_CREATE in role(t2, "Supervisor").permission_codenames
