"""The impact preview of a request ("This will delete 3 artifacts of 2 interactions (1 locked will
be skipped).") is what the request then does: it counts the processing's own selection. The Remove
Lock confirmation says how many artifacts are already past their policy date (PRODUCT.md)."""

import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artifacts.impact import request_impact
from artifacts.models import ManagementRequest
from core.vocabulary import ANY, ArtifactType, ContentKey
from policies.services import sweep_plan
from tests.factories import ArtifactFactory, InteractionFactory, as_actor, management_request
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db
CREATORS = ("Supervisor", "Compliance Officer", "Administrator")


def transcript(interaction, **fields):
    return ArtifactFactory(
        interaction=interaction,
        artifact_type=ArtifactType.MESSAGING_TRANSCRIPT,
        content_key=ContentKey.CHAT_TRANSCRIPT,
        filename="chat.json",
        **fields,
    )


@pytest.fixture
def scene(acme, member):
    """Two interactions: ``first`` has a recording and a locked transcript, ``second`` a recording,
    a transcript and a Script (not covered by Any)."""
    admin = member(acme, "Administrator")
    first, second = InteractionFactory(tenant=acme), InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=first)
    transcript(first)
    ArtifactFactory(interaction=second)
    transcript(second)
    ArtifactFactory(interaction=second, artifact_type=ArtifactType.SCRIPT, content_key=str(uuid.uuid4()))
    management_request(acme, admin, "add_lock", [first], artifact_type="messaging_transcript", process=True)
    return admin, first, second


def totals(req):
    items = req.items.all()
    return sum(i.deleted for i in items), sum(i.skipped_locked for i in items), sum(i.unlocked for i in items)


def test_delete_preview_is_what_the_request_then_deletes(acme, scene):
    admin, first, second = scene
    ids = f"{first.guid}\n{second.guid}"
    impact = request_impact(acme.pk, as_actor(admin), request_type="delete", artifact_type=ANY, interaction_ids=ids)
    assert impact.sentence == "This will delete 3 artifacts of 2 interactions (1 locked will be skipped)."
    req = management_request(acme, admin, "delete", [first, second], process=True)
    assert totals(req)[:2] == (impact.affected, impact.skipped) == (3, 1)


def test_delete_with_remove_locks_skips_nothing(acme, scene):
    admin, first, second = scene
    impact = request_impact(
        acme.pk,
        as_actor(admin),
        request_type="delete",
        artifact_type=ANY,
        interaction_ids=f"{first.guid} {second.guid}",
        remove_locks=True,
    )
    assert impact.sentence == "This will delete 4 artifacts of 2 interactions."
    req = management_request(acme, admin, "delete", [first, second], remove_locks=True, process=True)
    assert totals(req)[:2] == (4, 0)


def test_remove_lock_preview_counts_what_the_next_sweep_then_takes(acme, member):
    admin = member(acme, "Administrator")
    old, recent = InteractionFactory(tenant=acme), InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=old, created_at=timezone.now() - timedelta(days=400))  # default policy: 365 days
    transcript(old, created_at=timezone.now() - timedelta(days=400))
    ArtifactFactory(interaction=recent)
    management_request(acme, admin, "add_lock", [old, recent], process=True)
    assert sweep_plan(acme.pk)["delete"] == 0

    ids = f"{old.guid},{recent.guid}"
    impact = request_impact(
        acme.pk, as_actor(admin), request_type="remove_lock", artifact_type=ANY, interaction_ids=ids
    )
    assert impact.sentence == (
        "This will unlock 3 artifacts of 2 interactions. 2 of them are already past their policy date"
        " and will be deleted or moved at the next sweep."
    )
    req = management_request(acme, admin, "remove_lock", [old, recent], process=True)
    assert totals(req)[2] == impact.affected == 3
    assert sweep_plan(acme.pk)["delete"] == impact.due == 2


def test_interaction_page_remove_lock_confirmation_says_what_the_sweep_takes(acme, member):
    admin = member(acme, "Administrator")
    old = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=old, created_at=timezone.now() - timedelta(days=400))
    management_request(acme, admin, "add_lock", [old], process=True)
    html = client_for(admin).get(reverse("interaction-detail", args=[acme.slug, old.guid])).content.decode()
    confirm = html[html.index('id="protection-confirm"') :]
    assert "1 of them is already past its policy date and will be deleted or moved at the next sweep." in confirm
    assert re.search(r'<button type="submit" id="protection-submit" class="danger">Remove Lock</button>', confirm)


def test_form_preview_button_shows_the_impact_and_saves_nothing(acme, scene):
    admin, first, second = scene
    client = client_for(admin)
    url = reverse("management-request-create", args=[acme.slug])
    data = {"request_type": "delete", "artifact_type": ANY, "interaction_ids": f"{first.guid} {second.guid}"}
    html = client.post(url, {**data, "preview": "1"}).content.decode()
    assert "This will delete 3 artifacts of 2 interactions (1 locked will be skipped)." in html
    assert '<button type="submit" id="request-submit" class="danger">Submit</button>' in html
    assert not ManagementRequest.objects.filter(request_type="delete").exists()
    # A submission refused for a missing confirmation still shows the impact next to the error.
    refused = client.post(url, data)
    assert refused.status_code == 400 and "This will delete 3 artifacts" in refused.content.decode()
    partial = client.post(reverse("management-request-impact", args=[acme.slug]), data).content.decode()
    assert partial.strip().startswith('<p class="impact-summary impact-delete" id="impact-sentence">This will delete 3')


def test_impact_endpoint_role_matrix(acme):
    url = reverse("management-request-impact", args=[acme.slug])
    assert_role_matrix(url, acme, CREATORS, method="post", data={"request_type": "add_lock", "artifact_type": ANY})


def test_unknown_and_malformed_ids_are_counted_around(acme, scene):
    admin, first, _ = scene
    ids = f"{first.guid}, not-a-guid, {uuid.uuid4()}"
    impact = request_impact(acme.pk, as_actor(admin), request_type="delete", artifact_type=ANY, interaction_ids=ids)
    assert (impact.affected, impact.skipped, impact.unknown) == (1, 1, 1)
    assert impact.sentence.endswith(" 1 id is not an interaction here.")


# The endpoint only reads: sharing the fixtures between examples is safe.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    request_type=st.sampled_from(["add_lock", "remove_lock", "delete", "", "explode"]),
    artifact_type=st.sampled_from([ANY, "all", "audio_recording", "email", "", "nope"]),
    audio=st.sampled_from(["", "conference_customer", "bad"]),
    ids=st.text(max_size=80),
)
def test_any_input_gets_an_answer_never_a_500(acme, scene, request_type, artifact_type, audio, ids):
    admin, _, _ = scene
    response = client_for(admin).post(
        reverse("management-request-impact", args=[acme.slug]),
        {
            "request_type": request_type,
            "artifact_type": artifact_type,
            "audio_recording_type": audio,
            "interaction_ids": ids,
        },
    )
    assert response.status_code == 200 and 'id="impact-sentence"' in response.content.decode()
