"""In Chromium: "Run the sweep now" shows the dry-run numbers, starts only when confirmed and then
shows its progress until done (a real RQ worker runs it; the page updates itself); the request form
shows what a Delete or Remove Lock will do while it is filled in, and its Submit turns destructive."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from rq import SimpleWorker

from artifacts.models import Artifact, ManagementRequest
from core.vocabulary import ArtifactState
from policies.models import SweepRun
from tests.browser.waiting import wait_until
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, management_request

pytestmark = pytest.mark.django_db(transaction=True)
POLICIES = "/t/acme/configuration/artifacts-lifecycle-policies/"


def aged(tenant, days):
    call = InteractionFactory(tenant=tenant)
    return ArtifactFactory(interaction=call, created_at=timezone.now() - timedelta(days=days))


def test_run_the_sweep_now_previews_confirms_and_shows_progress(acme, member, login, live_server, rq_queue):
    member(acme, "Administrator", username="admin-acme")
    due = [aged(acme, 400) for _ in range(3)]
    aged(acme, 10)
    management_request(acme, SYSTEM, "add_lock", [due[0].interaction], process=True)

    page = login("admin-acme")
    page.goto(f"{live_server.url}{POLICIES}")
    page.click("#run-sweep")
    page.wait_for_selector("#sweep-plan")
    plan = {name: int(page.text_content(f"#plan-{name}")) for name in ("delete", "archive", "locked", "lapsed")}
    assert plan == {"delete": 2, "archive": 0, "locked": 1, "lapsed": 0}
    confirm = page.locator("#confirm-sweep")
    colours = page.evaluate(
        """() => [document.querySelector('#confirm-sweep'), document.querySelector('.confirm-actions a')]
                 .map((el) => getComputedStyle(el).backgroundColor)"""
    )
    assert colours[0] != colours[1]  # the destructive button does not look like Back
    assert not SweepRun.objects.exists()

    confirm.click()
    page.wait_for_selector("#sweep-status")
    run = SweepRun.objects.get()
    assert page.url.endswith(f"{POLICIES}sweeps/{run.pk}/")
    assert "Queued" in page.text_content("#sweep-status")
    assert "0 of 2 planned artifacts handled" in page.text_content("#sweep-progress")

    SimpleWorker([rq_queue], connection=rq_queue.connection).work(burst=True)
    # No reload by hand: the page polls the run and shows it finished.
    # (it reloads itself when the status changes, so wait with a selector that survives navigation)
    page.wait_for_selector("#sweep-status:has-text('Complete')", timeout=20_000)
    assert "2 of 2 planned artifacts handled" in page.text_content("#sweep-progress")
    assert page.text_content("#sweep-deleted").strip() == "2"
    assert Artifact.objects.filter(state=ArtifactState.DELETED).count() == 2


def test_request_form_shows_the_impact_while_it_is_filled_in(acme, member, login, live_server):
    member(acme, "Administrator", username="admin-acme")
    calls = [InteractionFactory(tenant=acme) for _ in range(2)]
    for call in calls:
        ArtifactFactory(interaction=call)
    management_request(acme, SYSTEM, "add_lock", [calls[0]], process=True)

    page = login("admin-acme")
    page.goto(f"{live_server.url}/t/acme/configuration/artifacts-management-requests/new/")
    submit = page.locator("#request-submit")
    assert "danger" not in (submit.get_attribute("class") or "")
    page.select_option("#id_request_type", "delete")
    page.select_option("#id_artifact_type", "any")
    page.fill("#id_interaction_ids", "\n".join(str(c.guid) for c in calls))
    expect(page.locator("#ids-count-value")).to_have_text("2")  # the live count of ids entered
    wait_until(page, "document.querySelector('#impact-sentence').textContent.includes('This will delete')")
    assert page.text_content("#impact-sentence").strip() == (
        "This will delete 1 artifact of 1 interaction (1 locked will be skipped)."
    )
    expect(submit).to_have_class("danger")

    page.select_option("#id_request_type", "remove_lock")
    wait_until(page, "document.querySelector('#impact-sentence').textContent.includes('unlock')")
    assert page.text_content("#impact-sentence").strip() == "This will unlock 1 artifact of 1 interaction."
    page.select_option("#id_request_type", "add_lock")
    wait_until(page, "document.querySelector('#impact-sentence').textContent.includes('will lock')")
    expect(submit).not_to_have_class("danger")
    assert not ManagementRequest.objects.exclude(request_type="add_lock").exists()
