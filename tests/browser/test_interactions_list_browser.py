"""In Chromium: an administrator filters the interactions list, selects three rows, clicks Protect,
confirms the prefilled request form, a real RQ worker runs the request, and back on the filtered
list exactly those three rows show the lock icon."""

import re

import pytest
from playwright.sync_api import expect
from rq import SimpleWorker

from artifacts.models import Lock, ManagementRequest
from core.vocabulary import ArtifactType, Channel, ContentKey
from tests.factories import ArtifactFactory, InteractionFactory

pytestmark = pytest.mark.django_db(transaction=True)
REQUESTS = "/t/acme/configuration/artifacts-management-requests/"


def test_filter_select_protect_and_see_the_locks(acme, member, login, live_server, rq_queue):
    member(acme, "Administrator", username="admin-acme")
    chats = []
    for _ in range(5):
        chat = InteractionFactory(tenant=acme, channel=Channel.CHAT)
        ArtifactFactory(
            interaction=chat, artifact_type=ArtifactType.MESSAGING_TRANSCRIPT, content_key=ContentKey.CHAT_TRANSCRIPT
        )
        chats.append(chat)
    calls = [InteractionFactory(tenant=acme) for _ in range(3)]

    page = login("admin-acme")
    page.goto(f"{live_server.url}/t/acme/interactions/")
    assert page.locator("tbody tr[data-guid]").count() == 8
    page.select_option("#id_channel", "chat")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"channel=chat"))
    rows = page.locator("tbody tr[data-guid]")
    assert rows.count() == 5
    assert {rows.nth(i).get_attribute("data-guid") for i in range(5)} == {str(c.guid) for c in chats}

    # Nothing selected: the buttons wait; then three rows.
    assert page.is_disabled("#protect") and page.is_disabled("#release")
    chosen = [str(chats[n].guid) for n in (0, 2, 3)]
    for guid in chosen:
        page.check(f"tr[data-guid='{guid}'] input.row-select")
    assert page.text_content("#selection-count") == "3 selected"
    # Select all, then none, then the three again: the page's own controls.
    page.check("#select-all")
    assert page.text_content("#selection-count") == "5 selected"
    page.uncheck("#select-all")
    assert page.text_content("#selection-count") == "0 selected"
    for guid in chosen:
        page.check(f"tr[data-guid='{guid}'] input.row-select")
    page.screenshot(path="/tmp/interactions_list_selected.png", full_page=True)
    page.click("#protect")

    page.wait_for_url(re.compile(rf"{REQUESTS}new/\?"))
    assert page.input_value("#id_request_type") == "add_lock"
    assert page.input_value("#id_artifact_type") == "any"
    assert set(page.input_value("#id_interaction_ids").split()) == set(chosen)
    expect(page.locator("#options-add_lock legend")).to_have_text("Add Lock")  # htmx narrowed the options
    page.check("#id_confirm_add_lock")
    page.click("button[type=submit]:has-text('Submit')")
    page.wait_for_url(re.compile(rf"{REQUESTS}\d+/$"))
    req = ManagementRequest.objects.get()
    assert (req.request_type, req.artifact_type, req.interaction_count) == ("add_lock", "any", 3)

    SimpleWorker([rq_queue], connection=rq_queue.connection).work(burst=True)
    page.wait_for_selector("#request-status:text-is('Complete')", timeout=20_000)
    assert set(Lock.objects.active().values_list("interaction__guid", flat=True).distinct()) == {
        c.guid for c in chats if str(c.guid) in chosen
    }

    page.goto(f"{live_server.url}/t/acme/interactions/?channel=chat")
    rows = page.locator("tbody tr[data-guid]")
    assert rows.count() == 5
    for i in range(5):
        guid = rows.nth(i).get_attribute("data-guid")
        icon = rows.nth(i).locator("td.lock svg.lock-icon")
        assert icon.count() == (1 if guid in chosen else 0), guid
    assert page.get_attribute(f"tr[data-guid='{chosen[0]}'] svg.lock-icon", "aria-label") == "Locked"
    page.screenshot(path="/tmp/interactions_list_locked.png", full_page=True)

    # The Locked filter agrees with the icons.
    page.select_option("#id_locked", "yes")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"locked=yes"))
    assert sorted(page.eval_on_selector_all("tbody tr[data-guid]", "rs => rs.map(r => r.dataset.guid)")) == sorted(
        chosen
    )
    assert not any(str(c.guid) in page.content() for c in calls)


def test_selection_is_capped_by_the_page_script(acme, member, login, live_server, monkeypatch):
    """The 200 cap, exercised with the cap lowered to 2 (the page hands it to the script)."""
    monkeypatch.setattr("workspace.views.MAX_SELECTED", 2)
    member(acme, "Compliance Officer", username="compliance-acme")
    for _ in range(4):
        InteractionFactory(tenant=acme)
    page = login("compliance-acme")
    page.goto(f"{live_server.url}/t/acme/interactions/")
    boxes = page.locator("input.row-select")
    boxes.nth(0).check()
    boxes.nth(1).check()
    boxes.nth(2).click()
    assert not boxes.nth(2).is_checked()
    assert page.text_content("#selection-count") == "2 selected"
    assert "At most 2 interactions per request" in page.text_content("#selection-note")
    page.click("#select-all")  # select all takes the first two only, and says so
    assert page.locator("input.row-select:checked").count() == 2
    assert "At most 2 interactions per request" in page.text_content("#selection-note")
    assert page.is_enabled("#protect") and page.is_enabled("#release")
