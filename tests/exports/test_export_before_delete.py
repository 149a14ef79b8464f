"""Export before delete: a Delete request or a lifecycle policy that requires it deletes only content
held by a verified export (the stored zip read back and checked against the manifest and the
artifacts), exporting what has none first; a failed export deletes nothing; each artifact and its
tombstone record the export (Genesys's export date)."""

import hashlib
import zipfile
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from accounts import checkpoints
from accounts.actors import user_actor
from accounts.models import AuditEvent
from accounts.permissions import ADMINISTRATOR
from artifacts import export_gate
from artifacts import services as artifact_services
from artifacts.models import Artifact, ManagementRequest
from artifacts.storage import get_storage
from config import jobs
from core.vocabulary import ArtifactState, Direction, Origin
from exports import runner
from exports import services as export_services
from exports.bundle import ExportFailed
from exports.models import Export
from exports.verify import verify_bundle
from policies import services as policy_services
from policies.models import LifecyclePolicy, SweepRun
from tests.exports.conftest import read_bundle
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, management_request

pytestmark = pytest.mark.django_db
DELETE = ManagementRequest.RequestType.DELETE


@pytest.fixture
def admin(acme, member):
    return member(acme, ADMINISTRATOR)


def rows(artifacts):
    return {a.pk: a for a in Artifact.objects.filter(pk__in=[a.pk for a in artifacts])}


def test_a_delete_request_exports_verifies_then_deletes_and_each_tombstone_names_the_export(
    any_storage, acme, admin, content
):
    calls = content["calls"]
    req = management_request(acme, admin, DELETE, calls, process=True, require_export=True)
    assert req.status == ManagementRequest.Status.COMPLETE, req.error_message
    export = Export.objects.get(selection=Export.Selection.DELETION)
    assert export.status == Export.Status.COMPLETE and export.verified_at is not None
    assert export.created_by == "Export before deletion" and f"Artifacts Management Request {req.pk}" in (
        export.description
    )
    deleted = [a for a in content["artifacts"] if a.interaction_id in {c.pk for c in calls}]
    manifest = verify_bundle(read_bundle(export), trusted_fingerprints={checkpoints.key_fingerprint()})
    with zipfile.ZipFile(read_bundle(export)) as archive:
        in_zip = {e["id"]: hashlib.sha256(archive.read(e["path"])).hexdigest() for e in manifest["artifacts"]}
    assert in_zip == {a.pk: a.sha256 for a in deleted}, "the zip holds the bytes of exactly what was deleted"
    for row in rows(deleted).values():
        assert row.state == ArtifactState.DELETED
        assert (row.exported_in, row.exported_at) == (export.pk, export.verified_at)
        event = AuditEvent.objects.get(kind=AuditEvent.Kind.ARTIFACT_DELETED, artifact_id=row.pk)
        assert event.details["export"] == export.pk
    chat = content["artifacts"][3]
    assert rows([chat])[chat.pk].state == ArtifactState.STORED and rows([chat])[chat.pk].exported_at is None
    completed = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_COMPLETED, details__export=export.pk)
    assert completed.details["verified"] is True and completed.actor_label == "Export before deletion"
    items = list(req.items.order_by("position").values_list("deleted", "not_exported", "skipped_locked"))
    assert items == [(2, 0, 0), (1, 0, 0)]


def test_a_failed_export_deletes_nothing_and_a_retry_after_the_fix_deletes(any_storage, acme, admin, officer, content):
    # The chat is in a verified export already; the request's export fails on the second call.
    chat_export = export_services.create_export(
        acme.pk, user_actor(officer), interaction_ids=[str(content["chat"].guid)]
    )
    jobs.work("export", chat_export.pk)
    bad = content["artifacts"][2]  # the second call's recording no longer reads back as recorded
    recorded = bad.sha256
    Artifact.objects.filter(pk=bad.pk).update(sha256="0" * 64)
    calls = [*content["calls"], content["chat"]]
    req = management_request(acme, admin, DELETE, calls, process=True, require_export=True)
    assert req.status == ManagementRequest.Status.ERROR and req.retryable
    kept = content["artifacts"]
    assert {row.state for row in rows(kept).values()} == {ArtifactState.STORED}, "the export failed: nothing went"
    assert all(get_storage("active").exists(a.storage_key) for a in kept)
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_DELETED).exists()
    export = Export.objects.get(selection=Export.Selection.DELETION)
    assert export.status == Export.Status.ERROR and not export.storage_key
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT_FAILED, details__export=export.pk).exists()
    items = list(req.items.order_by("position"))
    assert [(i.status, i.deleted, i.not_exported, i.skipped_locked) for i in items] == [
        ("error", 0, 2, 0),
        ("error", 0, 1, 0),
        ("error", 0, 1, 0),  # exported before, yet kept: a failed export deletes nothing of its request's batch
    ]
    assert "not exported" in items[0].error and f"export {export.pk}" in items[0].error
    # Once the content reads back as recorded, a retry exports it and deletes it.
    Artifact.objects.filter(pk=bad.pk).update(sha256=recorded)
    artifact_services.retry_management_request(req.pk, user_actor(admin))
    jobs.work("management_request", req.pk)
    req.refresh_from_db()
    assert req.status == ManagementRequest.Status.COMPLETE, req.error_message
    assert {row.state for row in rows(kept).values()} == {ArtifactState.DELETED}
    assert {row.exported_in for row in rows(kept).values()} != {None}


def test_content_already_in_a_verified_export_is_deleted_without_a_new_one(acme, admin, officer, content):
    earlier = export_services.create_export(acme.pk, user_actor(officer), filters={})
    jobs.work("export", earlier.pk)
    earlier.refresh_from_db()
    assert earlier.verified_at is not None
    everything = rows(content["artifacts"])
    assert {row.exported_in for row in everything.values()} == {earlier.pk}
    assert {row.exported_at for row in everything.values()} == {earlier.verified_at}
    req = management_request(acme, admin, DELETE, content["calls"], process=True, require_export=True)
    assert req.status == ManagementRequest.Status.COMPLETE
    assert Export.objects.count() == 1, "no second export: the daily archive or earlier export counts"
    gone = [row for row in rows(content["artifacts"]).values() if row.state == ArtifactState.DELETED]
    assert len(gone) == 3 and {row.exported_in for row in gone} == {earlier.pk}


def test_the_decision_refuses_content_no_verified_export_holds_whatever_the_exporter_did(
    acme, admin, content, monkeypatch
):
    """The guarantee sits where the deletion is decided, under the row locks: an exporter that
    returns without exporting (a bug, a lost write) cannot get unexported content deleted."""
    monkeypatch.setattr(export_gate, "_exporter", lambda *args, **kwargs: None)
    ids = [a.pk for a in content["artifacts"]]
    result = artifact_services.delete_artifacts(acme.pk, ids, user_actor(admin), "test", require_export=True)
    assert result.done == [] and sorted(result.unexported) == sorted(ids)
    assert {row.state for row in rows(content["artifacts"]).values()} == {ArtifactState.STORED}
    # Without the requirement the same call deletes them.
    result = artifact_services.delete_artifacts(acme.pk, ids, user_actor(admin), "test")
    assert sorted(result.done) == sorted(ids)


def test_a_stored_zip_that_does_not_read_back_as_written_fails_verification(acme, officer, content):
    export = export_services.create_export(acme.pk, user_actor(officer), filters={})
    jobs.work("export", export.pk)
    export.refresh_from_db()
    storage = get_storage("exports")
    data = bytearray(read_bundle(export).getvalue())
    with zipfile.ZipFile(read_bundle(export)) as archive:
        first = archive.infolist()[0]
    data[first.header_offset + 30 + len(first.filename) + 5] ^= 0xFF  # a byte of the first artifact's content
    path = storage.backend.path(export.storage_key)
    with open(path, "wb") as handle:
        handle.write(bytes(data))
    with pytest.raises(ExportFailed, match="does not verify"):
        runner.verify_stored(export, storage, export.storage_key, export.storage_version, export.size, export.manifest)


def test_an_export_nobody_downloaded_no_longer_counts_once_it_expired(acme, officer, content):
    unfetched = export_services.create_export(acme.pk, user_actor(officer), interaction_ids=[str(content["chat"].guid)])
    fetched = export_services.create_export(
        acme.pk, user_actor(officer), interaction_ids=[str(content["calls"][0].guid)]
    )
    for export in (unfetched, fetched):
        jobs.work("export", export.pk)
    export_services.record_download(fetched.pk, user_actor(officer))
    Export.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert runner.expire_all() == 2
    chat, first_call = content["artifacts"][3], content["artifacts"][0]
    assert rows([chat])[chat.pk].exported_at is None, "its bundle is gone and nobody has it"
    assert rows([first_call])[first_call.pk].exported_in == fetched.pk, "downloaded: the customer has it"


def test_a_policy_that_requires_an_export_has_the_sweep_export_first(any_storage, acme, content):
    dialer = LifecyclePolicy.objects.get(tenant=acme, name="Outbound dialer recordings")
    policy_services.update_policy(dialer.pk, SYSTEM, require_export=True)
    call = InteractionFactory(tenant=acme, direction=Direction.OUTBOUND, origin=Origin.DIALER)
    old = timezone.now() - timedelta(days=31)
    due = [ArtifactFactory(interaction=call, created_at=old), ArtifactFactory(interaction=call, created_at=old)]
    other = ArtifactFactory(
        interaction=InteractionFactory(tenant=acme), created_at=timezone.now() - timedelta(days=400)
    )
    run = policy_services.start_sweep(acme.pk, SYSTEM, SweepRun.Trigger.COMMAND, enqueue=False)
    jobs.work("lifecycle_sweep", run.pk)
    run.refresh_from_db()
    assert (run.status, run.deleted, run.errors) == ("complete", 3, 0)
    export = Export.objects.get(selection=Export.Selection.DELETION)
    assert export.interaction_ids == [call.pk], "only the policy that requires it exports"
    assert {row.exported_in for row in rows(due).values()} == {export.pk}
    assert rows([other])[other.pk].state == ArtifactState.DELETED and rows([other])[other.pk].exported_in is None
    assert "once in a verified export" in LifecyclePolicy.objects.get(pk=dialer.pk).action_label


def test_the_sweep_keeps_what_a_failed_export_was_for_and_says_so(acme, content):
    dialer = LifecyclePolicy.objects.get(tenant=acme, name="Outbound dialer recordings")
    policy_services.update_policy(dialer.pk, SYSTEM, require_export=True)
    call = InteractionFactory(tenant=acme, direction=Direction.OUTBOUND, origin=Origin.DIALER)
    due = ArtifactFactory(interaction=call, created_at=timezone.now() - timedelta(days=31))
    Artifact.objects.filter(pk=due.pk).update(sha256="f" * 64)
    run = policy_services.start_sweep(acme.pk, SYSTEM, SweepRun.Trigger.COMMAND, enqueue=False)
    jobs.work("lifecycle_sweep", run.pk)
    run.refresh_from_db()
    assert (run.status, run.deleted, run.errors) == ("error", 0, 1)
    assert run.error_details[0]["action"] == "export before delete" and run.error_details[0]["artifact"] == due.pk
    assert "failed" in run.error_details[0]["error"]
    assert rows([due])[due.pk].state == ArtifactState.STORED


def test_export_before_deleting_is_only_for_delete_requests_everywhere(acme, admin, content):
    with pytest.raises(ValidationError) as caught:
        management_request(acme, admin, ManagementRequest.RequestType.ADD_LOCK, content["calls"], require_export=True)
    assert "Export Before Deleting" in caught.value.message_dict["require_export"][0]
    client = Client()
    client.force_login(admin)
    page = f"/t/{acme.slug}/configuration/artifacts-management-requests/new/?request_type=delete"
    form = client.get(page).content.decode()
    assert 'name="require_export"' in form and "Export Before Deleting" in form


def test_the_api_takes_require_export_and_shows_each_artifacts_export_date(acme, content):
    from tests.api.conftest import Integrator

    client = Integrator(acme)
    guids = [str(c.guid) for c in content["calls"]]
    bad = client.post("/api/v1/requests", {"requestType": "delete", "interactionIds": guids, "requireExport": "yes"})
    assert bad.status_code == 400 and {e["field"] for e in bad.json()["errors"]} == {"requireExport"}
    made = client.post("/api/v1/requests", {"requestType": "delete", "interactionIds": guids, "requireExport": True})
    assert made.status_code in (201, 202), made.content
    assert made.json()["requireExport"] is True
    jobs.work("management_request", made.json()["id"])
    shown = client.get(f"/api/v1/requests/{made.json()['id']}").json()
    assert shown["status"] == "complete" and shown["totals"]["notExported"] == 0
    item = client.get(f"/api/v1/interactions/{guids[0]}").json()
    export = Export.objects.get(selection=Export.Selection.DELETION)
    assert {(c["exportId"], c["exportDate"] is not None) for c in item["content"]} == {(export.pk, True)}


@pytest.mark.django_db(transaction=True)  # as in a worker: no test transaction around the job
def test_a_failed_export_leaves_the_deleting_jobs_slot_held(acme, content):
    """The export runs in the deleting job's process; its failure must not close the connection that
    holds the job's slot (a session advisory lock): the reaper would then take the job for lost."""
    from django.db import connection

    from exports.before_delete import export_before_delete

    bad = content["artifacts"][0]
    Artifact.objects.filter(pk=bad.pk).update(sha256="0" * 64)

    def slot_held():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
            )
            return cursor.fetchone()[0] == 1

    with jobs.slot(4242, 7) as mine:
        assert mine and slot_held()
        with pytest.raises(export_gate.ExportBeforeDeleteFailed, match="failed"):
            export_before_delete(acme.pk, [bad.pk], reason="test")
        assert slot_held(), "the deleting job still holds its slot"
    assert Export.objects.get().status == Export.Status.ERROR
