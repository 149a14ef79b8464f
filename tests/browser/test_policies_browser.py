"""In Chromium: a compliance officer creates a lifecycle policy, reads its impact preview, confirms;
the scheduled sweep, run by a real RQ worker, then does exactly what the preview said."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rq import SimpleWorker

from artifacts.models import Artifact
from core.vocabulary import ArtifactState
from policies import sweep
from policies.models import LifecyclePolicy, SweepRun
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, management_request

pytestmark = pytest.mark.django_db(transaction=True)
POLICIES = "/t/acme/configuration/artifacts-lifecycle-policies/"


def aged(call, days):
    return ArtifactFactory(interaction=call, created_at=timezone.now() - timedelta(days=days))


def test_policy_created_in_the_browser_is_applied_by_the_scheduled_sweep_as_previewed(
    acme, member, login, live_server, rq_queue
):
    member(acme, "Compliance Officer", username="compliance-acme")
    chats = [InteractionFactory(tenant=acme, channel="chat") for _ in range(3)]
    for call in chats:
        aged(call, 100)  # due for deletion under the new policy
        aged(call, 50)  # due for archiving
        aged(call, 5)  # not due
    locked_call = chats[0]
    management_request(acme, SYSTEM, "add_lock", [locked_call], process=True)
    voice = InteractionFactory(tenant=acme, channel="voice")
    aged(voice, 100)  # another channel: untouched

    page = login("compliance-acme")
    page.click("#configuration-menu summary")  # Configuration is a menu
    page.click("nav >> text=Artifacts Lifecycle Policies")
    page.click("text=New policy")
    page.fill("#id_name", "Chats")
    page.select_option("#id_channel", "chat")
    page.fill("#id_archive_after_days", "30")
    page.fill("#id_delete_after_days", "90")
    page.click("button:has-text('Preview impact')")
    page.wait_for_selector("#impact")
    previewed = {name: int(page.text_content(f"#impact-{name}")) for name in ("delete", "archive", "locked")}
    assert previewed == {"delete": 2, "archive": 2, "locked": 2}
    assert not LifecyclePolicy.objects.filter(name="Chats").exists()
    page.click("button:has-text('Confirm and save')")
    page.wait_for_selector("text=Lifecycle policy “Chats” created.")
    assert "Archive after 30 days, delete after 90 days" in page.text_content("table.policies")

    assert sweep.schedule_daily_sweeps() != []
    SimpleWorker([rq_queue], connection=rq_queue.connection).work(burst=True)
    run = SweepRun.objects.get(tenant=acme, trigger="schedule")
    assert (run.status, run.deleted, run.archived, run.skipped_locked) == (
        "complete",
        previewed["delete"],
        previewed["archive"],
        previewed["locked"],
    )
    assert Artifact.objects.filter(interaction=voice, state=ArtifactState.STORED).count() == 1
    page.reload()
    row = page.locator(f"#sweep-{run.pk}")
    assert "Complete" in row.text_content() and "Daily schedule" in row.text_content()
