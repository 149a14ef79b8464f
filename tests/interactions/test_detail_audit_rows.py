"""The interaction page's audit trail reads well: a lock change is one row naming its types and
until when, repeated views of a day collapse ("viewed 5 times by 4 users"), and it is paged."""

import re
import zoneinfo
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.vocabulary import ArtifactType, Channel, ContentKey
from tests.factories import ArtifactFactory, InteractionFactory, management_request
from tests.matrix import client_for
from workspace import audit_rows

pytestmark = pytest.mark.django_db


def audit_table(html):
    return html[html.index('<table class="list audit">') :].split("</table>")[0]


@pytest.fixture
def chat(acme):
    call = InteractionFactory(tenant=acme, channel=Channel.CHAT)
    ArtifactFactory(
        interaction=call,
        artifact_type=ArtifactType.MESSAGING_TRANSCRIPT,
        content_key=ContentKey.CHAT_TRANSCRIPT,
        filename="chat.json",
        content_type="application/json",
        content=b'{"messages": [{"author": "Carla", "text": "Hi"}]}',
    )
    return call


def test_lock_changes_are_one_row_with_types_and_expiry_and_views_collapse(acme, member, chat):
    admin = member(acme, "Administrator")
    last_day = timezone.localdate(timezone.now(), zoneinfo.ZoneInfo(acme.time_zone)) + timedelta(days=20)
    management_request(acme, admin, "add_lock", [chat], process=True, lock_expires=True, lock_expires_on=last_day)
    url = reverse("interaction-detail", args=["acme", chat.guid])
    viewers = [member(acme, "Viewer") for _ in range(3)]
    for user in (viewers[0], *viewers):
        assert client_for(user).get(url).status_code == 200
    table = audit_table(client_for(admin).get(url).content.decode())

    locks = [row for row in table.split("<tr>") if "Lock added" in row]
    assert len(locks) == 1
    # Which types and until when, in the product's words.
    assert (
        f'Lock added <span class="audit-summary">Any</span>, through <time datetime="{last_day:%Y-%m-%d}">' in locks[0]
    )
    views = [row for row in table.split("<tr>") if "Artifact viewed" in row]
    assert len(views) == 1 and "5\u00d7 by 4 users" in views[0]


def test_a_lock_of_one_audio_type_without_expiry(acme, member, chat):
    admin = member(acme, "Administrator")
    management_request(
        acme,
        admin,
        "add_lock",
        [chat],
        artifact_type="audio_recording",
        audio_recording_type="conference_agent",
        process=True,
    )
    table = audit_table(client_for(admin).get(reverse("interaction-detail", args=["acme", chat.guid])).content.decode())
    assert 'Lock added <span class="audit-summary">Audio Recording (Conference Agent)</span>, no expiry' in table


def test_the_trail_is_paged(acme, member, chat, monkeypatch):
    monkeypatch.setattr(audit_rows, "AUDIT_PAGE", 2)
    admin = member(acme, "Administrator")
    url = reverse("interaction-detail", args=["acme", chat.guid])
    client = client_for(admin)
    client.get(url)  # a view: with "artifact stored" and "interaction created", three or more events
    first = client.get(url).content.decode()
    older = re.search(r'href="\?audit_before=(\d+)#audit" rel="next"', first)
    assert older
    second = client.get(url, {"audit_before": older.group(1)}).content.decode()
    assert "Newest events" in second
    assert audit_table(first) != audit_table(second)
    assert client.get(url, {"audit_before": "junk"}).status_code == 200
