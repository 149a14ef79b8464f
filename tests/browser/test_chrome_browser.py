"""In Chromium: the GUID column's Copy button puts the full id on the clipboard; the tenant switcher
takes a member of two tenants from one to the other; the skip link is the first Tab stop and takes
the keyboard to the page's content; Configuration opens as a menu."""

import pytest

from tests.factories import InteractionFactory, MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_copy_guid(acme, member, login, live_server, browser):
    member(acme, "Viewer", username="viewer-acme")
    call = InteractionFactory(tenant=acme)
    page = login("viewer-acme")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(f"{live_server.url}/t/acme/interactions/")
    cell = page.locator(f"tr[data-guid='{call.guid}'] td.guid")
    assert cell.locator("code").get_attribute("title") == str(call.guid)
    button = cell.locator("button.copy")
    assert button.is_visible()  # the script shows it once the clipboard is there
    button.click()
    page.wait_for_selector(f"tr[data-guid='{call.guid}'] button.copy:has-text('Copied')")
    assert page.evaluate("() => navigator.clipboard.readText()") == str(call.guid)


def test_tenant_switcher_skip_link_and_configuration_menu(acme, globex, member, login, live_server):
    user = member(acme, "Administrator", username="admin-both")
    MembershipFactory(user=user, tenant=globex, role_name="Viewer")
    page = login("admin-both")
    page.goto(f"{live_server.url}/t/acme/interactions/")

    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").is_visible()  # visible when focused
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"

    menu = page.locator("#configuration-menu")
    assert not page.locator("#configuration-menu >> text=Audit Trail").is_visible()
    menu.locator("summary").click()
    page.click("#configuration-menu >> text=Audit Trail")
    page.wait_for_url(f"{live_server.url}/t/acme/configuration/audit/")

    page.click("details.switcher summary")
    page.click("details.switcher >> text=Globex")
    page.wait_for_url(f"{live_server.url}/t/globex/interactions/")
    assert "Globex" in page.text_content("details.switcher summary")
    # A viewer in Globex: the menu offers only what a viewer may open.
    page.locator("#configuration-menu summary").click()
    assert page.locator("#configuration-menu a").all_text_contents() == ["Legal Holds", "Artifacts Lifecycle Policies"]
