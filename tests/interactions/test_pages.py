"""Interaction detail pages (the list is tested in test_list.py)."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, SUPERVISOR, VIEWER
from core.vocabulary import ArtifactType, ContentKey
from tests.factories import ArtifactFactory, InteractionFactory
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db
EVERYONE = {VIEWER, SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR}


def test_detail_role_matrix(acme):
    interaction = InteractionFactory(tenant=acme)
    assert_role_matrix(reverse("interaction-detail", args=["acme", interaction.guid]), acme, EVERYONE)


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
    assert f'<audio controls preload="none" src="{reverse("artifact-play", args=["acme", audio.pk])}"' in html
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


def test_detail_shows_times_in_the_tenants_time_zone(acme, member):
    call = InteractionFactory(tenant=acme, started_at=datetime(2026, 1, 15, 23, 30, tzinfo=UTC), ended_at=None)
    html = client_for(member(acme, "Viewer")).get(f"/t/acme/interactions/{call.guid}/").content.decode()
    assert acme.time_zone == "Europe/Paris"
    assert "2026-01-16 00:30:00" in html, "23:30 UTC is 00:30 the next day in Paris"
