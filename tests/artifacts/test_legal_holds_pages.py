"""Configuration > Legal Holds in the browser's terms (Django test client): role matrix on every page,
the list's counts in a bounded number of queries, create / edit with messages naming the field,
release and close from a matter's page, the request form's Matter field, and the interaction page
naming the matters that hold it."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, SUPERVISOR, VIEWER
from artifacts import matter_services
from artifacts.models import Lock, ManagementRequest, Matter
from tests.factories import (
    SYSTEM,
    ArtifactFactory,
    InteractionFactory,
    as_actor,
    management_request,
    process_request,
)
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db
EVERYONE = {VIEWER, SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR}
LOCKERS = {SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR}
RELEASERS = {COMPLIANCE_OFFICER, ADMINISTRATOR}
RequestType = ManagementRequest.RequestType


def url(name, *args, tenant="acme"):
    return reverse(name, args=[tenant, *args])


@pytest.fixture
def officer(acme, member):
    return member(acme, COMPLIANCE_OFFICER)


def matter_of(tenant, owner, case_id="CASE-1", name="Smith v. Acme"):
    return matter_services.create_matter(
        tenant.pk, SYSTEM, case_id=case_id, name=name, reason="Counsel's hold letter", owner_id=owner.pk
    )


def held(tenant, user, matter, interactions, **fields):
    return management_request(
        tenant, user, RequestType.ADD_LOCK, interactions, process=True, matter=matter.case_id, **fields
    )


def test_role_matrix_of_every_page(acme, officer):
    matter = matter_of(acme, officer)
    assert_role_matrix(url("legal-holds"), acme, EVERYONE)
    assert_role_matrix(url("matter-detail", matter.pk), acme, EVERYONE)
    assert_role_matrix(url("matter-create"), acme, LOCKERS)
    assert_role_matrix(url("matter-edit", matter.pk), acme, LOCKERS)
    counter = iter(range(100))

    def fresh(name):
        def make():
            m = matter_of(acme, officer, f"M-{name}-{next(counter)}")
            held(acme, officer, m, [InteractionFactory(tenant=acme)])
            return url(name, m.pk)

        return make

    assert_role_matrix(fresh("matter-release"), acme, RELEASERS, method="post", data={"confirmed": "on"}, ok_status=302)
    assert_role_matrix(fresh("matter-close"), acme, RELEASERS, method="post", data={"confirmed": "on"}, ok_status=302)


def test_list_shows_counts_in_bounded_queries(acme, officer, django_assert_max_num_queries):
    for n in range(3):
        matter = matter_of(acme, officer, f"CASE-{n}", name=f"Matter {n}")
        interaction = InteractionFactory(tenant=acme)
        ArtifactFactory(interaction=interaction)
        held(acme, officer, matter, [interaction])
    client = client_for(officer)
    client.get(url("legal-holds"))  # warm the session
    with django_assert_max_num_queries(12) as few:
        response = client.get(url("legal-holds"))
    for n in range(7):
        held(acme, officer, matter_of(acme, officer, f"MORE-{n}"), [InteractionFactory(tenant=acme)])
    with django_assert_max_num_queries(len(few.captured_queries)):
        again = client.get(url("legal-holds"))
    assert response.status_code == 200 and again.status_code == 200
    row = again.context["matters"][len(again.context["matters"]) - 1]
    assert (row.held_interactions, row.held_artifacts) == (1, 1) and row.held_bytes > 0
    assert b"CASE-2" in again.content


def test_create_and_edit_from_the_page(acme, officer):
    client = client_for(officer)
    bad = client.post(url("matter-create"), {"case_id": "", "name": "X", "reason": "", "owner": ""})
    assert bad.status_code == 400 and not Matter.objects.exists()
    text = bad.content.decode()
    assert "Case Id: required." in text and "Reason: required." in text and "Owner: choose" in text
    response = client.post(
        url("matter-create"),
        {"case_id": "2024-CV-118", "name": "Smith v. Acme", "reason": "Hold letter", "owner": officer.pk},
    )
    matter = Matter.objects.get()
    assert response.status_code == 302 and response["Location"] == url("matter-detail", matter.pk)
    assert matter.created_by == officer.username and matter.status == Matter.Status.OPEN
    edited = client.post(
        url("matter-edit", matter.pk),
        {"name": "Smith v. Acme Corp", "reason": "Hold letter", "owner": officer.pk, "review_on": "2030-02-30"},
    )
    assert edited.status_code == 400 and "Review Date: enter a valid date" in edited.content.decode()
    client.post(
        url("matter-edit", matter.pk),
        {"name": "Smith v. Acme Corp", "reason": "Hold letter", "owner": officer.pk, "review_on": "2030-03-01"},
    )
    matter.refresh_from_db()
    assert (matter.name, matter.review_on) == ("Smith v. Acme Corp", dt.date(2030, 3, 1))


def test_release_from_the_matter_page_leaves_other_matters(acme, officer):
    first, second = matter_of(acme, officer, "A-1"), matter_of(acme, officer, "B-2")
    interaction = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=interaction)
    held(acme, officer, first, [interaction])
    held(acme, officer, second, [interaction])
    client = client_for(officer)
    page = client.get(url("matter-detail", first.pk))
    assert b"release-form" in page.content and str(interaction.guid).encode() in page.content
    unconfirmed = client.post(url("matter-release", first.pk), follow=True)
    assert (
        "Confirmation" in unconfirmed.content.decode()
        and not ManagementRequest.objects.filter(request_type=RequestType.REMOVE_LOCK).exists()
    )
    client.post(url("matter-release", first.pk), {"confirmed": "on"})
    req = ManagementRequest.objects.get(request_type=RequestType.REMOVE_LOCK)
    assert req.matter_id == first.pk
    process_request(req.pk)
    assert not Lock.objects.active().filter(matter=first).exists()
    assert Lock.objects.active().filter(matter=second, interaction=interaction).exists()


def test_close_from_the_page(acme, officer):
    matter = matter_of(acme, officer)
    held(acme, officer, matter, [InteractionFactory(tenant=acme)])
    response = client_for(officer).post(url("matter-close", matter.pk), {"confirmed": "on"}, follow=True)
    matter.refresh_from_db()
    assert matter.status == Matter.Status.CLOSED and "was closed" in response.content.decode()
    process_request(ManagementRequest.objects.get(request_type=RequestType.REMOVE_LOCK).pk)
    assert not Lock.objects.active().filter(matter=matter).exists()
    page = client_for(officer).get(url("matter-detail", matter.pk))
    assert b"close-form" not in page.content and b"Closed" in page.content


def test_request_form_names_a_matter_and_the_setting_requires_one(acme, officer):
    matter = matter_of(acme, officer)
    interaction = InteractionFactory(tenant=acme)
    account_services.update_tenant(acme.pk, SYSTEM, matter_required_for_locks=True)
    client = client_for(officer)
    form = client.get(reverse("management-request-create", args=["acme"]))
    assert f'value="{matter.case_id}"'.encode() in form.content
    data = {
        "request_type": "add_lock",
        "artifact_type": "any",
        "interaction_ids": str(interaction.guid),
        "confirm_add_lock": "on",
    }
    refused = client.post(reverse("management-request-create", args=["acme"]), data)
    assert refused.status_code == 400 and "Matter: required for Add Lock" in refused.content.decode()
    client.post(reverse("management-request-create", args=["acme"]), {**data, "matter": matter.case_id})
    req = ManagementRequest.objects.get()
    assert req.matter_id == matter.pk


def test_interaction_page_names_the_matters_holding_it(acme, officer, member):
    matter = matter_of(acme, officer, "2024-CV-118", "Smith v. Acme")
    interaction = InteractionFactory(tenant=acme)
    held(acme, officer, matter, [interaction])
    page = client_for(member(acme, VIEWER)).get(reverse("interaction-detail", args=["acme", interaction.guid]))
    text = page.content.decode()
    assert "Held for legal matter" in text and "2024-CV-118 · Smith v. Acme" in text


def test_expiring_locks_are_listed(acme, officer):
    matter = matter_of(acme, officer)
    soon, later = InteractionFactory(tenant=acme), InteractionFactory(tenant=acme)
    today = timezone.now().date()
    held(acme, officer, matter, [soon], lock_expires=True, lock_expires_on=today + dt.timedelta(days=5))
    held(acme, officer, matter, [later], lock_expires=True, lock_expires_on=today + dt.timedelta(days=40))
    response = client_for(officer).get(url("legal-holds"))
    rows = response.context["expiring"]
    assert [row["interaction__guid"] for row in rows] == [soon.guid] and rows[0]["matter__case_id"] == "CASE-1"
    account_services.update_tenant(acme.pk, SYSTEM, lock_expiry_notice_days=60)
    response = client_for(officer).get(url("legal-holds"))
    assert len(response.context["expiring"]) == 2


def test_another_tenants_matter_is_not_found(acme, globex, officer, member):
    other = matter_of(globex, member(globex, COMPLIANCE_OFFICER))
    response = client_for(officer).get(url("matter-detail", other.pk))
    assert response.status_code == 404
    assert as_actor(officer)  # the officer exists in acme only
