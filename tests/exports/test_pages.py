"""Configuration > Exports: who may see, create and download exports (role matrix), the list's
statements, creating one from the list's filters, the selected rows and a request's page, bad input
going back with its message, the streamed download (audited) and an expired export's answer."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.urls import reverse

from accounts.actors import user_actor
from accounts.models import AuditEvent
from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER
from config import jobs
from exports import runner, services
from exports.models import Export, ExportSchedule
from tests.factories import management_request
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db
ALLOWED = {COMPLIANCE_OFFICER, ADMINISTRATOR}


@pytest.fixture
def done(acme, officer, content):
    export = services.create_export(acme.pk, user_actor(officer), filters={})
    jobs.work("export", export.pk)
    return Export.objects.get(pk=export.pk)


def test_role_matrix_of_every_page(acme, done):
    base = "/t/acme/configuration/exports/"
    for url in (base, f"{base}{done.pk}/", f"{base}{done.pk}/progress/", f"{base}{done.pk}/manifest.json"):
        assert_role_matrix(url, acme, allowed=ALLOWED)
    assert_role_matrix(f"{base}{done.pk}/download/", acme, allowed=ALLOWED)
    assert_role_matrix(f"{base}new/", acme, allowed=ALLOWED, method="post", data={"query_string": ""}, ok_status=302)


def test_another_tenants_export_is_not_found(acme, globex, member, done):
    user = member(globex, ADMINISTRATOR)
    response = client_for(user).get(f"/t/globex/configuration/exports/{done.pk}/")
    assert response.status_code == 404


def test_the_list_shows_status_progress_and_download_in_constant_statements(
    acme, officer, done, django_assert_max_num_queries
):
    for _ in range(3):
        services.create_export(acme.pk, user_actor(officer), filters={"channel": "chat"})
    client = client_for(officer)
    with django_assert_max_num_queries(12):
        response = client.get("/t/acme/configuration/exports/")
    page = response.content.decode()
    start = page.index('<table class="list" id="exports">')
    table = page[start : page.index("</table>", start)]
    assert response.status_code == 200 and table.count("<tr>") == 5  # header + 4 exports
    assert reverse("export-download", args=["acme", done.pk]) in page and "4 of 4 artifacts" in page
    assert 'href="/t/acme/configuration/exports/"' in page  # the Configuration menu links it


def test_the_detail_page_shows_the_manifest_and_its_signature(acme, officer, done):
    page = client_for(officer).get(f"/t/acme/configuration/exports/{done.pk}/").content.decode()
    assert done.sha256 in page and json.loads(done.manifest_signature)["key_fingerprint"] in page
    for entry in json.loads(done.manifest)["artifacts"]:
        assert entry["sha256"][:16] in page
    sig = client_for(officer).get(f"/t/acme/configuration/exports/{done.pk}/manifest.sig")
    assert sig.content.decode() == done.manifest_signature


def test_export_from_the_lists_filters_and_from_the_selected_rows(acme, officer, content):
    client = client_for(officer)
    response = client.post("/t/acme/configuration/exports/new/", {"query_string": "direction=outbound&sort=oldest"})
    export = Export.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/t/acme/configuration/exports/{export.pk}/"
    assert export.filters == {"direction": "outbound"} and export.interaction_count == 2
    assert export.status == Export.Status.QUEUED  # written by a worker once the transaction commits
    chosen = content["chat"]
    client.post("/t/acme/configuration/exports/new/", {"query_string": "", "interaction_ids": [str(chosen.guid)]})
    second = Export.objects.order_by("-pk").first()
    assert second.selection == "interactions" and second.interaction_ids == [chosen.pk]
    page = client.get("/t/acme/interactions/").content.decode()
    assert 'id="export-bundle-form"' in page


def test_export_from_a_requests_page(acme, officer, content):
    req = management_request(acme, officer, "add_lock", content["calls"], process=True)
    client = client_for(officer)
    page = client.get(f"/t/acme/configuration/artifacts-management-requests/{req.pk}/").content.decode()
    assert 'id="export-request-form"' in page
    client.post("/t/acme/configuration/exports/new/", {"request_id": req.pk})
    export = Export.objects.get()
    jobs.work("export", export.pk)
    export.refresh_from_db()
    assert export.request_id == req.pk and export.interaction_count == 2 and export.artifact_total == 3


def test_bad_filters_go_back_to_the_list_with_the_message_and_save_nothing(acme, officer, content, settings):
    client = client_for(officer)
    response = client.post(
        "/t/acme/configuration/exports/new/", {"query_string": "started_from=yesterday"}, follow=True
    )
    assert "Export not created — filters: From date" in response.content.decode()
    assert response.redirect_chain[0][0].startswith("/t/acme/interactions/?started_from=yesterday")
    settings.EXPORT_MAX_INTERACTIONS = 1
    response = client.post("/t/acme/configuration/exports/new/", {"query_string": ""}, follow=True)
    assert "at most 1 (EXPORT_MAX_INTERACTIONS)" in response.content.decode()
    assert not Export.objects.exists()


def test_the_download_streams_the_zip_and_is_audited(acme, officer, done):
    response = client_for(officer).get(f"/t/acme/configuration/exports/{done.pk}/download/")
    assert response.status_code == 200 and response.streaming
    data = b"".join(response.streaming_content)
    assert len(data) == done.size == int(response["Content-Length"])
    assert response["Content-Disposition"] == f'attachment; filename="{done.filename}"'
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("manifest.json").decode() == done.manifest
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_DOWNLOADED)
    assert event.actor_user_id == officer.pk and event.source == "web" and event.details["export"] == done.pk


def test_an_expired_export_is_gone(acme, officer, done):
    runner.expire_all(now=done.expires_at + timedelta(minutes=1))
    client = client_for(officer)
    response = client.get(f"/t/acme/configuration/exports/{done.pk}/download/")
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert "Download zip" not in client.get(f"/t/acme/configuration/exports/{done.pk}/").content.decode()
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT_DOWNLOADED).exists()


def test_daily_archives_on_the_page(acme, officer, member):
    client = client_for(officer)
    data = {"name": "Dialer", "direction": "outbound", "origin": "dialer", "hour": "4", "starts_on": "2026-11-01"}
    assert_role_matrix(
        "/t/acme/configuration/exports/schedules/new/",
        acme,
        allowed=ALLOWED,
        method="post",
        data={**data, "name": ""},
        ok_status=400,
    )
    response = client.post("/t/acme/configuration/exports/schedules/new/", data)
    assert response.status_code == 302
    schedule = ExportSchedule.objects.get(tenant=acme)
    assert (schedule.direction, schedule.origin, schedule.hour) == ("outbound", "dialer", 4)
    bad = client.post("/t/acme/configuration/exports/schedules/new/", {**data, "hour": "25"})
    assert bad.status_code == 400 and "less than or equal to 23" in bad.content.decode()
    page = client.get("/t/acme/configuration/exports/").content.decode()
    assert "Dialer" in page and "Turn off" in page
    assert_role_matrix(
        f"/t/acme/configuration/exports/schedules/{schedule.pk}/toggle/",
        acme,
        allowed=ALLOWED,
        method="post",
        ok_status=302,
    )
    schedule.refresh_from_db()
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT_SCHEDULE_CHANGED).count() == 2
