"""Configuration > Artifacts Management Requests in the browser's terms (Django test client):
role matrix, list, create form with every validation rule, detail, cancel and retry."""

import datetime as dt
import uuid
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import permissions as p
from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, DEFAULT_ROLES, SUPERVISOR
from artifacts.models import ManagementRequest
from artifacts.validation import CONFIRMATIONS
from core.vocabulary import ANY, ArtifactType, AudioRecordingType
from tests.factories import (
    ArtifactFactory,
    InteractionFactory,
    MembershipFactory,
    RoleFactory,
    UserFactory,
    fail_job,
    management_request,
    process_request,
)
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db
ALL = set(DEFAULT_ROLES[ADMINISTRATOR])
REQUESTERS = {SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR}
Status = ManagementRequest.Status


def url(name, tenant="acme", *args):
    return reverse(f"management-request-{name}", args=[tenant, *args])


def make_request(tenant, user, interactions, request_type="add_lock", **fields):
    """A request saved through the service, as the form would (not processed)."""
    return management_request(tenant, user, request_type, interactions, **fields)


def form_data(interactions, request_type="add_lock", **overrides):
    data = {
        "description": "Litigation hold 2024-118",
        "request_type": request_type,
        "artifact_type": ANY,
        "interaction_ids": "\n".join(str(i.guid) for i in interactions),
        f"confirm_{request_type}": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def compliance(acme, member):
    return member(acme, COMPLIANCE_OFFICER)


@pytest.fixture
def supervisor(acme, member):
    return member(acme, SUPERVISOR)


# --- permissions ---------------------------------------------------------------------------------
def test_role_matrix_of_every_page(acme, member):
    call = InteractionFactory(tenant=acme)
    req = make_request(acme, member(acme, ADMINISTRATOR), [call])
    assert_role_matrix(url("list"), acme, REQUESTERS)
    assert_role_matrix(url("create"), acme, REQUESTERS)
    assert_role_matrix(url("detail", "acme", req.pk), acme, REQUESTERS)
    assert_role_matrix(url("progress", "acme", req.pk), acme, REQUESTERS)
    # Actions come back to the detail page (with a message once the request is no longer Queued).
    assert_role_matrix(url("cancel", "acme", req.pk), acme, REQUESTERS, method="post", ok_status=302)
    assert_role_matrix(url("retry", "acme", req.pk), acme, REQUESTERS, method="post", ok_status=302)


def test_actions_are_post_only(acme, compliance):
    req = make_request(acme, compliance, [InteractionFactory(tenant=acme)])
    client = client_for(compliance)
    assert client.get(url("cancel", "acme", req.pk)).status_code == 405
    assert client.get(url("retry", "acme", req.pk)).status_code == 405


def test_another_tenants_request_is_404(acme, globex, member):
    theirs = make_request(globex, member(globex, ADMINISTRATOR), [InteractionFactory(tenant=globex)])
    client = client_for(member(acme, ADMINISTRATOR))
    for name in ("detail", "progress"):
        assert client.get(url(name, "acme", theirs.pk)).status_code == 404
    for name in ("cancel", "retry"):
        assert client.post(url(name, "acme", theirs.pk)).status_code == 404
    assert ManagementRequest.objects.get(pk=theirs.pk).status == Status.QUEUED


def user_with(tenant, *codenames):
    """A member of ``tenant`` whose own role holds exactly ``codenames``."""
    user = UserFactory()
    MembershipFactory(user=user, tenant=tenant, role=RoleFactory(tenant=tenant, permissions=codenames))
    return user


def test_create_button_and_nav_link_follow_the_permissions(acme, supervisor, member):
    html = client_for(supervisor).get(url("list")).content.decode()
    assert f'href="{url("create")}"' in html and ">Artifacts Management Requests</a>" in html
    reader = client_for(user_with(acme, p.VIEW_INTERACTIONS, p.ARTIFACTS_MANAGEMENT_REQUESTS_READ))
    html = reader.get(url("list")).content.decode()
    assert f'href="{url("create")}"' not in html and ">Artifacts Management Requests</a>" in html
    assert reader.get(url("create")).status_code == 403
    viewer_home = client_for(member(acme, "Viewer")).get(reverse("interaction-list", args=["acme"]))
    assert ">Artifacts Management Requests</a>" not in viewer_home.content.decode()


# --- list ----------------------------------------------------------------------------------------
def test_list_shows_the_columns_newest_first(acme, compliance):
    calls = [InteractionFactory(tenant=acme) for _ in range(3)]
    older = make_request(acme, compliance, calls[:1], description="first")
    audio = {"artifact_type": ArtifactType.AUDIO_RECORDING, "audio_recording_type": AudioRecordingType.CONFERENCE_AGENT}
    newer = make_request(acme, compliance, calls, request_type="remove_lock", description="second", **audio)
    response = client_for(compliance).get(url("list"))
    assert [r.pk for r in response.context["requests"]] == [newer.pk, older.pk]
    html = response.content.decode()
    for text in ("Request Id", "Request Date", "Request Type", "Interaction Ids", "Description", "Artifact Type"):
        assert f"<th>{text}</th>" in html or f'<th class="num">{text}</th>' in html
    assert "<th>Audio Recording Type</th>" in html and "<th>Status</th>" in html
    row = html[html.index(f'data-href="{url("detail", "acme", newer.pk)}"') :].split("</tr>")[0]
    for text in ("Remove Lock", ">3<", "second", "Audio Recording", "Conference Agent", "Queued"):
        assert text in row
    assert f'<a href="{url("detail", "acme", newer.pk)}">{newer.pk}</a>' in row


def test_list_filters_by_status_and_type_and_explains_bad_values(acme, compliance):
    calls = [InteractionFactory(tenant=acme)]
    lock = make_request(acme, compliance, calls)
    process_request(lock.pk)
    queued_delete = make_request(acme, compliance, calls, request_type="delete")
    client = client_for(compliance)
    assert [r.pk for r in client.get(url("list"), {"status": "complete"}).context["requests"]] == [lock.pk]
    by_type = client.get(url("list"), {"request_type": "delete"}).context["requests"]
    assert [r.pk for r in by_type] == [queued_delete.pk]
    response = client.get(url("list"), {"status": "bogus", "request_type": "<script>", "page": "x"})
    assert response.status_code == 200
    assert len(response.context["requests"]) == 2
    html = response.content.decode()
    main = html.split('<main id="main" tabindex="-1">')[1]
    assert "Status: “bogus” is not a status" in html and "<script>" not in main


def test_list_is_paginated_and_keeps_filters(acme, compliance):
    calls = [InteractionFactory(tenant=acme)]
    for _ in range(27):
        make_request(acme, compliance, calls)
    client = client_for(compliance)
    first = client.get(url("list"), {"status": "queued"})
    assert len(first.context["requests"]) == 25
    assert "?status=queued&amp;page=2" in first.content.decode()
    assert len(client.get(url("list"), {"status": "queued", "page": 2}).context["requests"]) == 2


def test_list_query_count_does_not_grow_with_rows(acme, compliance, django_assert_max_num_queries):
    calls = [InteractionFactory(tenant=acme) for _ in range(2)]
    for _ in range(5):
        make_request(acme, compliance, calls)
    client = client_for(compliance)
    client.get(url("list"))  # warm the session
    with django_assert_max_num_queries(10) as few:
        assert client.get(url("list")).status_code == 200
    for _ in range(25):
        make_request(acme, compliance, calls)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url("list"))
    assert len(response.context["requests"]) == 25


# --- create --------------------------------------------------------------------------------------
def test_form_has_the_manuals_labels_and_the_compliance_officers_options(acme, compliance):
    html = client_for(compliance).get(url("create")).content.decode()
    labels = "Description|Request Type|Artifact Type|Audio Recording Type|Interaction Ids|Lock Expires|Lock Expires On"
    for label in [*labels.split("|"), "Remove Locks to Process Request"]:
        assert f">{label}</label>" in html, label
    assert "Up to 200 interaction ids, separated by commas, spaces or new lines." in html
    for value in ("add_lock", "remove_lock", "delete"):
        assert f'<option value="{value}">' in html
        assert CONFIRMATIONS[value] in html
    assert 'placeholder="YYYY-MM-DD"' in html and "<textarea" in html


def test_supervisor_is_not_offered_delete_or_remove_lock_and_a_forged_post_is_403(acme, supervisor):
    client = client_for(supervisor)
    form = client.get(url("create")).context["form"]
    assert [value for value, _ in form.fields["request_type"].widget.choices] == ["", "add_lock"]
    html = client.get(url("create")).content.decode()
    assert 'value="delete"' not in html and 'value="remove_lock"' not in html
    assert "Remove Locks to Process Request" not in html and CONFIRMATIONS["delete"] not in html
    call = InteractionFactory(tenant=acme)
    for request_type in ("delete", "remove_lock"):
        response = client.post(url("create"), form_data([call], request_type))
        assert response.status_code == 403, request_type
    assert not ManagementRequest.objects.exists()


def test_delete_with_remove_locks_needs_the_remove_lock_permission_too(acme):
    codenames = ("REQUESTS_READ", "REQUESTS_CREATE", "DELETE_REQUESTS")
    user = user_with(acme, *(getattr(p, f"ARTIFACTS_MANAGEMENT_{c}") for c in codenames))
    client = client_for(user)
    assert "Remove Locks to Process Request" not in client.get(url("create")).content.decode()
    call = InteractionFactory(tenant=acme)
    assert client.post(url("create"), form_data([call], "delete", remove_locks="on")).status_code == 403
    assert not ManagementRequest.objects.exists()
    assert client.post(url("create"), form_data([call], "delete")).status_code == 302


def test_compliance_officer_creates_delete_with_remove_locks(acme, compliance):
    calls = [InteractionFactory(tenant=acme) for _ in range(2)]
    response = client_for(compliance).post(url("create"), form_data(calls, "delete", remove_locks="on"))
    req = ManagementRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == url("detail", "acme", req.pk)
    assert (req.request_type, req.remove_locks, req.interaction_count) == ("delete", True, 2)
    assert req.confirmation == CONFIRMATIONS["delete"] and req.created_by_user == compliance
    assert req.status == Status.QUEUED and req.description == "Litigation hold 2024-118"


def test_add_lock_with_expiry_and_audio_type(acme, compliance):
    call = InteractionFactory(tenant=acme)
    day = timezone.now().date() + dt.timedelta(days=30)
    audio = {"artifact_type": ArtifactType.AUDIO_RECORDING, "audio_recording_type": "quality_management"}
    data = form_data([call], lock_expires="on", lock_expires_on=day.isoformat(), **audio)
    assert client_for(compliance).post(url("create"), data).status_code == 302
    req = ManagementRequest.objects.get()
    assert (req.lock_expires_on, req.audio_recording_type) == (day, "quality_management")


def test_prefill_from_the_query_string(acme, compliance):
    guids = [str(uuid.uuid4()), str(uuid.uuid4())]
    response = client_for(compliance).get(
        url("create"), {"request_type": "add_lock", "artifact_type": "any", "interaction_ids": ",".join(guids)}
    )
    html = response.content.decode()
    assert '<option value="add_lock" selected>' in html and '<option value="any" selected>' in html
    assert ",".join(guids) in html


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"interaction_ids": "not-a-guid, 12345"}, "interaction_ids", "not a valid interaction id: not-a-guid, 12345"),
        ({"confirm_add_lock": None}, "confirm_add_lock", "Confirmation: tick the box to confirm"),
        # The Delete checkbox does not confirm an Add Lock request.
        ({"confirm_add_lock": None, "confirm_delete": "on"}, "confirm_add_lock", "Confirmation: tick the box"),
        ({"artifact_type": "audio_recording"}, "audio_recording_type", "Audio Recording Type: required"),
        ({"audio_recording_type": "ivr_snippet"}, "audio_recording_type", "Audio Recording Type: only applies"),
        ({"artifact_type": "tape"}, "artifact_type", "Artifact Type: choose Any or one artifact type."),
        ({"request_type": ""}, "request_type", "Request Type: choose Add Lock, Remove Lock or Delete."),
        ({"interaction_ids": ""}, "interaction_ids", "Interaction Ids: enter at least one interaction id."),
        ({"lock_expires": "on", "lock_expires_on": "2031-02-30"}, "lock_expires_on", "enter a valid date"),
        ({"lock_expires": "on"}, "lock_expires_on", "Lock Expires On: choose the date the lock expires."),
        ({"description": "x" * 501}, "description", "Description: at most 500 characters (501 entered)."),
    ],
)
def test_each_rule_is_a_form_error_and_nothing_is_saved(acme, compliance, overrides, field, message):
    call = InteractionFactory(tenant=acme)
    response = client_for(compliance).post(url("create"), form_data([call], **overrides))
    assert response.status_code == 400
    errors = response.context["form"].errors[field]
    assert any(message in error for error in errors), errors
    assert message in response.content.decode()
    assert not ManagementRequest.objects.exists()


def test_expiry_must_be_in_the_future_in_the_tenants_time_zone(acme, compliance):
    today = timezone.now().astimezone(zoneinfo.ZoneInfo(acme.time_zone)).date()
    for day in (today - dt.timedelta(days=1), today):
        data = form_data([InteractionFactory(tenant=acme)], lock_expires="on", lock_expires_on=day.isoformat())
        response = client_for(compliance).post(url("create"), data)
        assert response.status_code == 400
        error = response.context["form"].errors["lock_expires_on"][0]
        assert f"Lock Expires On: must be a future date (today is {today:%Y-%m-%d} in Europe/Paris)" in error
    assert not ManagementRequest.objects.exists()


def test_too_many_ids_and_other_tenants_ids_are_named(acme, globex, compliance):
    theirs = InteractionFactory(tenant=globex)
    ours = InteractionFactory(tenant=acme)
    client = client_for(compliance)
    response = client.post(url("create"), form_data([ours, theirs]))
    assert response.status_code == 400
    assert f"not an interaction of Acme: {theirs.guid}" in response.context["form"].errors["interaction_ids"][0]
    many = ", ".join(str(uuid.uuid4()) for _ in range(201))
    response = client.post(url("create"), form_data([], interaction_ids=many))
    assert "201 distinct ids entered; at most 200 are allowed" in response.content.decode()
    assert not ManagementRequest.objects.exists()


def test_locked_interactions_limit_names_the_limit(acme, compliance):
    acme.locked_interactions_limit = 1
    acme.save()
    calls = [InteractionFactory(tenant=acme) for _ in range(2)]
    response = client_for(compliance).post(url("create"), form_data(calls))
    assert response.status_code == 400
    assert "the limit for Acme is 1 locked interactions" in response.context["form"].errors["interaction_ids"][0]
    assert not ManagementRequest.objects.exists()


# --- detail, cancel, retry -----------------------------------------------------------------------
def test_detail_shows_fields_results_and_totals_after_processing(acme, compliance, django_assert_max_num_queries):
    calls = [InteractionFactory(tenant=acme) for _ in range(2)]
    ArtifactFactory.create_batch(2, interaction=calls[0])
    ArtifactFactory(interaction=calls[1])
    req = make_request(acme, compliance, calls, description="Case 7")
    client = client_for(compliance)
    running = client.get(url("detail", "acme", req.pk)).content.decode()
    assert "0 of 2 interactions processed" in running and 'hx-trigger="every 2s"' in running
    assert "Cancel request" in running and "Retry" not in running
    process_request(req.pk)
    with django_assert_max_num_queries(12):
        response = client.get(url("detail", "acme", req.pk))
    html = response.content.decode()
    for text in ("Add Lock", "Any", "Case 7", compliance.username, CONFIRMATIONS["add_lock"], "Complete"):
        assert text in html, text
    assert "2 of 2 interactions processed" in html and 'hx-get="' not in html and "Cancel request" not in html
    assert f'href="{reverse("interaction-detail", args=["acme", calls[0].guid])}"' in html
    assert response.context["totals"] == {
        "processed": 2, "matched": 3, "locked": 3, "unlocked": 0, "deleted": 0, "skipped_locked": 0
    }  # fmt: skip
    assert [(i.matched, i.locked) for i in response.context["items"]] == [(2, 2), (1, 1)]
    partial = client.get(url("progress", "acme", req.pk)).content.decode()
    assert partial.strip().startswith('<div id="live" data-status="complete"') and "<html" not in partial


def test_cancel_works_only_while_queued(acme, compliance):
    req = make_request(acme, compliance, [InteractionFactory(tenant=acme)])
    client = client_for(compliance)
    response = client.post(url("cancel", "acme", req.pk), follow=True)
    assert f"Request {req.pk} was cancelled." in response.content.decode()
    assert ManagementRequest.objects.get(pk=req.pk).status == Status.CANCELLED
    done = make_request(acme, compliance, [InteractionFactory(tenant=acme)])
    process_request(done.pk)
    response = client.post(url("cancel", "acme", done.pk), follow=True)
    assert "Only a Queued request can be cancelled; this one is Complete." in response.content.decode()
    assert ManagementRequest.objects.get(pk=done.pk).status == Status.COMPLETE


def test_retry_works_only_on_error_and_needs_the_types_permissions(acme, compliance, supervisor):
    complete = make_request(acme, compliance, [InteractionFactory(tenant=acme)])
    process_request(complete.pk)
    client = client_for(compliance)
    response = client.post(url("retry", "acme", complete.pk), follow=True)
    assert "Only a request in Error can be retried; this one is Complete." in response.content.decode()
    failed = make_request(acme, compliance, [InteractionFactory(tenant=acme)], request_type="delete")
    fail_job(failed, "boom")
    html = client.get(url("detail", "acme", failed.pk)).content.decode()
    assert "boom" in html and ">Retry</button>" in html
    # A Supervisor may not create a Delete request, so may not retry one either.
    assert ">Retry</button>" not in client_for(supervisor).get(url("detail", "acme", failed.pk)).content.decode()
    assert client_for(supervisor).post(url("retry", "acme", failed.pk)).status_code == 403
    assert ManagementRequest.objects.get(pk=failed.pk).status == Status.ERROR
    response = client.post(url("retry", "acme", failed.pk), follow=True)
    assert "was queued again" in response.content.decode()
    assert ManagementRequest.objects.get(pk=failed.pk).status == Status.QUEUED


# jobs.run closes stale connections, which a test wrapped in one transaction cannot survive.
@pytest.mark.django_db(transaction=True)
def test_inline_jobs_run_the_request_when_the_form_is_saved(acme, compliance, settings):
    settings.JOBS_INLINE = True
    call = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=call)
    response = client_for(compliance).post(url("create"), form_data([call]))
    detail = client_for(compliance).get(response["Location"])
    assert detail.context["req"].status == Status.COMPLETE and detail.context["totals"]["locked"] == 1


# --- the interaction shows its locks -------------------------------------------------------------
def test_interaction_detail_shows_lock_state_with_constant_queries(acme, compliance, django_assert_max_num_queries):
    call = InteractionFactory(tenant=acme)
    audio = ArtifactFactory(interaction=call)
    script = ArtifactFactory(interaction=call, artifact_type="script", audio_recording_type="", filename="s.txt")
    req = make_request(acme, compliance, [call])
    process_request(req.pk)
    client, page = client_for(compliance), reverse("interaction-detail", args=["acme", call.guid])
    client.get(page)
    with django_assert_max_num_queries(20) as few:
        response = client.get(page)
    by_id = {a.pk: a for a in response.context["artifacts"]}
    assert [lock.request_id for lock in by_id[audio.pk].active_locks] == [req.pk] and not by_id[script.pk].active_locks
    html = response.content.decode()
    assert "Active locks" in html and f">Request {req.pk}</a>" in html and "Not locked" in html
    assert len(response.context["lock_groups"]) == 1  # Any: one row per pair, shown as one lock
    ArtifactFactory.create_batch(8, interaction=call)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(page)
