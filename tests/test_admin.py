"""Support-staff admin: every page loads, large tables are never fully counted, and nothing in
the admin bypasses the services, locks or the audit trail."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.actors import user_grants as tenant_perms
from accounts.admin_paginator import CappedCountPaginator
from accounts.models import AuditEvent, Membership, Role, Tenant
from accounts.permissions import ADMINISTRATOR, DEFAULT_ROLES, MANAGE_MEMBERS, VIEW_INTERACTIONS
from artifacts.models import Artifact
from config import jobs
from exports.buckets import create_bucket
from exports.services import create_export, create_schedule
from interactions.models import Interaction
from policies.models import LifecyclePolicy, SweepRun
from tests.factories import (
    SYSTEM,
    ArtifactFactory,
    InteractionFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
    row_values,
)

pytestmark = pytest.mark.django_db
BUCKET_KEY_ID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

LARGE_TABLES = ("interactions_interaction", "artifacts_artifact", "accounts_auditevent")
ALL_MODELS = (
    "accounts_tenant",
    "accounts_user",
    "accounts_membership",
    "accounts_role",
    "policies_lifecyclepolicy",
    "policies_sweeprun",
    "exports_export",
    "exports_exportschedule",
    "exports_exportbucket",
    *LARGE_TABLES,
)


@pytest.fixture
def data(acme):
    """A tenant with an Administrator and a Viewer, three interactions with an artifact each, and
    the audit events their creation wrote."""
    admin_user = UserFactory(username="boss")
    MembershipFactory(user=admin_user, tenant=acme, role_name=ADMINISTRATOR)
    MembershipFactory(tenant=acme, role_name="Viewer")
    interactions = InteractionFactory.create_batch(3, tenant=acme)
    artifacts = [ArtifactFactory(interaction=interaction) for interaction in interactions]
    return {
        "tenant": acme,
        "admin_user": admin_user,
        "interaction": interactions[0],
        "artifact": artifacts[0],
        "membership": Membership.objects.get(user=admin_user, tenant=acme),
        "role": Role.objects.get(tenant=acme, name=ADMINISTRATOR),
        "audit_event": AuditEvent.objects.filter(tenant=acme).first(),
        "policy": LifecyclePolicy.objects.filter(tenant=acme).first(),
        "sweep_run": SweepRun.objects.create(tenant=acme, trigger="command", created_by="tests"),
        **_exports(acme, interactions[0]),
    }


def _exports(tenant, interaction):
    """A pushed-to bucket, a daily archive pushing to it, and a complete export."""
    bucket = create_bucket(
        tenant.pk, SYSTEM, name="Ours", bucket="acme-archive", access_key_id=BUCKET_KEY_ID, secret_access_key=SECRET
    )
    schedule = create_schedule(tenant.pk, SYSTEM, name="Dialer", push_to=bucket)
    export = create_export(tenant.pk, SYSTEM, interaction_ids=[str(interaction.guid)])
    jobs.work("export", export.pk)
    return {"export": export, "export_schedule": schedule, "export_bucket": bucket}


def changelist(model):
    return reverse(f"admin:{model}_changelist")


def change_url(model, pk):
    return reverse(f"admin:{model}_change", args=[pk])


def test_every_changelist_and_change_page_loads(admin_client, data):
    objects = {
        "accounts_tenant": data["tenant"],
        "accounts_user": data["admin_user"],
        "accounts_membership": data["membership"],
        "accounts_role": data["role"],
        "interactions_interaction": data["interaction"],
        "artifacts_artifact": data["artifact"],
        "accounts_auditevent": data["audit_event"],
        "policies_lifecyclepolicy": data["policy"],
        "policies_sweeprun": data["sweep_run"],
        "exports_export": data["export"],
        "exports_exportschedule": data["export_schedule"],
        "exports_exportbucket": data["export_bucket"],
    }
    for model in ALL_MODELS:
        response = admin_client.get(changelist(model))
        assert response.status_code == 200, model
        assert response.context["cl"].result_count >= 1, model
        assert admin_client.get(change_url(model, objects[model].pk)).status_code == 200, model
    for model in ("accounts_tenant", "accounts_user", "accounts_membership", "accounts_role"):
        assert admin_client.get(reverse(f"admin:{model}_add")).status_code == 200, model
    assert admin_client.get(reverse("admin:index")).status_code == 200


def test_group_admin_is_not_registered(admin_client):
    assert admin_client.get("/admin/auth/group/").status_code == 404


@pytest.mark.parametrize("model", LARGE_TABLES)
@pytest.mark.parametrize(
    "query",
    [{}, {"tenant__id__exact": "<acme>"}, {"q": "Sandra"}, {"q": "00000000-0000-0000-0000-000000000000"}],
)
def test_large_changelists_never_run_an_unbounded_count(admin_client, data, model, query):
    query = {key: str(data["tenant"].pk) if value == "<acme>" else value for key, value in query.items()}
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(changelist(model), query)
    assert response.status_code == 200
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the paginator counts (bounded)"
    for sql in counts:
        assert "LIMIT" in sql.upper(), sql


def test_no_changelist_counts_without_limit(admin_client, data):
    for model in ALL_MODELS:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(changelist(model)).status_code == 200
        for query in queries.captured_queries:
            if "COUNT(" in query["sql"].upper():
                assert "LIMIT" in query["sql"].upper(), (model, query["sql"])


def test_changelists_do_not_query_per_row(admin_client, data, django_assert_max_num_queries):
    for _ in range(5):
        ArtifactFactory(interaction=InteractionFactory(tenant=data["tenant"]))
        MembershipFactory(tenant=TenantFactory(), role_name=ADMINISTRATOR)
    for model in ALL_MODELS:
        admin_client.get(changelist(model))
        with django_assert_max_num_queries(8):
            assert admin_client.get(changelist(model)).status_code == 200


def test_count_is_capped_and_says_so(admin_client, acme, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 3)
    InteractionFactory.create_batch(5, tenant=acme)
    response = admin_client.get(changelist("interactions_interaction"))
    assert response.context["cl"].result_count == 3
    assert any("3 or more rows match" in str(m) for m in get_messages(response.wsgi_request))


def test_interaction_search_by_guid_and_text(admin_client, data):
    interaction = data["interaction"]
    url = changelist("interactions_interaction")
    assert list(admin_client.get(url, {"q": str(interaction.guid)}).context["cl"].result_list) == [interaction]
    by_call = admin_client.get(url, {"q": interaction.source_call_id}).context["cl"].result_list
    assert list(by_call) == [interaction]
    assert admin_client.get(url, {"q": "Sandra"}).context["cl"].result_count == 3
    artifacts = admin_client.get(changelist("artifacts_artifact"), {"q": str(interaction.guid)})
    assert list(artifacts.context["cl"].result_list) == [data["artifact"]]
    by_sha = admin_client.get(changelist("artifacts_artifact"), {"q": data["artifact"].sha256.upper()})
    assert list(by_sha.context["cl"].result_list) == [data["artifact"]]


@pytest.mark.parametrize(
    "model, key",
    [
        ("artifacts_artifact", "artifact"),
        ("accounts_auditevent", "audit_event"),
        ("policies_lifecyclepolicy", "policy"),
        ("policies_sweeprun", "sweep_run"),
        ("exports_export", "export"),
        ("exports_exportschedule", "export_schedule"),
        ("exports_exportbucket", "export_bucket"),
    ],
)
def test_artifacts_audit_events_policies_and_sweeps_are_read_only(admin_client, data, model, key):
    obj = data[key]
    before = row_values(obj)
    page = admin_client.get(changelist(model))
    assert "delete_selected" not in page.context["cl"].model_admin.get_actions(page.wsgi_request)
    assert b'name="action"' not in page.content
    assert admin_client.get(reverse(f"admin:{model}_add")).status_code == 403
    assert admin_client.post(reverse(f"admin:{model}_add"), {}).status_code == 403
    assert admin_client.post(reverse(f"admin:{model}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    change = admin_client.get(change_url(model, obj.pk))
    assert change.status_code == 200 and b'name="_save"' not in change.content
    assert admin_client.post(change_url(model, obj.pk), {}).status_code == 403
    assert row_values(obj) == before, "every column is as it was"
    if model == "artifacts_artifact":
        assert before["state"] == "stored" and before["deleted_at"] is None


def test_bulk_delete_is_refused_for_artifacts(admin_client, data):
    artifact = data["artifact"]
    response = admin_client.post(
        changelist("artifacts_artifact"), {"action": "delete_selected", "_selected_action": [artifact.pk]}
    )
    assert response.status_code in (200, 302)
    assert Artifact.objects.filter(pk=artifact.pk).exists()


@pytest.mark.parametrize("model", ["accounts_tenant", "interactions_interaction"])
def test_tenants_and_interactions_cannot_be_deleted(admin_client, data, model):
    obj = data["tenant"] if model == "accounts_tenant" else data["interaction"]
    page = admin_client.get(changelist(model))
    assert "delete_selected" not in page.context["cl"].model_admin.get_actions(page.wsgi_request)
    assert admin_client.get(reverse(f"admin:{model}_delete", args=[obj.pk])).status_code == 403
    assert admin_client.post(reverse(f"admin:{model}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_adding_a_tenant_creates_the_default_roles(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_tenant_add"),
        {
            "name": "Initech",
            "slug": "initech",
            "time_zone": "America/Chicago",
            "locked_interactions_limit": 50,
            "storage_region": "default",
            "lock_expiry_notice_days": 14,
            "export_retention_days": 7,
        },
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    tenant = Tenant.objects.get(slug="initech")
    assert (tenant.time_zone, tenant.locked_interactions_limit, tenant.storage_region) == (
        "America/Chicago",
        50,
        "default",
    )
    roles = {role.name: role.permission_codenames for role in Role.objects.filter(tenant=tenant)}
    assert roles == {name: set(codenames) for name, codenames in DEFAULT_ROLES.items()}
    assert AuditEvent.objects.filter(tenant=tenant, kind=AuditEvent.Kind.ROLE_CREATED).count() == 4


def test_tenant_with_a_bad_time_zone_is_a_form_error(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_tenant_add"),
        {"name": "X", "slug": "x", "time_zone": "Mars/Olympus", "locked_interactions_limit": 5},
    )
    assert response.status_code == 200
    assert "time_zone" in response.context["adminform"].form.errors
    assert not Tenant.objects.filter(slug="x").exists()


def test_changing_a_membership_role_moves_the_grants(admin_client, data, admin_user):
    acme = data["tenant"]
    membership = Membership.objects.get(tenant=acme, role__name="Viewer")
    user = membership.user
    assert MANAGE_MEMBERS not in tenant_perms(user, acme)
    administrator = Role.objects.get(tenant=acme, name=ADMINISTRATOR)
    response = admin_client.post(change_url("accounts_membership", membership.pk), {"role": administrator.pk})
    assert response.status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == administrator
    assert tenant_perms(user, acme) == frozenset(DEFAULT_ROLES[ADMINISTRATOR])
    event = AuditEvent.objects.filter(tenant=acme, kind=AuditEvent.Kind.MEMBER_ROLE_CHANGED).get()
    assert event.actor_user == admin_user


def test_demoting_the_last_administrator_is_a_form_error(admin_client, data):
    membership, acme = data["membership"], data["tenant"]
    viewer = Role.objects.get(tenant=acme, name="Viewer")
    response = admin_client.post(change_url("accounts_membership", membership.pk), {"role": viewer.pk})
    assert response.status_code == 200
    assert "manage users and roles" in str(response.context["adminform"].form.errors)
    assert Membership.objects.get(pk=membership.pk).role.name == ADMINISTRATOR
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.MEMBER_ROLE_CHANGED).exists()


def test_deleting_the_last_administrator_is_refused_with_a_message(admin_client, data):
    membership = data["membership"]
    url = reverse("admin:accounts_membership_delete", args=[membership.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert any("manage users and roles" in str(m) for m in response.context["messages"])
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert MANAGE_MEMBERS in tenant_perms(membership.user, data["tenant"])
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.MEMBER_REMOVED).exists()


def test_bulk_removal_goes_through_the_service(admin_client, data):
    acme = data["tenant"]
    viewer = Membership.objects.get(tenant=acme, role__name="Viewer")
    selected = [viewer.pk, data["membership"].pk]
    url = changelist("accounts_membership")
    confirm = admin_client.post(url, {"action": "delete_selected", "_selected_action": selected})
    assert confirm.status_code == 200 and b"Are you sure" in confirm.content
    response = admin_client.post(
        url, {"action": "delete_selected", "_selected_action": selected, "post": "yes"}, follow=True
    )
    notes = [str(m) for m in response.context["messages"]]
    assert any("Deleted 1 membership" in note for note in notes)
    assert any("manage users and roles" in note for note in notes)
    assert list(Membership.objects.filter(tenant=acme)) == [data["membership"]]
    assert not tenant_perms(viewer.user, acme)
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.MEMBER_REMOVED).count() == 1


def test_adding_a_membership_uses_the_service(admin_client, data):
    acme = data["tenant"]
    user = UserFactory(username="newcomer")
    viewer = Role.objects.get(tenant=acme, name="Viewer")
    url = reverse("admin:accounts_membership_add")
    response = admin_client.post(url, {"user": user.pk, "tenant": acme.pk, "role": viewer.pk})
    assert response.status_code == 302
    assert tenant_perms(user, acme) == frozenset(DEFAULT_ROLES["Viewer"])
    assert AuditEvent.objects.filter(tenant=acme, kind=AuditEvent.Kind.MEMBER_ADDED, details__member="newcomer")
    other = TenantFactory(slug="other")
    foreign_role = Role.objects.get(tenant=other, name="Viewer")
    again = admin_client.post(url, {"user": user.pk, "tenant": acme.pk, "role": foreign_role.pk})
    assert again.status_code == 200 and "role" in again.context["adminform"].form.errors


def test_role_permissions_are_shown_and_set_through_the_service(admin_client, data, admin_user):
    acme = data["tenant"]
    viewer = Role.objects.get(tenant=acme, name="Viewer")
    page = admin_client.get(changelist("accounts_role"))
    assert b"view_interactions, access_content" in page.content
    assert b"view_interactions" in admin_client.get(change_url("accounts_role", viewer.pk)).content
    response = admin_client.post(change_url("accounts_role", viewer.pk), {"permissions": [VIEW_INTERACTIONS]})
    assert response.status_code == 302
    assert viewer.permission_codenames == {VIEW_INTERACTIONS}
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.ROLE_PERMISSIONS_CHANGED)
    assert event.actor_user == admin_user and event.details["removed"] == ["access_content"]


def test_removing_manage_members_from_the_only_manager_role_is_refused(admin_client, data):
    role = data["role"]
    response = admin_client.post(change_url("accounts_role", role.pk), {"permissions": [VIEW_INTERACTIONS]})
    assert response.status_code == 200
    assert "manage users and roles" in str(response.context["adminform"].form.errors)
    assert MANAGE_MEMBERS in role.permission_codenames


def test_creating_a_role_uses_the_service(admin_client, data):
    acme = data["tenant"]
    url = reverse("admin:accounts_role_add")
    response = admin_client.post(url, {"tenant": acme.pk, "name": "Auditor", "permissions": [VIEW_INTERACTIONS]})
    assert response.status_code == 302
    role = Role.objects.get(tenant=acme, name="Auditor")
    assert role.permission_codenames == {VIEW_INTERACTIONS}
    assert AuditEvent.objects.filter(tenant=acme, kind=AuditEvent.Kind.ROLE_CREATED, details__role="Auditor")
    duplicate = admin_client.post(url, {"tenant": acme.pk, "name": "auditor", "permissions": []})
    assert duplicate.status_code == 200 and "name" in duplicate.context["adminform"].form.errors


def test_user_admin_does_not_edit_role_groups_or_delete_users(admin_client, data):
    user = data["admin_user"]
    page = admin_client.get(change_url("accounts_user", user.pk))
    assert "groups" not in page.context["adminform"].form.fields
    assert b"Administrator" in page.content  # the memberships inline
    assert admin_client.post(reverse("admin:accounts_user_delete", args=[user.pk]), {"post": "yes"}).status_code == 403


def test_interaction_tenant_is_fixed_once_created(admin_client, data):
    interaction = data["interaction"]
    page = admin_client.get(change_url("interactions_interaction", interaction.pk))
    assert "tenant" not in page.context["adminform"].form.fields
    assert Interaction.objects.get(pk=interaction.pk).tenant == data["tenant"]


def test_a_buckets_keys_are_never_shown(admin_client, data):
    bucket = data["export_bucket"]
    pages = [
        admin_client.get(changelist("exports_exportbucket")),
        admin_client.get(change_url("exports_exportbucket", bucket.pk)),
    ]
    for page in pages:
        html = page.content.decode()
        assert SECRET not in html and BUCKET_KEY_ID not in html and bucket.secret_access_key_encrypted not in html
        assert "…MPLE" in html
