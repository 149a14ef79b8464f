"""Two-person approval of lifecycle policy changes (tenant setting ``require_policy_approval``): a change
whose impact preview would delete artifacts now waits; its proposer cannot approve it; a second manager
approves (it is applied, in the approver's name, the proposer recorded) or rejects it with a reason.
Changes that delete nothing, and every change with the setting off, apply at once."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts import services as account_services
from accounts.models import AuditEvent
from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER
from policies import services
from policies.models import LifecyclePolicy, PolicyChange
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, as_actor
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db
BASE = "/t/acme/configuration/artifacts-lifecycle-policies/"
NEW = {"name": "Voice 10", "enabled": "on", "channel": "voice", "delete_after_days": "10", "confirm": "yes"}


@pytest.fixture
def managers(acme, member):
    account_services.update_tenant(acme.pk, SYSTEM, require_policy_approval=True)
    return member(acme, COMPLIANCE_OFFICER), member(acme, ADMINISTRATOR)


def aged(tenant, days):
    call = InteractionFactory(tenant=tenant)
    return ArtifactFactory(interaction=call, created_at=timezone.now() - timedelta(days=days))


def test_a_change_that_deletes_waits_and_a_second_manager_applies_it(acme, managers):
    proposer, approver = managers
    aged(acme, 11)
    response = client_for(proposer).post(f"{BASE}new/", NEW, follow=True)
    assert "awaits the approval of a second user" in response.content.decode()
    assert not LifecyclePolicy.objects.filter(name="Voice 10").exists()
    change = PolicyChange.objects.get()
    assert (change.status, change.would_delete, change.created_by) == ("pending", 1, proposer.username)
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.POLICY_CHANGE_PROPOSED).count() == 1

    refused = client_for(proposer).post(f"{BASE}changes/{change.pk}/approve/")
    assert refused.status_code == 403 and b"they proposed it" in refused.content
    assert PolicyChange.objects.get(pk=change.pk).status == "pending"

    client_for(approver).post(f"{BASE}changes/{change.pk}/approve/")
    policy = LifecyclePolicy.objects.get(name="Voice 10")
    assert policy.delete_after_days == 10 and policy.updated_by == approver.username
    change.refresh_from_db()
    assert (change.status, change.decided_by, change.policy_id) == ("approved", approver.username, policy.pk)
    created = AuditEvent.objects.get(kind=AuditEvent.Kind.POLICY_CREATED, details__policy=policy.pk)
    assert created.actor_label == approver.username and created.details["proposed_by"] == proposer.username
    assert AuditEvent.objects.get(kind=AuditEvent.Kind.POLICY_CHANGE_APPROVED).actor_label == approver.username


def test_rejection_needs_a_reason_and_changes_nothing(acme, managers):
    proposer, approver = managers
    aged(acme, 100)
    default = LifecyclePolicy.objects.get(tenant=acme, is_default=True)
    _, change = services.submit_policy_change(
        acme.pk, as_actor(proposer), "update", policy_id=default.pk, delete_after_days=30
    )
    assert change is not None and change.would_delete == 1
    client = client_for(approver)
    blank = client.post(f"{BASE}changes/{change.pk}/reject/", {"reason": ""}, follow=True)
    assert "Reason: say why" in blank.content.decode()
    client.post(f"{BASE}changes/{change.pk}/reject/", {"reason": "Litigation pending"})
    change.refresh_from_db()
    assert (change.status, change.rejection_reason) == ("rejected", "Litigation pending")
    assert LifecyclePolicy.objects.get(pk=default.pk).delete_after_days == 365
    assert AuditEvent.objects.get(kind=AuditEvent.Kind.POLICY_CHANGE_REJECTED).reason == "Litigation pending"


def test_direct_service_calls_are_refused_while_approval_is_required(acme, managers):
    proposer, _ = managers
    aged(acme, 100)
    default = LifecyclePolicy.objects.get(tenant=acme, is_default=True)
    with pytest.raises(ValidationError, match="requires a second person's approval"):
        services.update_policy(default.pk, as_actor(proposer), delete_after_days=30)
    keep = services.create_policy(acme.pk, SYSTEM, name="Keep voice", channel="voice", keep_forever=True)
    aged(acme, 400)  # kept only by "Keep voice"
    with pytest.raises(ValidationError, match="requires a second person's approval"):
        services.delete_policy(keep.pk, as_actor(proposer))
    assert LifecyclePolicy.objects.get(pk=default.pk).delete_after_days == 365
    assert LifecyclePolicy.objects.filter(pk=keep.pk).exists()


def test_changes_that_delete_nothing_and_the_setting_off_apply_at_once(acme, managers):
    proposer, _ = managers
    aged(acme, 5)
    response = client_for(proposer).post(f"{BASE}new/", NEW)  # nothing is 10 days old: deletes nothing
    assert response.status_code == 302 and LifecyclePolicy.objects.filter(name="Voice 10").exists()
    aged(acme, 100)
    account_services.update_tenant(acme.pk, SYSTEM, require_policy_approval=False)
    default = LifecyclePolicy.objects.get(tenant=acme, is_default=True)
    policy, pending = services.submit_policy_change(
        acme.pk, as_actor(proposer), "update", policy_id=default.pk, delete_after_days=30
    )
    assert pending is None and policy.delete_after_days == 30
    assert not PolicyChange.objects.exists()


def test_an_approved_deletion_deletes_the_policy_and_keeps_the_change(acme, managers):
    proposer, approver = managers
    keep = services.create_policy(acme.pk, SYSTEM, name="Keep voice", channel="voice", keep_forever=True)
    aged(acme, 400)
    _, change = services.submit_policy_change(acme.pk, as_actor(proposer), "delete", policy_id=keep.pk)
    assert change.would_delete == 1
    services.approve_policy_change(change.pk, as_actor(approver))
    assert not LifecyclePolicy.objects.filter(pk=keep.pk).exists()
    change.refresh_from_db()
    assert (change.status, change.policy_id, change.policy_name) == ("approved", None, "Keep voice")


def test_role_matrix_of_the_decisions(acme, managers):
    proposer, _ = managers
    aged(acme, 100)
    default = LifecyclePolicy.objects.get(tenant=acme, is_default=True)
    days = iter(range(20, 60))

    def pending():
        _, change = services.submit_policy_change(
            acme.pk, as_actor(proposer), "update", policy_id=default.pk, delete_after_days=next(days)
        )
        return f"{BASE}changes/{change.pk}/reject/"

    # Rejections (approvals would apply the first change, and the next ones would delete nothing more).
    matrix = {"method": "post", "data": {"reason": "Not now"}, "ok_status": 302}
    assert_role_matrix(pending, acme, {COMPLIANCE_OFFICER, ADMINISTRATOR}, **matrix)
    assert PolicyChange.objects.filter(status="rejected").count() == 2
    page = client_for(proposer).get(BASE).content.decode()
    assert "Changes awaiting approval" in page and "Your proposal" in page
