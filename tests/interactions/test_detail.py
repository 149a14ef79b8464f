"""The interaction page's Protected checkbox: its state from the active locks, who may change it,
the confirmation it requires, and Add Lock / Remove Lock requests run end to end by a real worker."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from rq import SimpleWorker

from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, SUPERVISOR, VIEWER
from artifacts.models import Lock, ManagementRequest
from artifacts.validation import CONFIRMATIONS
from core.vocabulary import ArtifactType, ContentKey
from tests.factories import ArtifactFactory, InteractionFactory, management_request
from tests.matrix import assert_role_matrix, client_for

EVERYONE = {VIEWER, SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR}
ADD = {"protected": "on", "confirmed": "on", "confirms": "add_lock"}
REMOVE = {"confirmed": "on", "confirms": "remove_lock"}


def detail_url(interaction):
    return reverse("interaction-detail", args=[interaction.tenant.slug, interaction.guid])


def protection_url(interaction):
    return reverse("interaction-protection", args=[interaction.tenant.slug, interaction.guid])


def checkbox(html):
    start = html.index('id="id_protected"')
    return html[html.rindex("<input", 0, start) : html.index(">", start) + 1]


@pytest.fixture
def call(acme):
    interaction = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=interaction, filename="call.wav")
    return interaction


@pytest.mark.django_db
def test_detail_role_matrix(acme, call):
    ArtifactFactory(
        interaction=call,
        artifact_type=ArtifactType.MESSAGING_TRANSCRIPT,
        content_key=ContentKey.CHAT_TRANSCRIPT,
        content=b'{"messages": []}',
        filename="chat.json",
    )
    assert_role_matrix(detail_url(call), acme, EVERYONE)


@pytest.mark.django_db
def test_protect_role_matrix(acme, call):
    assert_role_matrix(
        protection_url(call), acme, {SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR}, "post", ADD, ok_status=302
    )


@pytest.mark.django_db
def test_release_role_matrix(acme, member, call):
    management_request(acme, member(acme, ADMINISTRATOR), "add_lock", [call], process=True)
    # A Supervisor may lock but not release: 403, like the request form.
    assert_role_matrix(protection_url(call), acme, {COMPLIANCE_OFFICER, ADMINISTRATOR}, "post", REMOVE, ok_status=302)


@pytest.mark.django_db
def test_state_follows_the_locks(acme, member, call):
    admin = member(acme, ADMINISTRATOR)
    client = client_for(admin)
    html = client.get(detail_url(call)).content.decode()
    assert "checked" not in checkbox(html) and "Not protected" in html
    assert CONFIRMATIONS["add_lock"] in html and 'name="lock_expires_on"' in html

    # Email only: partly protected, and the box stays unticked (it never claims more than is held).
    management_request(acme, admin, "add_lock", [call], artifact_type=ArtifactType.EMAIL, process=True)
    html = client.get(detail_url(call)).content.decode()
    assert "checked" not in checkbox(html) and 'data-partial="true"' in checkbox(html)
    assert "Partly protected" in html and "only Email is locked" in html
    assert "request_type=remove_lock&amp;artifact_type=any" in html

    management_request(
        acme,
        admin,
        "add_lock",
        [call],
        process=True,
        lock_expires=True,
        lock_expires_on=timezone.localdate() + dt.timedelta(days=30),
    )
    html = client.get(detail_url(call)).content.decode()
    assert " checked" in checkbox(html) and "Partly" not in html
    # Email has no expiry, every other type expires in 30 days: protected through the earliest day.
    last_day = timezone.localdate() + dt.timedelta(days=30)
    assert f'through <time datetime="{last_day:%Y-%m-%d}">' in html[html.index('id="protection-state"') :][:600]
    assert CONFIRMATIONS["remove_lock"] in html and 'name="lock_expires_on"' not in html


@pytest.mark.django_db
def test_who_cannot_change_it_sees_a_disabled_box_and_why(acme, member, call):
    viewer_html = client_for(member(acme, VIEWER)).get(detail_url(call)).content.decode()
    assert (
        "disabled" in checkbox(viewer_html)
        and "Protecting needs the ARTIFACTS_MANAGEMENT_REQUESTS_CREATE" in viewer_html
    )
    assert 'id="protection-confirm"' not in viewer_html
    supervisor = member(acme, SUPERVISOR)
    assert "disabled" not in checkbox(client_for(supervisor).get(detail_url(call)).content.decode())
    management_request(acme, supervisor, "add_lock", [call], process=True)
    html = client_for(supervisor).get(detail_url(call)).content.decode()
    assert "disabled" in checkbox(html) and "ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS" in html


@pytest.mark.django_db
def test_supervisor_release_is_refused_and_saves_nothing(acme, member, call):
    supervisor = member(acme, SUPERVISOR)
    management_request(acme, supervisor, "add_lock", [call], process=True)
    response = client_for(supervisor).post(protection_url(call), REMOVE)
    assert response.status_code == 403 and b"ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS" in response.content
    assert ManagementRequest.objects.count() == 1 and Lock.objects.active().exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        {"protected": "on", "confirms": "add_lock"},  # not ticked
        {"protected": "on", "confirmed": "on", "confirms": "remove_lock"},  # ticked the other text
        {"protected": "on", "confirmed": "on"},  # no confirmation text at all
    ],
)
def test_confirmation_is_required(acme, member, call, data):
    client = client_for(member(acme, ADMINISTRATOR))
    response = client.post(protection_url(call), data, follow=True)
    assert response.redirect_chain[-1][0] == detail_url(call)
    assert f"Confirmation: tick the box to confirm — {CONFIRMATIONS['add_lock']}" in response.content.decode()
    assert not ManagementRequest.objects.exists()


@pytest.mark.django_db
def test_expiry_date_is_checked_by_the_request_rules(acme, member, call):
    client = client_for(member(acme, ADMINISTRATOR))
    html = client.post(protection_url(call), {**ADD, "lock_expires_on": "2001-01-01"}, follow=True).content.decode()
    assert "Lock Expires On: must be a future date" in html
    html = client.post(protection_url(call), {**ADD, "lock_expires_on": "soon"}, follow=True).content.decode()
    assert "Lock Expires On: enter a date as YYYY-MM-DD." in html
    assert not ManagementRequest.objects.exists()
    future = timezone.localdate() + dt.timedelta(days=10)
    client.post(protection_url(call), {**ADD, "lock_expires_on": future.isoformat()})
    req = ManagementRequest.objects.get()
    assert (req.request_type, req.artifact_type, req.lock_expires_on) == ("add_lock", "any", future)


@pytest.mark.django_db
def test_nothing_to_do_creates_no_request(acme, member, call):
    client = client_for(member(acme, ADMINISTRATOR))
    html = client.post(protection_url(call), REMOVE, follow=True).content.decode()
    assert "no locks to release; nothing was changed" in html
    management_request(acme, member(acme, ADMINISTRATOR), "add_lock", [call], process=True)
    html = client.post(protection_url(call), ADD, follow=True).content.decode()
    assert "already protected; nothing was changed" in html
    assert ManagementRequest.objects.count() == 1


@pytest.mark.django_db
def test_other_tenants_interaction_is_404(acme, globex, member):
    theirs = InteractionFactory(tenant=globex)
    client = client_for(member(acme, ADMINISTRATOR))
    url = reverse("interaction-protection", args=["acme", theirs.guid])
    assert client.post(url, ADD).status_code == 404
    assert client.get(protection_url(theirs)).status_code in (404,)  # another tenant: not revealed
    assert not ManagementRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_protect_and_release_end_to_end_through_a_real_worker(acme, member, rq_queue):
    call = InteractionFactory(tenant=acme)
    recording = ArtifactFactory(interaction=call, filename="call.wav")
    voicemail = ArtifactFactory(
        interaction=call, artifact_type=ArtifactType.VOICEMAIL, content_key="voicemail-42", filename="vm.wav"
    )
    compliance = member(acme, COMPLIANCE_OFFICER, username="compliance")
    client = client_for(compliance)

    response = client.post(protection_url(call), ADD, follow=True)
    req = ManagementRequest.objects.get()
    assert (req.request_type, req.artifact_type, req.created_by, req.interaction_count) == (
        "add_lock",
        "any",
        "compliance",
        1,
    )
    html = response.content.decode()
    link = reverse("management-request-detail", args=["acme", req.pk])
    assert f'<a href="{link}">Request {req.pk} (Add Lock)</a> to protect this interaction was queued.' in html
    assert 'is <span class="status status-queued">Queued</span>' in html
    assert rq_queue.count == 1
    SimpleWorker([rq_queue], connection=rq_queue.connection).work(burst=True)
    req.refresh_from_db()
    assert req.status == ManagementRequest.Status.COMPLETE
    html = client.get(detail_url(call)).content.decode()
    assert " checked" in checkbox(html) and "is <span" not in html
    locked = html[html.index(f'id="artifact-{recording.pk}"') :]
    assert "Locked" in locked[: locked.index("</tr>")] and f"Request {req.pk}" in locked[: locked.index("</tr>")]
    vm_row = html[html.index(f'id="artifact-{voicemail.pk}"') :]
    assert "Not locked" in vm_row[: vm_row.index("</tr>")]  # Voicemail is outside Any

    client.post(protection_url(call), REMOVE)
    release = ManagementRequest.objects.latest("id")
    assert (release.request_type, release.artifact_type) == ("remove_lock", "any")
    SimpleWorker([rq_queue], connection=rq_queue.connection).work(burst=True)
    release.refresh_from_db()
    assert release.status == ManagementRequest.Status.COMPLETE
    assert not Lock.objects.active().filter(interaction=call).exists()
    html = client.get(detail_url(call)).content.decode()
    assert "checked" not in checkbox(html) and "Not protected" in html
