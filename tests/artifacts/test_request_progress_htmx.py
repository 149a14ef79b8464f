"""The live parts refreshed by htmx: a request's progress partial swaps in while the status is the
one the page shows, and asks htmx to reload the page (HX-Refresh) once it has changed; the
interaction page's wait for a request gets nothing to swap until the request has ended."""

import pytest
from django.urls import reverse

from tests.factories import ArtifactFactory, InteractionFactory, management_request, process_request
from tests.matrix import client_for

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_progress_partial_swaps_then_asks_for_a_reload(acme, member):
    admin = member(acme, "Administrator")
    call = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=call)
    req = management_request(acme, admin, "add_lock", [call])
    client = client_for(admin)
    progress = reverse("management-request-progress", args=["acme", req.pk])

    swap = client.get(progress, {"status": "queued"}, **HTMX)
    assert swap.status_code == 200 and "HX-Refresh" not in swap
    assert f'hx-get="{progress}?status=queued"' in swap.content.decode()
    assert client.get(progress, {"wait": "finished"}, **HTMX).status_code == 204  # nothing to swap yet

    process_request(req.pk)
    for query in ({"status": "queued"}, {"wait": "finished"}):
        done = client.get(progress, query, **HTMX)
        assert (done.status_code, done["HX-Refresh"]) == (204, "true")
    # Without htmx (a plain reload, another script) the partial is simply the current state.
    plain = client.get(progress, {"status": "queued"})
    assert plain.status_code == 200 and "Complete" in plain.content.decode() and "hx-get" not in plain.content.decode()


def test_interaction_page_waits_for_its_pending_request_with_htmx(acme, member):
    admin = member(acme, "Administrator")
    call = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=call)
    req = management_request(acme, admin, "add_lock", [call])
    html = client_for(admin).get(reverse("interaction-detail", args=["acme", call.guid])).content.decode()
    progress = reverse("management-request-progress", args=["acme", req.pk])
    assert f'hx-get="{progress}?wait=finished" hx-trigger="every 2s" hx-swap="none"' in html
    assert '<script src="/static/js/vendor/htmx.min.js" defer></script>' in html
