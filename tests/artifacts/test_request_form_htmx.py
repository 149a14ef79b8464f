"""The request form's dependent fields as server-rendered htmx fragments: the chosen Request Type's
options beside it, Lock Expires On after Lock Expires, the Audio Recording Type, the destructive
Submit and the live count of ids entered; the whole page still works without JavaScript."""

import re
import uuid

import pytest

from accounts.permissions import COMPLIANCE_OFFICER, SUPERVISOR
from artifacts.models import ManagementRequest
from artifacts.validation import CONFIRMATIONS
from core.vocabulary import ArtifactType
from tests.artifacts.test_request_pages import REQUESTERS, form_data, url
from tests.factories import InteractionFactory
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def compliance(acme, member):
    return member(acme, COMPLIANCE_OFFICER)


def fields(user, **data):
    response = client_for(user).post(url("fields"), data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.content.decode()


def ids_in(html):
    return set(re.findall(r'id="(id_[a-z_]+)"', html))


def test_role_matrix_and_post_only(acme, compliance):
    assert_role_matrix(url("fields"), acme, REQUESTERS, method="post", data={"request_type": "add_lock"})
    assert client_for(compliance).get(url("fields")).status_code == 405


def test_the_page_without_javascript_shows_every_option_beside_the_request_type(acme, compliance):
    html = client_for(compliance).get(url("create")).content.decode()
    row = html[html.index('<div class="request-type-row">') : html.index('id="field-artifact_type"')]
    assert 'id="id_request_type"' in row and 'id="type-options"' in row  # the options stand beside it
    assert {"id_matter", "id_lock_expires", "id_lock_expires_on", "id_remove_locks"} <= ids_in(row)
    assert {"id_confirm_add_lock", "id_confirm_remove_lock", "id_confirm_delete"} <= ids_in(row)
    for legend in ("Add Lock options", "Remove Lock options", "Delete options"):
        assert f"<legend>{legend}</legend>" in row
    assert 'id="id_audio_recording_type"' in html and 'name="preview"' in html
    # htmx narrows them at once and follows the choices; no hand-written form script is loaded.
    assert f'hx-post="{url("fields")}" hx-trigger="load"' in html
    assert (
        html.count(f'hx-post="{url("fields")}" hx-trigger="change"') == 3
    )  # Request Type, Artifact Type, Lock Expires
    assert 'hx-trigger="change from:#request-form, input from:#request-form delay:400ms"' in html
    assert "js/requests.js" not in html and "<script>" not in html and "style=" not in html


def test_fragment_of_each_request_type(acme, compliance):
    none = fields(compliance)
    assert "Choose a Request Type to see its options." in none and not ({"id_confirm_add_lock"} & ids_in(none))

    add = fields(compliance, request_type="add_lock", matter="")
    assert ids_in(add) >= {"id_matter", "id_lock_expires", "id_confirm_add_lock"}
    assert not ({"id_lock_expires_on", "id_remove_locks", "id_confirm_delete", "id_confirm_remove_lock"} & ids_in(add))
    assert CONFIRMATIONS["add_lock"] in add and "<legend>Add Lock</legend>" in add
    assert '<button type="submit" id="request-submit" hx-swap-oob="true">Submit</button>' in add

    expiring = fields(compliance, request_type="add_lock", lock_expires="on", lock_expires_on="2031-01-02")
    assert 'id="id_lock_expires_on"' in expiring and 'value="2031-01-02"' in expiring
    assert re.search(r'<input type="checkbox" name="lock_expires" id="id_lock_expires"[^>]* checked', expiring)
    # Lock Expires re-asks for the options when ticked; its wrapper names the fragment's URL.
    assert f'id="field-lock_expires" hx-post="{url("fields")}" hx-trigger="change"' in expiring

    remove = fields(compliance, request_type="remove_lock")
    assert ids_in(remove) >= {"id_matter", "id_confirm_remove_lock"} and "id_lock_expires" not in ids_in(remove)
    assert '<button type="submit" id="request-submit" class="danger" hx-swap-oob="true">' in remove

    delete = fields(compliance, request_type="delete", confirm_delete="on")
    assert ids_in(delete) >= {"id_remove_locks", "id_confirm_delete"} and "id_matter" not in ids_in(delete)
    assert re.search(r'id="id_confirm_delete"[^>]* checked|checked[^>]*id="id_confirm_delete"', delete)


def test_a_type_the_user_may_not_save_gets_no_options(acme, member):
    supervisor = member(acme, SUPERVISOR)
    html = fields(supervisor, request_type="delete")
    assert "Choose a Request Type" in html and "id_confirm_delete" not in ids_in(html)
    assert "id_remove_locks" not in ids_in(html)


def test_audio_recording_type_follows_the_artifact_type(acme, compliance):
    audio = fields(compliance, artifact_type=ArtifactType.AUDIO_RECORDING, audio_recording_type="ivr_snippet")
    field = audio[audio.index('id="field-audio_recording_type"') :]
    assert field.startswith('id="field-audio_recording_type" hx-swap-oob="true">')
    assert '<option value="ivr_snippet" selected>' in field
    email = fields(compliance, artifact_type=ArtifactType.EMAIL)
    assert '<div class="field" id="field-audio_recording_type" hidden hx-swap-oob="true"></div>' in email


def test_live_count_of_ids_comes_with_the_impact(acme, compliance):
    many = ", ".join(str(uuid.uuid4()) for _ in range(201))
    html = client_for(compliance).post(url("impact"), {"interaction_ids": many}).content.decode()
    assert '<p class="ids-count over" id="ids-count" aria-live="polite" hx-swap-oob="true">' in html
    assert '<span id="ids-count-value">201</span> / 200 interaction ids — 1 too many' in html
    two = client_for(compliance).post(url("impact"), {"interaction_ids": "a, b\nA"}).content.decode()
    assert '<p class="ids-count" id="ids-count"' in two and '<span id="ids-count-value">2</span>' in two
    page = client_for(compliance).get(url("create") + "?interaction_ids=" + "%20".join(["x"] * 3 + ["y"]))
    assert '<span id="ids-count-value">2</span> / 200 interaction ids' in page.content.decode()


def test_values_of_fields_a_choice_took_away_come_back_with_them_but_are_never_submitted(acme, compliance):
    # Add Lock with an expiry date → Delete: the date leaves the form, its value stays in a kept_ input.
    delete = fields(compliance, request_type="delete", lock_expires="on", lock_expires_on="2031-01-02")
    assert "id_lock_expires_on" not in ids_in(delete)
    assert '<input type="hidden" name="kept_lock_expires_on" value="2031-01-02">' in delete
    # → Add Lock again, Lock Expires ticked: the date is back.
    back = fields(compliance, request_type="add_lock", lock_expires="on", kept_lock_expires_on="2031-01-02")
    assert re.search(r'name="lock_expires_on" value="2031-01-02"[^>]*id="id_lock_expires_on"', back)
    assert "kept_lock_expires_on" not in back
    # Unticked: the oob placeholder keeps it (the toggle swaps only out-of-band parts).
    unticked = fields(compliance, request_type="add_lock", lock_expires_on="2031-01-02")
    assert 'hidden hx-swap-oob="true"><input type="hidden" name="kept_lock_expires_on" value="2031-01-02">' in unticked
    # The form's own POST ignores kept_ values: a Delete carries no expiry.

    call = InteractionFactory(tenant=acme)
    data = form_data([call], "delete", kept_lock_expires_on="2031-01-02", kept_matter="X-1")
    response = client_for(compliance).post(url("create"), data)
    assert response.status_code == 302

    req = ManagementRequest.objects.get()
    assert (req.request_type, req.lock_expires_on, req.matter_id) == ("delete", None, None)
