"""Actors and authorization inside the services: every caller (page, command, admin, job) gets the
grants its actor holds on the row's tenant, as they are when the work runs, and nothing more."""

import importlib
import inspect
import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.urls import reverse

from accounts import services as account_services
from accounts.actors import ActorKind, Source, operator, restore, system_actor, user_actor
from accounts.models import AuditEvent, Membership, Role
from accounts.permissions import ARTIFACTS_MANAGEMENT_DELETE_REQUESTS, MANAGE_LIFECYCLE_POLICIES
from artifacts import services as artifact_services
from artifacts.models import Artifact, ManagementRequest
from core.vocabulary import ArtifactState
from policies import services as policy_services
from tests.factories import (
    SYSTEM,
    ArtifactFactory,
    InteractionFactory,
    MembershipFactory,
    RoleFactory,
    UserFactory,
    management_request,
    process_request,
)
from tests.matrix import client_for

SERVICE_MODULES = (
    "accounts.services",
    "artifacts.services",
    "artifacts.content_services",
    "interactions.services",
    "policies.services",
    "workspace.services",
    "ingestion.services",
)


def test_no_service_accepts_permissions_from_its_caller():
    """The structural guarantee: grants are derived inside, never handed in."""
    for name in SERVICE_MODULES:
        module = importlib.import_module(name)
        for function_name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != name or function_name.startswith("_"):
                continue
            parameters = set(inspect.signature(function).parameters)
            assert not parameters & {"perms", "permissions", "grants"}, f"{name}.{function_name} takes grants"


@pytest.fixture
def due_call(acme):
    call = InteractionFactory(tenant=acme)
    return call, ArtifactFactory(interaction=call)


def test_a_supervisor_cannot_delete_through_any_service(acme, member, due_call):
    call, artifact = due_call
    supervisor = user_actor(member(acme, "Supervisor"))
    with pytest.raises(PermissionDenied, match="ARTIFACTS_MANAGEMENT_DELETE_REQUESTS"):
        artifact_services.delete_artifacts(acme.pk, [artifact.pk], supervisor, "try")
    with pytest.raises(PermissionDenied, match="ARTIFACTS_MANAGEMENT_DELETE_REQUESTS"):
        management_request(acme, supervisor.user, "delete", [call])
    with pytest.raises(PermissionDenied, match="MANAGE_LIFECYCLE_POLICIES"):
        policy_services.create_policy(acme.pk, supervisor, name="Gone in a day", delete_after_days=1)
    assert Artifact.objects.get(pk=artifact.pk).state == ArtifactState.STORED


def test_grants_stop_at_the_tenant(acme, globex, member, due_call):
    _call, artifact = due_call
    globex_admin = user_actor(member(globex, "Administrator"))
    with pytest.raises(PermissionDenied):
        artifact_services.delete_artifacts(acme.pk, [artifact.pk], globex_admin, "other tenant")
    # Ids of another tenant's artifacts given with one's own tenant are simply not there.
    result = artifact_services.delete_artifacts(globex.pk, [artifact.pk], globex_admin, "wrong tenant")
    assert result.done == [] and Artifact.objects.get(pk=artifact.pk).state == ArtifactState.STORED
    policy_actor = system_actor("policy:x", "A policy of globex", {ARTIFACTS_MANAGEMENT_DELETE_REQUESTS},
                                tenant_id=globex.pk, register=False)  # fmt: skip
    with pytest.raises(PermissionDenied):
        artifact_services.delete_artifacts(acme.pk, [artifact.pk], policy_actor, "bound to globex")


def test_members_cannot_grant_what_they_do_not_hold(acme, member):
    """An administrator-like role without delete rights cannot hand them out (no escalation)."""
    role = RoleFactory(tenant=acme, name="Team lead", permissions=["view_interactions", "manage_members"])
    lead = UserFactory()
    MembershipFactory(user=lead, tenant=acme, role=role)
    target = member(acme, "Viewer")
    compliance = Role.objects.get(tenant=acme, name="Compliance Officer")
    membership = Membership.objects.get(user=target, tenant=acme)
    with pytest.raises(PermissionDenied, match="ARTIFACTS_MANAGEMENT_DELETE_REQUESTS"):
        account_services.change_member_role(membership.pk, compliance.pk, user_actor(lead))
    with pytest.raises(PermissionDenied):
        account_services.create_role(acme.pk, "Deleters", [ARTIFACTS_MANAGEMENT_DELETE_REQUESTS], user_actor(lead))
    assert Membership.objects.get(pk=membership.pk).role.name == "Viewer"


@pytest.mark.parametrize("change", ["removed", "downgraded", "deactivated"])
def test_a_queued_delete_runs_with_its_creators_grants_of_now(acme, member, due_call, change):
    """The trial's lost recording: a Delete queued by someone who then lost the right to delete
    must not delete. It fails saying so, and someone who may delete can retry it."""
    call, artifact = due_call
    officer = member(acme, "Compliance Officer")
    req = management_request(acme, officer, "delete", [call])
    assert req.status == ManagementRequest.Status.QUEUED
    membership = Membership.objects.get(user=officer, tenant=acme)
    if change == "removed":
        account_services.remove_member(membership.pk, SYSTEM)
    elif change == "downgraded":
        supervisor_role = Role.objects.get(tenant=acme, name="Supervisor")
        account_services.change_member_role(membership.pk, supervisor_role.pk, SYSTEM)
    else:
        officer.is_active = False
        officer.save(update_fields=["is_active"])

    process_request(req.pk)
    req.refresh_from_db()
    assert req.status == ManagementRequest.Status.ERROR and req.retryable
    assert "Nothing was done" in req.error_message and officer.username in req.error_message
    assert "ARTIFACTS_MANAGEMENT_DELETE_REQUESTS" in req.error_message
    assert Artifact.objects.get(pk=artifact.pk).state == ArtifactState.STORED
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED).exists()
    failed = AuditEvent.objects.get(kind=AuditEvent.Kind.REQUEST_FAILED, request_id=req.pk)
    assert (failed.actor_kind, failed.actor_label, failed.source) == ("user", officer.username, "job")

    other = member(acme, "Compliance Officer")
    artifact_services.retry_management_request(req.pk, user_actor(other))
    process_request(req.pk)
    req.refresh_from_db()
    assert req.status == ManagementRequest.Status.COMPLETE and req.actor_label == other.username
    deleted = AuditEvent.objects.get(kind=AuditEvent.Kind.ARTIFACT_DELETED, artifact_id=artifact.pk)
    assert deleted.actor_user == other and deleted.source == "job"


def test_audit_events_name_the_actor_and_where_it_acted_from(acme, member, due_call):
    call, _artifact = due_call
    officer = member(acme, "Compliance Officer", username="officer")
    client = client_for(officer)
    response = client.post(
        reverse("interaction-protection", args=["acme", call.guid]),
        {"protected": "on", "confirmed": "on", "confirms": "add_lock"},
        REMOTE_ADDR="203.0.113.7",
    )
    assert response.status_code == 302
    created = AuditEvent.objects.get(kind=AuditEvent.Kind.REQUEST_CREATED)
    assert (created.actor_kind, created.actor_key, created.actor_label) == ("user", str(officer.pk), "officer")
    assert (created.source, created.remote_addr) == ("web", "203.0.113.7")
    req = ManagementRequest.objects.get()
    process_request(req.pk)
    locked = AuditEvent.objects.get(kind=AuditEvent.Kind.LOCK_ADDED)
    assert (locked.actor_label, locked.source, locked.remote_addr) == ("officer", "job", None)

    out = io.StringIO()
    call_command(
        "artifacts_requests", "create", "--tenant", "acme", "--type", "remove_lock", "--artifact-type", "any",
        "--ids", str(call.guid), "--user", "officer", stdout=out,
    )  # fmt: skip
    by_command = AuditEvent.objects.filter(kind=AuditEvent.Kind.REQUEST_CREATED).latest("id")
    assert (by_command.actor_label, by_command.source, by_command.remote_addr) == ("officer", "command", None)


def test_system_and_operator_actors_are_restored_with_their_grants(acme):
    command = operator("manage.py something")
    restored = restore(**command.ref())
    assert restored.kind == ActorKind.COMMAND and restored.source == Source.JOB
    assert restored.may(acme, ARTIFACTS_MANAGEMENT_DELETE_REQUESTS, MANAGE_LIFECYCLE_POLICIES)
    from policies.sweep import SCHEDULE_ACTOR

    schedule = restore(**SCHEDULE_ACTOR.ref())
    assert schedule.may(acme, MANAGE_LIFECYCLE_POLICIES) and schedule.label == "Daily schedule"
    unknown = restore("system", "nobody-registered-this", "Ghost")
    assert unknown.perms_on(acme) == frozenset()
    gone = restore("user", "999999", "deleted-user")
    assert gone.perms_on(acme) == frozenset() and gone.label == "deleted-user"
