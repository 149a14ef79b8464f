"""Two-person approval (tenant setting ``require_approval``): Remove Lock and Delete requests from the
page, the command and the API wait Awaiting Approval; their creator cannot approve them; a second user
holding the same permissions approves (a real RQ worker then runs it) or rejects with a reason; both
are audited; the list shows the approver. With the setting off, nothing changes."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from rq import SimpleWorker

from accounts import services as account_services
from accounts.models import AuditEvent
from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, SUPERVISOR
from artifacts.models import Artifact, ManagementRequest
from core.vocabulary import ArtifactState
from tests.api.conftest import Integrator
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, management_request
from tests.matrix import assert_role_matrix, client_for

Status = ManagementRequest.Status


def url(name, *args):
    return reverse(f"management-request-{name}", args=["acme", *args])


@pytest.fixture
def approval(acme):
    account_services.update_tenant(acme.pk, SYSTEM, require_approval=True)


@pytest.fixture
def officers(acme, member):
    return member(acme, COMPLIANCE_OFFICER), member(acme, COMPLIANCE_OFFICER)


def delete_form(interaction):
    return {
        "request_type": "delete",
        "artifact_type": "any",
        "interaction_ids": str(interaction.guid),
        "confirm_delete": "on",
    }


@pytest.mark.django_db(transaction=True)
def test_delete_waits_creator_refused_second_user_approves_and_a_worker_runs_it(acme, approval, officers, rq_queue):
    creator, second = officers
    interaction = InteractionFactory(tenant=acme)
    artifact = ArtifactFactory(interaction=interaction)
    response = client_for(creator).post(url("create"), delete_form(interaction), follow=True)
    req = ManagementRequest.objects.get()
    assert req.status == Status.AWAITING_APPROVAL and "Awaiting Approval" in response.content.decode()
    assert rq_queue.count == 0, "nothing is queued before the approval"
    assert b"approve-form" not in client_for(creator).get(url("detail", req.pk)).content

    refused = client_for(creator).post(url("approve", req.pk))
    assert refused.status_code == 403 and b"their own request" in refused.content
    assert ManagementRequest.objects.get(pk=req.pk).status == Status.AWAITING_APPROVAL

    assert b"approve-form" in client_for(second).get(url("detail", req.pk)).content
    approved = client_for(second).post(url("approve", req.pk), follow=True)
    assert "approved and queued" in approved.content.decode()
    req.refresh_from_db()
    assert req.status == Status.QUEUED and req.decided_by == second.username and rq_queue.count == 1
    SimpleWorker([rq_queue], connection=rq_queue.connection).work(burst=True)
    req.refresh_from_db()
    assert req.status == Status.COMPLETE
    assert Artifact.objects.get(pk=artifact.pk).state == ArtifactState.DELETED
    deleted = AuditEvent.objects.get(kind=AuditEvent.Kind.ARTIFACT_DELETED)
    assert deleted.actor_label == creator.username, "the work acts for the creator"
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.REQUEST_APPROVED)
    assert event.actor_label == second.username and event.request_id == req.pk
    listing = client_for(creator).get(url("list")).content.decode()
    assert f'<td class="approver">{second.username}</td>' in listing


@pytest.mark.django_db
def test_rejection_needs_a_reason_and_does_nothing(acme, approval, officers):
    creator, second = officers
    interaction = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=interaction)
    req = management_request(acme, creator, "delete", [interaction])
    assert req.status == Status.AWAITING_APPROVAL
    client = client_for(second)
    blank = client.post(url("reject", req.pk), {"reason": "  "}, follow=True)
    assert "Reason: say why" in blank.content.decode()
    assert ManagementRequest.objects.get(pk=req.pk).status == Status.AWAITING_APPROVAL
    client.post(url("reject", req.pk), {"reason": "Counsel has not cleared this deletion"})
    req.refresh_from_db()
    assert (req.status, req.rejection_reason, req.decided_by) == (
        Status.REJECTED,
        "Counsel has not cleared this deletion",
        second.username,
    )
    assert Artifact.objects.get().state == ArtifactState.STORED
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.REQUEST_REJECTED)
    assert event.reason == "Counsel has not cleared this deletion" and event.actor_label == second.username
    assert client.post(url("approve", req.pk), follow=True).status_code == 200
    assert ManagementRequest.objects.get(pk=req.pk).status == Status.REJECTED, "a decided request stays decided"


@pytest.mark.django_db
def test_approval_needs_the_permissions_creating_it_needs(acme, approval, officers, member):
    creator, _ = officers
    interaction = InteractionFactory(tenant=acme)

    def waiting():
        return url("approve", management_request(acme, creator, "remove_lock", [interaction]).pk)

    # Supervisors may create requests but not Remove Lock ones: they may not approve them either.
    assert_role_matrix(waiting, acme, {COMPLIANCE_OFFICER, ADMINISTRATOR}, method="post", ok_status=302)
    supervisor = member(acme, SUPERVISOR)
    pending = management_request(acme, creator, "remove_lock", [interaction])
    assert client_for(supervisor).post(url("reject", pending.pk), {"reason": "no"}).status_code == 403


@pytest.mark.django_db
def test_setting_off_is_todays_behaviour_and_add_lock_never_waits(acme, officers, approval):
    creator, _ = officers
    interaction = InteractionFactory(tenant=acme)
    assert management_request(acme, creator, "add_lock", [interaction]).status != Status.AWAITING_APPROVAL
    account_services.update_tenant(acme.pk, SYSTEM, require_approval=False)
    req = management_request(acme, creator, "remove_lock", [interaction], process=True)
    assert req.status == Status.COMPLETE and not req.decided_by


@pytest.mark.django_db
def test_api_requests_wait_and_direct_deletes_are_refused(acme, approval, officers):
    creator, _ = officers
    interaction = InteractionFactory(tenant=acme)
    artifact = ArtifactFactory(interaction=interaction)
    api = Integrator(acme)
    response = api.put("/api/v1/holds?protect=false", {"interactionIds": [str(interaction.guid)]})
    assert response.status_code == 201 and response.json()["status"] == "awaiting_approval"
    direct = api.delete(f"/api/v1/interactions/{interaction.guid}/content/{artifact.content_key}")
    assert direct.status_code == 409 and "two-person approval" in direct.json()["detail"]
    assert Artifact.objects.get(pk=artifact.pk).state == ArtifactState.STORED
    request_id = response.json()["id"]
    client_for(creator).post(url("approve", request_id))  # any user may approve an API client's request
    body = api.get(f"/api/v1/requests/{request_id}").json()
    assert body["approvedBy"] == creator.username and body["status"] in ("queued", "in_progress", "complete")


@pytest.mark.django_db
def test_command_waits_and_approves_as_another_user(acme, approval, officers, capsys):
    creator, second = officers
    interaction = InteractionFactory(tenant=acme)
    call_command(
        "artifacts_requests", "create", "--tenant", "acme", "--type", "remove_lock", "--artifact-type", "any",
        "--ids", str(interaction.guid), "--user", creator.username,
    )  # fmt: skip
    assert "Awaiting Approval" in capsys.readouterr().out
    req = ManagementRequest.objects.get()
    with pytest.raises(CommandError, match="their own request"):
        call_command("artifacts_requests", "approve", str(req.pk), "--user", creator.username)
    call_command("artifacts_requests", "approve", str(req.pk), "--user", second.username)
    req.refresh_from_db()
    assert req.decided_by == second.username and req.status != Status.AWAITING_APPROVAL


@pytest.mark.django_db
def test_unticking_protected_waits_too_and_says_so(acme, approval, officers):
    creator, _ = officers
    interaction = InteractionFactory(tenant=acme)
    management_request(acme, creator, "add_lock", [interaction], process=True)
    page = reverse("interaction-protection", args=["acme", interaction.guid])
    response = client_for(creator).post(page, {"confirmed": "on", "confirms": "remove_lock"}, follow=True)
    assert "awaits a second user&#x27;s approval" in response.content.decode()
    assert ManagementRequest.objects.get(request_type="remove_lock").status == Status.AWAITING_APPROVAL
