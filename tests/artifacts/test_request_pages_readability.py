"""Requests pages for people: the list names the creator and sums up failures, the detail's results
can be filtered (errors, skipped, done), the form counts the ids entered ("201 / 200")."""

import uuid

import pytest
from django.urls import reverse

from tests.factories import ArtifactFactory, InteractionFactory, management_request, process_request
from tests.matrix import client_for

pytestmark = pytest.mark.django_db
BASE = "/t/acme/configuration/artifacts-management-requests/"


@pytest.fixture
def failed(acme, member):
    """A request whose two interactions failed: the tenant's lock limit went down before it ran."""
    admin = member(acme, "Administrator", username="ada")
    calls = [InteractionFactory(tenant=acme) for _ in range(2)]
    for call in calls:
        ArtifactFactory(interaction=call)
    req = management_request(acme, admin, "add_lock", calls)
    acme.locked_interactions_limit = 1
    acme.save()
    process_request(req.pk)
    ok = management_request(acme, admin, "remove_lock", calls[:1], process=True)
    return client_for(admin), req, ok


def test_list_shows_the_creator_and_the_failures(failed):
    client, req, ok = failed
    html = client.get(BASE).content.decode()
    row = html[html.index(f'<a href="{BASE}{req.pk}/">') :].split("</tr>")[0]
    assert "<td>ada</td>" in row and "2 interactions failed" in row
    ok_row = html[html.index(f'<a href="{BASE}{ok.pk}/">') :].split("</tr>")[0]
    assert "failed" not in ok_row


def test_detail_results_filter(failed):
    client, req, _ = failed
    errors = client.get(f"{BASE}{req.pk}/", {"results": "errors"}).content.decode()
    assert errors.count('class="status status-item-error"') == 2
    assert '<strong aria-current="true">Errors (2)</strong>' in errors
    # Each filter says how many results it shows.
    assert '<a href="?">All (2)</a>' in errors and '<a href="?results=done">Done (0)</a>' in errors
    assert '<a href="?results=skipped">Skipped because locked (0)</a>' in errors
    done = client.get(f"{BASE}{req.pk}/", {"results": "done"}).content.decode()
    assert "No results of this kind." in done and "status-item-error" not in done
    # Totals stay those of the whole request; an unknown filter shows everything.
    assert client.get(f"{BASE}{req.pk}/", {"results": "done"}).context["totals"]["processed"] == 2
    assert client.get(f"{BASE}{req.pk}/", {"results": "bogus"}).content.decode().count("status-item-error") == 2


def test_form_counts_the_ids_entered(acme, member):
    client = client_for(member(acme, "Administrator"))
    url = reverse("management-request-create", args=["acme"])
    assert '<span id="ids-count-value">0</span> / 200 interaction ids' in client.get(url).content.decode()
    ids = [str(uuid.uuid4()) for _ in range(201)]
    html = client.post(
        url, {"request_type": "add_lock", "artifact_type": "any", "interaction_ids": "\n".join(ids + ids[:3])}
    ).content.decode()
    assert 'class="ids-count over"' in html and '<span id="ids-count-value">201</span> / 200' in html
