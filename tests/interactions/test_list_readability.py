"""The interactions list explains itself: a short GUID with the full id on hover, a labelled lock
column, the tenant's lock usage, the filters' help, and a result summary that costs no COUNT."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.permissions import ADMINISTRATOR, VIEWER
from tests.factories import ArtifactFactory, InteractionFactory, management_request
from tests.matrix import client_for

pytestmark = pytest.mark.django_db


def get(client, **query):
    response = client.get(reverse("interaction-list", args=["acme"]), query)
    assert response.status_code == 200
    return response.content.decode()


def summary(html):
    return re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", "", re.search(r'id="result-summary"[^>]*>(.*?)</p>', html, re.S).group(1))
    ).strip()


def test_guid_column_is_short_with_the_full_id_on_hover_and_a_copy_button(acme, member):
    call = InteractionFactory(tenant=acme)
    html = get(client_for(member(acme, VIEWER)))
    row = html[html.index(f'data-guid="{call.guid}"') :].split("</tr>")[0]
    guid = str(call.guid)
    assert f'<code title="{guid}">{guid[:8]}…</code>' in row
    # Hidden until the script can use the clipboard; the id is in the hover text and the link anyway.
    assert (
        f'<button type="button" class="copy link" data-copy="{guid}" aria-label="Copy interaction id {guid}" hidden>'
        in row
    )
    assert "<th>Lock</th>" in html and "<th>Interaction</th>" in html


def test_lock_usage_of_the_tenant(acme, member):
    acme.locked_interactions_limit = 1500
    acme.save()
    admin = member(acme, ADMINISTRATOR)
    calls = [InteractionFactory(tenant=acme) for _ in range(3)]
    for call in calls:
        ArtifactFactory(interaction=call)
    management_request(acme, admin, "add_lock", calls[:2], process=True)
    html = get(client_for(admin))
    assert re.search(r'id="lock-usage">2 of 1,500 interactions locked<', html)


def test_result_summary_without_a_count(acme, member):
    for _ in range(12):
        InteractionFactory(tenant=acme)
    client = client_for(member(acme, VIEWER))
    get(client)  # warm the session
    with CaptureQueriesContext(connection) as queries:
        first = get(client, per_page=10)
    assert summary(first).startswith("10+ results")
    assert not [
        q
        for q in queries.captured_queries
        if "COUNT(" in q["sql"].upper() and "interactions_interaction" in q["sql"] and "lock" not in q["sql"]
    ]
    assert summary(get(client, per_page=20)) == "12 results"
    import html as html_lib

    next_href = html_lib.unescape(re.search(r'href="([^"]+)" rel="next"', first).group(1))
    response = client.get(reverse("interaction-list", args=["acme"]) + next_href)
    assert summary(response.content.decode()) == "2 results on this page"


def test_filter_help_is_shown(acme, member):
    html = get(client_for(member(acme, VIEWER)))
    assert "An agent id, or the start of any part of the name." in html
    assert "A GUID, a call or task id, or the beginning of From / To." in html
