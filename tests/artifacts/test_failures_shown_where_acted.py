"""A failure is shown where the user acted: the interaction whose protection failed says which
request failed, why, and offers Retry; the requests list summarises each error."""

import pytest
from django.urls import reverse

from artifacts.models import ManagementRequest
from tests.factories import ArtifactFactory, InteractionFactory, fail_job, management_request
from tests.matrix import client_for

pytestmark = pytest.mark.django_db


def test_a_failed_protect_request_is_shown_on_the_interaction_with_retry(acme, member):
    officer = member(acme, "Compliance Officer")
    call = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=call)
    req = management_request(acme, officer, "add_lock", [call], description="Protected checkbox")
    fail_job(req, "Storage error: the bucket answered 503 SlowDown")
    client = client_for(officer)
    page = client.get(reverse("interaction-detail", args=["acme", call.guid])).content.decode()
    assert f"Request {req.pk}</a> (Add Lock, Any) failed" in page
    assert "the bucket answered 503 SlowDown" in page
    assert f'action="{reverse("management-request-retry", args=["acme", req.pk])}"' in page
    response = client.post(reverse("management-request-retry", args=["acme", req.pk]))
    assert response.status_code == 302
    assert ManagementRequest.objects.get(pk=req.pk).status == ManagementRequest.Status.QUEUED
    page = client.get(reverse("interaction-detail", args=["acme", call.guid])).content.decode()
    assert f"Request {req.pk}</a> (Add Lock, Any) failed" not in page and 'is <span class="status status-queued' in page


def test_viewers_see_no_retry_and_the_list_summarises_errors(acme, member):
    officer = member(acme, "Compliance Officer")
    call = InteractionFactory(tenant=acme)
    req = management_request(acme, officer, "delete", [call])
    fail_job(req, "The worker processing this request stopped (worker lost). Retry to finish it.")
    supervisor_page = client_for(member(acme, "Supervisor")).get(
        reverse("interaction-detail", args=["acme", call.guid])
    )
    html = supervisor_page.content.decode()
    assert f"Request {req.pk}</a> (Delete, Any) failed" in html
    assert "Retry request" not in html, "a Supervisor may not retry a Delete"
    listing = client_for(officer).get(reverse("management-request-list", args=["acme"])).content.decode()
    assert "worker lost" in listing
