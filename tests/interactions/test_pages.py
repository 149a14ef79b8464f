"""Interactions list and detail pages."""

import pytest
from django.urls import reverse

from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, SUPERVISOR, VIEWER
from interactions.choices import ArtifactType, ContentKey
from tests.factories import ArtifactFactory, InteractionFactory
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db
EVERYONE = {VIEWER, SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR}


def test_list_and_detail_role_matrix(acme):
    interaction = InteractionFactory(tenant=acme)
    assert_role_matrix(reverse("interaction-list", args=["acme"]), acme, EVERYONE)
    assert_role_matrix(reverse("interaction-detail", args=["acme", interaction.guid]), acme, EVERYONE)


def test_list_is_newest_first_and_pages_by_keyset(acme, member):
    interactions = [InteractionFactory(tenant=acme) for _ in range(55)]  # factory: each one older
    client = client_for(member(acme))
    first = client.get(reverse("interaction-list", args=["acme"]))
    shown = [i.guid for i in first.context["interactions"]]
    assert shown == [i.guid for i in interactions[:50]]
    cursor = first.context["next_cursor"]
    second = client.get(reverse("interaction-list", args=["acme"]), {"after": cursor})
    assert [i.guid for i in second.context["interactions"]] == [i.guid for i in interactions[50:]]
    assert second.context["next_cursor"] == ""


def test_list_query_count_does_not_grow_with_rows(acme, member, django_assert_max_num_queries):
    for _ in range(5):
        ArtifactFactory(interaction=InteractionFactory(tenant=acme))
    client = client_for(member(acme))
    url = reverse("interaction-list", args=["acme"])
    client.get(url)  # warm the session
    with django_assert_max_num_queries(8) as few:
        client.get(url)
    for _ in range(20):
        ArtifactFactory(interaction=InteractionFactory(tenant=acme))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)


def test_malformed_cursor_shows_the_first_page(acme, member):
    InteractionFactory(tenant=acme)
    response = client_for(member(acme)).get(reverse("interaction-list", args=["acme"]), {"after": "garbage"})
    assert response.status_code == 200 and len(response.context["interactions"]) == 1


def test_detail_shows_fields_metadata_and_playable_artifacts(acme, member):
    interaction = InteractionFactory(tenant=acme, metadata={"campaign": "winter-sale"})
    audio = ArtifactFactory(interaction=interaction, filename="call.wav")
    transcript = ArtifactFactory(
        interaction=interaction,
        artifact_type=ArtifactType.MESSAGING_TRANSCRIPT,
        content_key=ContentKey.CHAT_TRANSCRIPT,
        filename="chat.json",
    )
    response = client_for(member(acme)).get(reverse("interaction-detail", args=["acme", interaction.guid]))
    html = response.content.decode()
    assert str(interaction.guid) in html and "winter-sale" in html and interaction.source_call_id in html
    assert f'<audio controls preload="metadata" src="{reverse("artifact-play", args=["acme", audio.pk])}"' in html
    assert reverse("artifact-download", args=["acme", transcript.pk]) in html
    assert "Messaging Transcript" in html


def test_unknown_guid_is_404_in_product_layout(acme, member):
    response = client_for(member(acme)).get(
        reverse("interaction-detail", args=["acme", "00000000-0000-0000-0000-000000000000"])
    )
    assert response.status_code == 404
    assert b"Holdfast" in response.content and b"Not found" in response.content


def test_forbidden_page_in_product_layout(acme, member):
    response = client_for(member(acme, VIEWER)).get(reverse("users-and-roles", args=["acme"]))
    assert response.status_code == 403
    assert b"Not allowed" in response.content and b"Interactions" in response.content
