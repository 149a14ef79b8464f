"""In Chromium: a Compliance Officer opens a legal matter, places a hold under it through the request
form (the Matter field shows for Add Lock and Remove Lock only), a real RQ worker runs it, the matter
and the interaction pages show the hold, and releasing the whole matter frees it."""

import re

import pytest
from playwright.sync_api import expect
from rq import SimpleWorker

from artifacts.models import Lock, ManagementRequest, Matter
from tests.factories import ArtifactFactory, InteractionFactory

pytestmark = pytest.mark.django_db(transaction=True)
HOLDS = "/t/acme/configuration/legal-holds/"


def test_hold_under_a_matter_then_release_it(acme, member, login, live_server, rq_queue):
    member(acme, "Compliance Officer", username="compliance-acme")
    call = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=call)
    page = login("compliance-acme")

    page.click("#configuration-menu summary")  # Configuration is a menu
    page.click("#configuration-menu >> text=Legal Holds")
    page.click("a.button:has-text('New matter')")
    page.fill("#id_case_id", "2024-CV-118")
    page.fill("#id_name", "Smith v. Acme")
    page.fill("#id_reason", "Hold letter from counsel, 2024-11-02")
    page.select_option("#id_owner", label="compliance-acme")
    page.click("button[type=submit]:has-text('Save')")
    matter = Matter.objects.get()
    page.wait_for_url(f"{live_server.url}{HOLDS}{matter.pk}/")

    page.click("text=Add Lock under this matter…")
    page.wait_for_url(re.compile(r"/artifacts-management-requests/new/\?"))
    expect(page.locator("#options-add_lock")).to_be_visible()  # htmx narrowed the options to Add Lock's
    assert page.input_value("#id_matter") == "2024-CV-118" and page.is_visible("#field-matter")
    page.select_option("#id_request_type", "delete")
    expect(page.locator("#field-matter")).to_be_hidden()  # a Delete request names no matter
    page.select_option("#id_request_type", "remove_lock")
    expect(page.locator("#field-matter")).to_be_visible()
    page.select_option("#id_request_type", "add_lock")
    expect(page.locator("#id_confirm_add_lock")).to_be_visible()
    page.select_option("#id_artifact_type", "any")
    page.fill("#id_interaction_ids", str(call.guid))
    page.check("#id_confirm_add_lock")
    page.click("button[type=submit]:has-text('Submit')")
    page.wait_for_url(re.compile(r"/artifacts-management-requests/\d+/$"))
    SimpleWorker([rq_queue], connection=rq_queue.connection).work(burst=True)
    assert set(Lock.objects.values_list("matter_id", flat=True)) == {matter.pk}

    page.goto(f"{live_server.url}{HOLDS}")
    row = page.locator("table.matters tr", has_text="2024-CV-118")
    assert re.search(r"Smith v\. Acme.*\b1\b.*\b1\b", " ".join(row.text_content().split()))
    page.goto(f"{live_server.url}/t/acme/interactions/{call.guid}/")
    assert "2024-CV-118 · Smith v. Acme" in page.text_content("#held-by-matters")

    page.goto(f"{live_server.url}{HOLDS}{matter.pk}/")
    page.check("#release-form input[name=confirmed]")
    page.click("#release-form button")
    page.wait_for_url(f"{live_server.url}{HOLDS}{matter.pk}/")
    release = ManagementRequest.objects.get(request_type="remove_lock")
    assert release.matter_id == matter.pk
    SimpleWorker([rq_queue], connection=rq_queue.connection).work(burst=True)
    page.reload()
    assert "holds nothing now" in page.text_content("table.matter-locks")
    assert not Lock.objects.active().exists()
