"""Configuration > Artifacts Lifecycle Policies: who sees and changes what; preview, confirm, save."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from policies.models import LifecyclePolicy, SweepRun
from tests.factories import ArtifactFactory, InteractionFactory
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db
BASE = "/t/acme/configuration/artifacts-lifecycle-policies/"
MANAGERS = ("Compliance Officer", "Administrator")
EVERYONE = ("Viewer", "Supervisor", *MANAGERS)
NEW = {
    "name": "Voice 10",
    "enabled": "on",
    "channel": "voice",
    "delete_after_days": "10",
}


def aged(tenant, days, **fields):
    call = InteractionFactory(tenant=tenant, **fields)
    return ArtifactFactory(interaction=call, created_at=timezone.now() - timedelta(days=days))


def test_role_matrix(acme):
    default = LifecyclePolicy.objects.get(tenant=acme, is_default=True)
    assert_role_matrix(BASE, acme, EVERYONE)
    assert_role_matrix(f"{BASE}new/", acme, MANAGERS)
    assert_role_matrix(f"{BASE}{default.pk}/edit/", acme, MANAGERS)
    assert_role_matrix(f"{BASE}{default.pk}/disable/", acme, MANAGERS)
    assert_role_matrix(f"{BASE}new/", acme, MANAGERS, method="post", data=NEW)
    assert_role_matrix(f"{BASE}sweeps/", acme, MANAGERS)
    assert_role_matrix(f"{BASE}sweeps/", acme, MANAGERS, method="post", data={"confirm": "yes"}, ok_status=302)


def test_viewer_sees_policies_read_only(acme, member):
    response = client_for(member(acme, "Viewer")).get(BASE)
    body = response.content.decode()
    assert "Outbound dialer recordings" in body and "Everything else" in body
    assert "Delete after 30 days" in body
    assert "New policy" not in body and "/edit/" not in body and "Run the sweep now" not in body


def test_create_shows_the_impact_then_saves_on_confirmation(acme, member):
    client = client_for(member(acme, "Compliance Officer"))
    aged(acme, 11)
    aged(acme, 12)
    aged(acme, 5)
    response = client.post(f"{BASE}new/", NEW)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="impact-delete">2<' in body and 'id="impact-archive">0<' in body
    assert not LifecyclePolicy.objects.filter(name="Voice 10").exists(), "nothing is saved before confirming"
    response = client.post(f"{BASE}new/", {**NEW, "confirm": "yes"})
    assert response.status_code == 302
    policy = LifecyclePolicy.objects.get(name="Voice 10")
    assert (policy.channel, policy.delete_after_days, policy.enabled) == ("voice", 10, True)
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.POLICY_CREATED, reason="Voice 10").exists()


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"name": ""}, "name", "Name: enter a name."),
        ({"delete_after_days": "", "archive_after_days": ""}, "delete_after_days", "Delete After (days): choose what"),
        (
            {"archive_after_days": "20"},
            "delete_after_days",
            "Delete After (days): must be more days than Archive After (20)",
        ),
        ({"keep_forever": "on"}, "delete_after_days", "keeps forever cannot also delete"),
        (
            {"delete_after_days": "0"},
            "delete_after_days",
            "Delete After (days): enter a number of days from 1 to 36500",
        ),
        ({"delete_after_days": "ten"}, "delete_after_days", "Delete After (days): enter a whole number."),
        ({"audio_recording_type": "ivr_snippet"}, "audio_recording_type", "Audio Recording Type: only applies to"),
        ({"channel": "pigeon"}, "channel", "Channel: select a valid choice"),
        ({"name": "Everything else"}, "name", "Name: a policy named “Everything else” exists already"),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(acme, member, data, field, message):
    client = client_for(member(acme, "Administrator"))
    before = LifecyclePolicy.objects.count()
    response = client.post(f"{BASE}new/", {**NEW, **data, "confirm": "yes"})
    assert response.status_code == 400
    form = response.context["form"]
    assert message in " ".join(form.errors[field])
    # The field is named once, in each of its messages.
    label = form.fields[field].label
    assert all(m.count(label) == 1 and m.startswith(f"{label}: ") for m in form.errors[field])
    assert LifecyclePolicy.objects.count() == before


def test_edit_the_default_policy_has_no_selectors(acme, member):
    client = client_for(member(acme, "Administrator"))
    default = LifecyclePolicy.objects.get(tenant=acme, is_default=True)
    response = client.get(f"{BASE}{default.pk}/edit/")
    assert "channel" not in response.context["form"].fields
    response = client.post(
        f"{BASE}{default.pk}/edit/",
        {"name": "Everything else", "enabled": "on", "delete_after_days": "730", "confirm": "yes"},
    )
    assert response.status_code == 302
    default.refresh_from_db()
    assert default.delete_after_days == 730
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.POLICY_CHANGED)
    assert event.details["changed"]["delete_after_days"] == [365, 730]


def test_disable_and_delete_preview_then_confirm(acme, member):
    client = client_for(member(acme, "Administrator"))
    keep = LifecyclePolicy.objects.create(tenant=acme, name="Keep voice", channel="voice", keep_forever=True)
    aged(acme, 400)
    response = client.get(f"{BASE}{keep.pk}/disable/")
    assert 'id="impact-delete">1<' in response.content.decode()
    assert client.post(f"{BASE}{keep.pk}/disable/").status_code == 302
    keep.refresh_from_db()
    assert not keep.enabled
    response = client.get(f"{BASE}{keep.pk}/delete/")
    assert 'id="impact-delete">0<' in response.content.decode(), "already disabled: deleting changes nothing"
    client.post(f"{BASE}{keep.pk}/delete/")
    assert not LifecyclePolicy.objects.filter(pk=keep.pk).exists()
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.POLICY_DELETED, reason="Keep voice").exists()


def test_default_policy_cannot_be_deleted_from_the_page(acme, member):
    client = client_for(member(acme, "Administrator"))
    default = LifecyclePolicy.objects.get(tenant=acme, is_default=True)
    response = client.post(f"{BASE}{default.pk}/delete/", follow=True)
    assert "cannot be deleted" in response.content.decode()
    assert LifecyclePolicy.objects.filter(pk=default.pk).exists()


def test_other_tenants_policy_is_404(acme, globex, member):
    client = client_for(member(acme, "Administrator"))
    theirs = LifecyclePolicy.objects.get(tenant=globex, is_default=True)
    assert client.get(f"{BASE}{theirs.pk}/edit/").status_code == 404
    assert client.post(f"{BASE}{theirs.pk}/delete/").status_code == 404
    assert client.get(f"{BASE}{theirs.pk}/explode/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_run_now_records_a_run_shown_on_the_page(acme, member, settings):
    settings.JOBS_INLINE = True
    client = client_for(member(acme, "Administrator"))
    aged(acme, 31, direction="outbound", origin="dialer")
    response = client.post(f"{BASE}sweeps/", {"confirm": "yes"}, follow=True)
    run = SweepRun.objects.get()
    assert (run.trigger, run.status, run.deleted) == ("page", "complete", 1)
    assert response.redirect_chain[-1][0] == f"{BASE}sweeps/{run.pk}/"
    assert f'id="sweep-{run.pk}"' in client.get(BASE).content.decode()
