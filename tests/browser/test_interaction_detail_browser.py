"""In Chromium: the Protected checkbox on the interaction page — tick, confirm in the dialog, a real
RQ worker runs the request, the page updates itself to Protected with the lock shown; unticking
asks again (Cancel leaves everything as it was) and releases. Without JavaScript the same form works."""

import pytest
from rq import SimpleWorker

from artifacts.models import Lock, ManagementRequest
from artifacts.validation import CONFIRMATIONS
from tests.browser.waiting import wait_until
from tests.factories import ArtifactFactory, InteractionFactory

pytestmark = pytest.mark.django_db(transaction=True)


def work(queue):
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_protect_and_release_with_the_checkbox(acme, member, login, live_server, rq_queue):
    member(acme, "Compliance Officer", username="compliance-acme")
    call = InteractionFactory(tenant=acme)
    recording = ArtifactFactory(interaction=call, filename="call.wav", content_type="audio/wav")
    page = login("compliance-acme")
    page.goto(f"{live_server.url}/t/acme/interactions/{call.guid}/")
    box, dialog = page.locator("#id_protected"), page.locator("#protection-dialog")
    assert not box.is_checked() and "Not protected" in page.text_content("#protection-state")
    assert not page.is_visible("#protection-confirm")  # the script moved it into the dialog

    box.check()
    assert dialog.is_visible()
    assert CONFIRMATIONS["add_lock"] in dialog.text_content() and page.is_visible("#id_lock_expires_on")
    page.screenshot(path="/tmp/interaction_protect_dialog.png", full_page=True)
    page.click("#protection-dialog >> text=Cancel")
    # The dialog's "close" event (which puts the box back) is dispatched asynchronously.
    wait_until(page, "!document.querySelector('#id_protected').checked")
    assert not dialog.is_visible()
    assert not ManagementRequest.objects.exists()

    box.check()
    page.check("#id_confirmed")
    page.click("#protection-submit")
    page.wait_for_selector(".messages >> text=to protect this interaction was queued")
    req = ManagementRequest.objects.get()
    assert (req.request_type, req.artifact_type) == ("add_lock", "any")
    assert page.get_attribute(".messages a", "href") == f"/t/acme/configuration/artifacts-management-requests/{req.pk}/"
    assert "Queued" in page.text_content(".pending-request")

    work(rq_queue)
    # No reload by hand: the page polls the request and reloads when it has finished.
    page.wait_for_selector(".pending-request", state="detached", timeout=20_000)
    assert page.locator("#id_protected").is_checked()
    assert "Protected" in page.text_content("#protection-state")
    state = page.text_content(f"#artifact-{recording.pk} .lock-state")
    assert "Locked" in state and f"Request {req.pk}" in state and "compliance-acme" in state
    page.screenshot(path="/tmp/interaction_protected.png", full_page=True)

    box = page.locator("#id_protected")
    box.uncheck()
    assert CONFIRMATIONS["remove_lock"] in page.text_content("#protection-dialog")
    page.keyboard.press("Escape")  # closing the dialog any way puts the box back
    wait_until(page, "document.querySelector('#id_protected').checked")
    assert ManagementRequest.objects.count() == 1
    box.uncheck()
    page.check("#id_confirmed")
    page.click("#protection-submit")
    page.wait_for_selector(".messages >> text=to release this interaction was queued")
    work(rq_queue)
    page.wait_for_selector(".pending-request", state="detached", timeout=20_000)
    assert not page.locator("#id_protected").is_checked()
    assert "Not locked" in page.text_content(f"#artifact-{recording.pk} .lock-state")
    assert not Lock.objects.active().filter(interaction=call).exists()


def test_without_javascript_the_form_confirms_and_saves(acme, member, browser, live_server):
    member(acme, "Supervisor", username="supervisor-acme")
    call = InteractionFactory(tenant=acme)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", "supervisor-acme")
        page.fill("#id_password", "holdfast-test")
        page.click("button[type=submit]")
        page.goto(f"{live_server.url}/t/acme/interactions/{call.guid}/")
        assert page.is_visible("#protection-confirm") and CONFIRMATIONS["add_lock"] in page.text_content(
            "#protection-confirm"
        )
        page.check("#id_protected")
        page.check("#id_confirmed")
        page.click("#protection-submit")
        assert "to protect this interaction was queued" in page.text_content(".messages")
        assert ManagementRequest.objects.get().request_type == "add_lock"
    finally:
        context.close()
