"""Export bundles: the zip holds exactly the selected artifacts' bytes (hashes), interactions.csv and
a manifest whose Ed25519 signature verifies with the audit signing key; a checksum mismatch fails the
export and keeps nothing; every step is audited; the permission is checked by the service."""

import hashlib
import json
import zipfile

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts import checkpoints
from accounts.actors import user_actor
from accounts.models import AuditEvent
from accounts.permissions import ADMINISTRATOR, SUPERVISOR, VIEWER
from artifacts.models import Artifact
from artifacts.storage import get_storage
from config import jobs
from exports import services
from exports.models import Export
from exports.verify import BundleInvalid, verify_bundle
from tests.exports.conftest import read_bundle
from tests.factories import InteractionFactory, TenantFactory, management_request

pytestmark = pytest.mark.django_db


def export_of(tenant, user, **selection):
    export = services.create_export(tenant.pk, user_actor(user), **selection)
    jobs.work("export", export.pk)
    return Export.objects.get(pk=export.pk)


def test_the_zip_holds_each_artifacts_bytes_and_a_signed_manifest(any_storage, acme, officer, content):
    export = export_of(acme, officer, filters={})
    assert export.status == Export.Status.COMPLETE, export.error_message
    assert (export.artifact_total, export.artifacts_done) == (4, 4)
    assert export.bytes_total == export.bytes_done == sum(a.size for a in content["artifacts"])
    bundle = read_bundle(export)
    assert hashlib.sha256(bundle.getvalue()).hexdigest() == export.sha256 and len(bundle.getvalue()) == export.size
    manifest = verify_bundle(bundle, trusted_fingerprints={checkpoints.key_fingerprint()})
    with zipfile.ZipFile(bundle) as archive:
        by_id = {entry["id"]: entry for entry in manifest["artifacts"]}
        assert set(by_id) == {a.pk for a in content["artifacts"]}
        for artifact in content["artifacts"]:
            entry = by_id[artifact.pk]
            data = archive.read(entry["path"])
            assert hashlib.sha256(data).hexdigest() == artifact.sha256 == entry["sha256"]
            assert entry["interaction_guid"] == str(artifact.interaction.guid)
            assert (entry["type"], entry["content_key"], entry["size"]) == (
                artifact.artifact_type,
                artifact.content_key,
                artifact.size,
            )
            assert entry["created_at"].endswith("Z") and entry["locked"] is False
            assert entry["metadata"] == {"campaign": "spring"}
        csv_text = archive.read("interactions.csv").decode()
        assert csv_text.startswith("GUID,") and csv_text.count("\n") == 4  # header + 3 interactions
        assert archive.read("manifest.json").decode() == export.manifest
        assert "openssl pkeyutl -verify" in archive.read("README.md").decode()
    assert manifest["selection"]["interaction_count"] == 3 and manifest["tenant_slug"] == "acme"


def test_a_tampered_manifest_or_file_does_not_verify(acme, officer, content):
    export = export_of(acme, officer, filters={})
    original = read_bundle(export)

    def rewritten(change):
        out = __import__("io").BytesIO()
        with zipfile.ZipFile(original) as source, zipfile.ZipFile(out, "w") as target:
            for info in source.infolist():
                target.writestr(info.filename, change(info.filename, source.read(info.filename)))
        out.seek(0)
        return out

    def manifest_edit(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["artifacts"][0]["sha256"] = "0" * 64
        return json.dumps(manifest, indent=1).encode()

    with pytest.raises(BundleInvalid, match="signature"):
        verify_bundle(rewritten(manifest_edit))
    first = json.loads(export.manifest)["artifacts"][0]["path"]
    with pytest.raises(BundleInvalid, match=first):
        verify_bundle(rewritten(lambda name, data: b"other bytes" if name == first else data))
    with pytest.raises(BundleInvalid, match="not trusted"):
        verify_bundle(read_bundle(export), trusted_fingerprints={"f" * 64})


def test_selection_by_interactions_by_request_and_by_type(acme, officer, content):
    call = content["calls"][0]
    by_guid = export_of(acme, officer, interaction_ids=[str(call.guid)])
    assert {e["interaction_guid"] for e in json.loads(by_guid.manifest)["artifacts"]} == {str(call.guid)}
    assert by_guid.artifact_total == 2
    req = management_request(acme, officer, "add_lock", [content["chat"]], process=True)
    by_request = export_of(acme, officer, request_id=req.pk)
    entries = json.loads(by_request.manifest)["artifacts"]
    assert [e["interaction_guid"] for e in entries] == [str(content["chat"].guid)] and entries[0]["locked"] is True
    transcripts = export_of(acme, officer, filters={"artifact_type": "messaging_transcript"})
    assert [e["type"] for e in json.loads(transcripts.manifest)["artifacts"]] == ["messaging_transcript"]
    outbound = export_of(acme, officer, filters={"direction": "outbound"})
    assert outbound.interaction_count == 2 and outbound.artifact_total == 3


@pytest.mark.parametrize(
    "selection, field",
    [
        ({"filters": {"started_from": "not a date"}}, "filters"),
        ({"interaction_ids": ["nope"]}, "interaction_ids"),
        ({"interaction_ids": ["6f1c3a47-3f1e-4c55-9a3e-2b1f0c1d2e3f"]}, "interaction_ids"),
        ({"request_id": 999999}, "request"),
        ({"request_id": "x"}, "request"),
        ({"filters": {"channel": "voice"}, "interaction_ids": ["a"]}, "selection"),
        ({"filters": {"started_from": "2001-01-01", "started_to": "2001-01-02"}}, "selection"),
        ({"filters": {}, "artifact_type": "film"}, "artifact_type"),
    ],
)
def test_bad_selection_names_the_field_and_saves_nothing(acme, officer, content, selection, field):
    with pytest.raises(ValidationError) as caught:
        services.create_export(acme.pk, user_actor(officer), **selection)
    assert field in caught.value.message_dict, caught.value.message_dict
    assert not Export.objects.exists()
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT_CREATED).exists()


def test_more_interactions_than_the_limit_are_refused(acme, officer, content, settings):
    settings.EXPORT_MAX_INTERACTIONS = 2
    with pytest.raises(ValidationError, match="at most 2"):
        services.create_export(acme.pk, user_actor(officer), filters={})
    assert services.create_export(acme.pk, user_actor(officer), filters={"direction": "outbound"})


def test_other_tenants_interactions_are_not_found(acme, officer, content):
    other = InteractionFactory(tenant=TenantFactory())
    with pytest.raises(ValidationError, match=str(other.guid)):
        services.create_export(acme.pk, user_actor(officer), interaction_ids=[str(other.guid)])


@pytest.mark.parametrize("role, allowed", [(VIEWER, False), (SUPERVISOR, False), (ADMINISTRATOR, True)])
def test_only_roles_with_export_content_may_export(acme, member, content, role, allowed):
    user = member(acme, role)
    if allowed:
        assert services.create_export(acme.pk, user_actor(user), filters={})
    else:
        with pytest.raises(PermissionDenied, match="EXPORT_CONTENT"):
            services.create_export(acme.pk, user_actor(user), filters={})


def test_a_checksum_mismatch_fails_the_export_and_keeps_nothing(any_storage, acme, officer, content):
    bad = content["artifacts"][2]
    Artifact.objects.filter(pk=bad.pk).update(sha256="0" * 64)
    export = export_of(acme, officer, filters={})
    assert export.status == Export.Status.ERROR and f"Artifact {bad.pk}" in export.error_message
    assert export.storage_key == "" and export.sha256 == "" and export.manifest == ""
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_FAILED)
    assert event.details["export"] == export.pk and "SHA-256" in event.reason
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT_COMPLETED).exists()
    kind, where = any_storage
    if kind == "filesystem":
        assert not any(p.is_file() for p in (where[0].parent / "exports").rglob("*"))
    else:
        client = get_storage("exports")._client
        assert client.list_objects_v2(Bucket=where[0], Prefix="exports/").get("KeyCount", 0) == 0
        assert not client.list_multipart_uploads(Bucket=where[0]).get("Uploads")


def test_created_and_completed_are_audited_in_the_creators_name(acme, officer, content):
    export = export_of(acme, officer, filters={"channel": "voice"}, description="for counsel")
    created = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_CREATED)
    assert created.actor_user_id == officer.pk and created.reason == "for counsel"
    assert created.details["filters"] == {"channel": "voice"} and created.details["interactions"] == 2
    completed = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_COMPLETED)
    assert completed.actor_label == officer.username and completed.details["sha256"] == export.sha256
    assert export.expires_at is not None and (export.expires_at - export.finished_at).days == 7


def test_an_export_runs_with_the_grants_its_creator_holds_then(acme, officer, content):
    from accounts.models import Membership
    from accounts.services import remove_member
    from tests.factories import SYSTEM

    export = services.create_export(acme.pk, user_actor(officer), filters={})
    remove_member(Membership.objects.get(user=officer, tenant=acme).pk, SYSTEM)
    jobs.work("export", export.pk)
    export.refresh_from_db()
    assert export.status == Export.Status.ERROR and "EXPORT_CONTENT" in export.error_message
