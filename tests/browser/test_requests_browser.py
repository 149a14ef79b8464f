"""In Chromium: a compliance officer locks an interaction through the request form and a real RQ
worker runs it; a supervisor is not offered Delete and a forged Delete POST is refused; the form's
fields follow the request and artifact types."""

import re
import uuid

import pytest
from playwright.sync_api import expect
from rq import SimpleWorker

from artifacts.models import ManagementRequest
from tests.factories import ArtifactFactory, InteractionFactory

pytestmark = pytest.mark.django_db(transaction=True)
REQUESTS = "/t/acme/configuration/artifacts-management-requests/"


@pytest.fixture
def queue(rq_queue):
    return rq_queue


def test_compliance_officer_locks_an_interaction_through_the_form(acme, member, login, live_server, queue):
    member(acme, "Compliance Officer", username="compliance-acme")
    call = InteractionFactory(tenant=acme)
    recording = ArtifactFactory(interaction=call)

    page = login("compliance-acme")
    page.click("#configuration-menu summary")  # Configuration is a menu
    page.click("nav >> text=Artifacts Management Requests")
    page.click("a.button:has-text('Create')")
    page.wait_for_url(f"{live_server.url}{REQUESTS}new/")
    page.fill("#id_description", "Litigation hold 2024-118")
    page.select_option("#id_request_type", "add_lock")
    page.select_option("#id_artifact_type", "any")
    page.fill("#id_interaction_ids", str(call.guid))
    expect(page.locator("#options-add_lock legend")).to_have_text("Add Lock")  # Add Lock's options only
    page.check("#id_confirm_add_lock")
    page.screenshot(path="/tmp/req_create.png", full_page=True)
    page.click("button[type=submit]:has-text('Submit')")

    page.wait_for_url(re.compile(rf"{REQUESTS}\d+/$"))
    req = ManagementRequest.objects.get()
    assert page.url.endswith(f"{REQUESTS}{req.pk}/")
    assert page.text_content("#request-status") == "Queued"
    assert "0 of 1 interactions processed" in page.text_content("#request-progress")
    page.screenshot(path="/tmp/req_detail_queued.png", full_page=True)
    # While it runs, leaving the page asks first (the manual: open a new tab instead); Cancel stays.
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.click("main >> text=← Artifacts Management Requests")
    assert dialogs and "still processing" in dialogs[0] and page.url.endswith(f"{REQUESTS}{req.pk}/")

    assert queue.count == 1
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    # No reload here: the page notices the new status by itself.
    page.wait_for_selector("#request-status:text-is('Complete')", timeout=20_000)
    assert "1 of 1 interactions processed" in page.text_content("#request-progress")
    assert page.text_content("tr.totals td.num") == "1"  # matched
    page.screenshot(path="/tmp/req_detail.png", full_page=True)

    page.click("main >> text=← Artifacts Management Requests")
    row = page.locator(f"tr[data-href='{REQUESTS}{req.pk}/']")
    assert "Complete" in row.text_content() and "Litigation hold 2024-118" in row.text_content()
    page.screenshot(path="/tmp/req_list.png", full_page=True)
    row.locator("td", has_text="Litigation hold").click()  # the whole row opens the request
    page.wait_for_url(f"{live_server.url}{REQUESTS}{req.pk}/")
    page.click(f"text={call.guid}")
    page.wait_for_url(f"{live_server.url}/t/acme/interactions/{call.guid}/")
    state = page.text_content(f"#artifact-{recording.pk} .lock-state")
    assert "Locked" in state and f"Request {req.pk}" in state and "compliance-acme" in state
    assert f"Request {req.pk}" in page.text_content("table.active-locks")
    page.screenshot(path="/tmp/req_interaction.png", full_page=True)


def test_supervisor_is_not_offered_delete_and_a_forged_delete_is_refused(acme, member, login, live_server):
    member(acme, "Supervisor", username="supervisor-acme")
    call = InteractionFactory(tenant=acme)
    page = login("supervisor-acme")
    page.goto(f"{live_server.url}{REQUESTS}new/")
    options = page.eval_on_selector_all("#id_request_type option", "options => options.map(o => o.textContent)")
    assert options == ["Choose…", "Add Lock"]
    assert page.locator("#id_remove_locks").count() == 0 and page.locator("#id_confirm_delete").count() == 0

    token = page.input_value("input[name=csrfmiddlewaretoken]")
    forged = {
        "csrfmiddlewaretoken": token,
        "request_type": "delete",
        "artifact_type": "any",
        "interaction_ids": str(call.guid),
        "confirm_delete": "on",
    }
    response = page.request.post(f"{live_server.url}{REQUESTS}new/", form=forged)
    assert response.status == 403
    assert "ARTIFACTS_MANAGEMENT_DELETE_REQUESTS" in response.text()
    assert not ManagementRequest.objects.exists()


def test_fields_follow_the_request_and_artifact_types(acme, member, login, live_server, queue):
    """htmx fetches the dependent fields from the server as the choices change (no form script)."""
    member(acme, "Compliance Officer", username="compliance-acme")
    call = InteractionFactory(tenant=acme)
    page = login("compliance-acme")
    fragments = []
    page.on("request", lambda r: fragments.append(r.method) if r.url.endswith("/new/fields/") else None)
    page.goto(f"{live_server.url}{REQUESTS}new/")

    def shown(*names):
        for name in names:
            expect(page.locator(f"#field-{name}")).to_be_visible()

    def gone(*names):
        for name in names:
            expect(page.locator(f"#field-{name}")).to_be_hidden()

    # On load htmx narrows the page's every-type options (the page without JavaScript) to none.
    expect(page.locator("#type-options-hint")).to_be_visible()
    gone("lock_expires", "remove_locks", "audio_recording_type", "confirm_add_lock")
    page.select_option("#id_request_type", "add_lock")
    shown("lock_expires", "confirm_add_lock", "matter")
    gone("lock_expires_on")
    page.check("#id_lock_expires")
    shown("lock_expires_on")
    expect(page.locator("#id_lock_expires")).to_be_checked()
    page.fill("#id_lock_expires_on", "2000-01-01")  # stale: must not be submitted once gone

    page.select_option("#id_request_type", "remove_lock")
    shown("confirm_remove_lock", "matter")
    gone("lock_expires", "lock_expires_on", "remove_locks", "confirm_add_lock")
    expect(page.locator("#request-submit")).to_have_class("danger")
    page.select_option("#id_artifact_type", "audio_recording")
    shown("audio_recording_type")
    page.select_option("#id_artifact_type", "email")
    gone("audio_recording_type")

    page.select_option("#id_request_type", "delete")
    shown("remove_locks", "confirm_delete")
    gone("confirm_remove_lock", "matter")
    page.fill("#id_interaction_ids", f"{call.guid}, not-a-guid")
    page.check("#id_confirm_delete")
    page.click("button[type=submit]:has-text('Submit')")
    # The server judged only what was shown: the gone expiry date is not an error.
    expect(page.locator("#field-interaction_ids .error")).to_have_text(
        "Interaction Ids: not a valid interaction id: not-a-guid."
    )
    assert page.locator("#field-lock_expires .error").count() == 0
    shown("remove_locks")
    gone("lock_expires")  # the re-rendered form still follows
    page.screenshot(path="/tmp/req_errors.png", full_page=True)
    page.fill("#id_interaction_ids", str(call.guid))
    page.check("#id_confirm_delete")
    page.click("button[type=submit]:has-text('Submit')")
    page.wait_for_url(re.compile(rf"{REQUESTS}\d+/$"))
    req = ManagementRequest.objects.get()
    assert (req.request_type, req.artifact_type, req.lock_expires_on) == ("delete", "email", None)
    assert fragments and set(fragments) == {"POST"}


def test_live_count_of_ids_turns_into_an_error_above_the_maximum(acme, member, login, live_server):
    member(acme, "Compliance Officer", username="compliance-acme")
    page = login("compliance-acme")
    page.goto(f"{live_server.url}{REQUESTS}new/")
    count = page.locator("#ids-count")
    expect(count).to_have_text("0 / 200 interaction ids")
    ids = [str(uuid.uuid4()) for _ in range(201)]
    page.fill("#id_interaction_ids", ", ".join(ids[:200]))
    expect(count).to_have_text("200 / 200 interaction ids")
    assert "over" not in (count.get_attribute("class") or "")
    page.type("#id_interaction_ids", f", {ids[200]}", delay=5)
    expect(count).to_have_text("201 / 200 interaction ids — 1 too many")
    expect(count).to_have_class(re.compile(r"\bover\b"))
    page.fill("#id_interaction_ids", f"{ids[0]}\n{ids[0].upper()}; {ids[1]}")  # the server's splitting
    expect(count).to_have_text("2 / 200 interaction ids")
