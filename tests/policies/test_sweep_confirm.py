""" "Run the sweep now" shows what it will do first (the ``--dry-run`` numbers), starts only when
confirmed, and then shows the run's progress until it ends."""

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import AuditEvent
from artifacts.models import Artifact
from core.vocabulary import ArtifactState
from policies.models import SweepRun
from tests.factories import ArtifactFactory, InteractionFactory, management_request
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db
BASE = "/t/acme/configuration/artifacts-lifecycle-policies/"
EVERYONE = ("Viewer", "Supervisor", "Compliance Officer", "Administrator")


def aged(tenant, days, **fields):
    call = InteractionFactory(tenant=tenant, **fields)
    return ArtifactFactory(interaction=call, created_at=timezone.now() - timedelta(days=days))


def number(html, element_id):
    return int(re.search(rf'id="{element_id}">(\d+)<', html).group(1))


def test_the_preview_shows_the_dry_run_numbers_and_changes_nothing(acme, member):
    due = [aged(acme, 400) for _ in range(3)]
    aged(acme, 10)  # not due
    management_request(acme, member(acme, "Administrator"), "add_lock", [due[0].interaction], process=True)
    client = client_for(member(acme, "Administrator"))

    html = client.get(f"{BASE}sweeps/").content.decode()
    dry_run = io.StringIO()
    call_command("apply_lifecycle_policies", "--tenant", "acme", "--dry-run", stdout=dry_run)
    row = next(line for line in dry_run.getvalue().splitlines() if line.startswith("acme"))
    assert (
        [int(n) for n in row.split()[1:]]
        == [
            number(html, "plan-delete"),
            number(html, "plan-archive"),
            number(html, "plan-locked"),
            number(html, "plan-lapsed"),
        ]
        == [2, 0, 1, 0]
    )
    assert "cannot be retrieved" in html
    # The confirm button is the destructive one; Back is a plain link back to the list.
    assert re.search(r'<button type="submit" name="confirm" value="yes" class="danger"', html)
    assert f'<a class="button secondary" href="{BASE}">Back</a>' in html
    assert not SweepRun.objects.exists()
    assert not Artifact.objects.filter(state=ArtifactState.DELETED).exists()


def test_a_post_without_confirmation_starts_nothing(acme, member):
    aged(acme, 400)
    response = client_for(member(acme, "Administrator")).post(f"{BASE}sweeps/")
    assert response.status_code == 200 and 'id="plan-delete">1<' in response.content.decode()
    assert not SweepRun.objects.exists()
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.SWEEP_STARTED).exists()


def test_confirmed_run_keeps_its_plan_and_its_page_refreshes_until_done(acme, member, settings):
    aged(acme, 400)
    aged(acme, 400)
    client = client_for(member(acme, "Administrator"))
    response = client.post(f"{BASE}sweeps/", {"confirm": "yes"})
    run = SweepRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{BASE}sweeps/{run.pk}/"
    assert (run.planned_delete, run.planned_archive, run.status) == (2, 0, "queued")

    page = client.get(f"{BASE}sweeps/{run.pk}/").content.decode()
    assert "0 of 2 planned artifacts handled" in page
    assert f'hx-get="{BASE}sweeps/{run.pk}/progress/" hx-trigger="every 2s"' in page
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page  # works without JavaScript

    from config import jobs

    jobs.work("lifecycle_sweep", run.pk)
    done = client.get(f"{BASE}sweeps/{run.pk}/progress/").content.decode()
    assert "2 of 2 planned artifacts handled" in done and "hx-get" not in done and "Complete" in done
    assert 'http-equiv="refresh"' not in client.get(f"{BASE}sweeps/{run.pk}/").content.decode()


def test_run_pages_role_matrix_and_tenant(acme, globex, member):
    aged(acme, 400)
    client_for(member(acme, "Administrator")).post(f"{BASE}sweeps/", {"confirm": "yes"})
    run = SweepRun.objects.get()
    assert_role_matrix(f"{BASE}sweeps/{run.pk}/", acme, EVERYONE)
    assert_role_matrix(f"{BASE}sweeps/{run.pk}/progress/", acme, EVERYONE)
    other = client_for(member(globex, "Administrator"))
    assert other.get(f"/t/globex/configuration/artifacts-lifecycle-policies/sweeps/{run.pk}/").status_code == 404
