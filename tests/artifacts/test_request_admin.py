"""Django admin for Artifacts Management Requests and locks: read-only pages with bounded queries;
the only state changes (cancel, retry) go through the request services."""

from functools import partial

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent
from artifacts.models import Lock, ManagementRequest
from tests.factories import ArtifactFactory, InteractionFactory, UserFactory, fail_job, management_request, row_values

pytestmark = pytest.mark.django_db
new_request = partial(management_request, process=True)
Status = ManagementRequest.Status
MODELS = ("artifacts_managementrequest", "artifacts_lock")


@pytest.fixture
def data(acme, member):
    officer = member(acme, "Compliance Officer", username="officer")
    calls = InteractionFactory.create_batch(3, tenant=acme)
    for call in calls:
        ArtifactFactory(interaction=call)
    lock_req = new_request(acme, officer, "add_lock", calls, description="add_lock for the admin")
    queued = new_request(acme, officer, "delete", calls[:1], process=False, description="delete for the admin")
    return {"officer": officer, "calls": calls, "lock_req": lock_req, "queued": queued, "lock": Lock.objects.first()}


def changelist(model):
    return reverse(f"admin:{model}_changelist")


def change_url(model, pk):
    return reverse(f"admin:{model}_change", args=[pk])


def test_changelists_and_change_pages_load(admin_client, data):
    page = admin_client.get(changelist("artifacts_managementrequest"))
    assert page.status_code == 200 and page.context["cl"].result_count == 2
    for label in ("Request date", "Request type", "Interaction count", "Artifact type", "Audio recording type"):
        assert label.lower() in page.content.decode().lower()
    detail = admin_client.get(change_url("artifacts_managementrequest", data["lock_req"].pk))
    assert detail.status_code == 200
    content = detail.content.decode()
    for call in data["calls"]:
        assert str(call.guid) in content
    assert "3 matched, 3 locked, 0 unlocked, 0 deleted, 0 skipped because locked" in content
    assert data["lock_req"].confirmation in content
    locks = admin_client.get(changelist("artifacts_lock"))
    assert locks.status_code == 200 and locks.context["cl"].result_count == Lock.objects.count()
    assert admin_client.get(change_url("artifacts_lock", data["lock"].pk)).status_code == 200
    by_request = admin_client.get(changelist("artifacts_lock"), {"request__id__exact": data["lock_req"].pk})
    assert by_request.status_code == 200 and by_request.context["cl"].result_count == Lock.objects.count()


def test_filters_and_search(admin_client, data):
    url = changelist("artifacts_managementrequest")
    queued = admin_client.get(url, {"status__exact": "queued"}).context["cl"].result_list
    assert list(queued) == [data["queued"]]
    assert list(admin_client.get(url, {"request_type__exact": "add_lock"}).context["cl"].result_list) == [
        data["lock_req"]
    ]
    assert admin_client.get(url, {"q": "officer"}).context["cl"].result_count == 2
    assert admin_client.get(url, {"q": "delete for"}).context["cl"].result_count == 1
    locks = changelist("artifacts_lock")
    call = data["calls"][0]
    by_guid = admin_client.get(locks, {"q": str(call.guid)}).context["cl"].result_list
    assert {lock.interaction_id for lock in by_guid} == {call.pk}
    new_request(data["calls"][0].tenant, data["officer"], "remove_lock", [call])
    active = admin_client.get(locks, {"state": "active"}).context["cl"].result_list
    released = admin_client.get(locks, {"state": "released"}).context["cl"].result_list
    assert call.pk not in {lock.interaction_id for lock in active}
    assert {lock.interaction_id for lock in released} == {call.pk}


@pytest.mark.parametrize("model", MODELS)
def test_read_only_no_add_change_delete(admin_client, data, model):
    obj = data["lock_req"] if model == "artifacts_managementrequest" else data["lock"]
    before = row_values(obj)
    page = admin_client.get(changelist(model))
    assert "delete_selected" not in page.context["cl"].model_admin.get_actions(page.wsgi_request)
    assert admin_client.get(reverse(f"admin:{model}_add")).status_code == 403
    assert admin_client.post(reverse(f"admin:{model}_add"), {}).status_code == 403
    assert admin_client.post(reverse(f"admin:{model}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    change = admin_client.get(change_url(model, obj.pk))
    assert change.status_code == 200 and b'name="_save"' not in change.content
    assert admin_client.post(change_url(model, obj.pk), {"status": "complete"}).status_code == 403
    assert row_values(obj) == before, "every column is as it was"
    response = admin_client.post(changelist(model), {"action": "delete_selected", "_selected_action": [obj.pk]})
    assert response.status_code in (200, 302)
    assert type(obj).objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize("model", MODELS)
def test_changelist_queries_are_bounded(admin_client, data, model):
    tenant, officer = data["calls"][0].tenant, data["officer"]
    for _ in range(5):
        new_request(tenant, officer, "add_lock", InteractionFactory.create_batch(2, tenant=tenant))
    admin_client.get(changelist(model))
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get(changelist(model)).status_code == 200
    assert len(queries) <= 9, [q["sql"] for q in queries.captured_queries]
    for query in queries.captured_queries:
        if "COUNT(" in query["sql"].upper():
            assert "LIMIT" in query["sql"].upper(), query["sql"]


def test_request_page_queries_do_not_grow_with_items(admin_client, data):
    tenant, officer = data["calls"][0].tenant, data["officer"]
    small = new_request(tenant, officer, "add_lock", InteractionFactory.create_batch(2, tenant=tenant))
    large = new_request(tenant, officer, "add_lock", InteractionFactory.create_batch(30, tenant=tenant))
    admin_client.get(change_url("artifacts_managementrequest", data["lock_req"].pk))  # warm caches
    counts = []
    for req in (small, large):
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(change_url("artifacts_managementrequest", req.pk)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_cancel_action_goes_through_the_service(admin_client, admin_user, data):
    queued, done = data["queued"], data["lock_req"]
    response = admin_client.post(
        changelist("artifacts_managementrequest"),
        {"action": "cancel_selected", "_selected_action": [queued.pk, done.pk]},
        follow=True,
    )
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("1 request(s) cancelled" in t for t in texts)
    assert any(f"{done} was not cancelled: Only a Queued request can be cancelled" in t for t in texts)
    assert ManagementRequest.objects.get(pk=queued.pk).status == Status.CANCELLED
    assert ManagementRequest.objects.get(pk=done.pk).status == Status.COMPLETE
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.REQUEST_CANCELLED)
    assert (event.request_id, event.actor_user) == (queued.pk, admin_user)


def test_retry_action_goes_through_the_service(admin_client, data):
    failed = data["queued"]
    fail_job(failed, "storage unreachable")
    response = admin_client.post(
        changelist("artifacts_managementrequest"),
        {"action": "retry_selected", "_selected_action": [failed.pk, data["lock_req"].pk]},
        follow=True,
    )
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("1 request(s) queued again" in t for t in texts)
    assert any("Only a request in Error can be retried" in t for t in texts)
    assert ManagementRequest.objects.get(pk=failed.pk).status == Status.QUEUED
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.REQUEST_RETRIED, request_id=failed.pk).exists()


def test_staff_without_tenant_permissions_cannot_cancel(client, data):
    staff = UserFactory(username="helpdesk", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_managementrequest"))
    client.force_login(staff)
    queued = data["queued"]
    response = client.post(
        changelist("artifacts_managementrequest"),
        {"action": "cancel_selected", "_selected_action": [queued.pk]},
        follow=True,
    )
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(
        "was not cancelled: helpdesk may not cancel" in t and "ARTIFACTS_MANAGEMENT_REQUESTS_CREATE" in t for t in texts
    )
    assert ManagementRequest.objects.get(pk=queued.pk).status == Status.QUEUED
