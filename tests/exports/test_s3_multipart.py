"""On S3 (moto on loopback) the bundle goes up as a multipart upload while it is written: parts of
EXPORT_PART_BYTES, never more than one part buffered, under the prefix "exports/" of the active
bucket; the stored object is the verified zip, and a failure aborts the upload."""

import os

import pytest

from accounts.actors import user_actor
from artifacts.models import Artifact
from config import jobs
from core.vocabulary import ArtifactType
from exports import services, streams
from exports.models import Export
from exports.verify import verify_bundle
from tests.exports.conftest import read_bundle
from tests.factories import ArtifactFactory, InteractionFactory

pytestmark = pytest.mark.django_db
PART = 5 * 1024 * 1024


@pytest.fixture
def big(s3_storages, acme):
    call = InteractionFactory(tenant=acme)
    return [
        ArtifactFactory(interaction=call, content=os.urandom(6 * 1024 * 1024), content_type="audio/wav"),
        ArtifactFactory(
            interaction=call,
            artifact_type=ArtifactType.QM_SCREEN_RECORDING,
            audio_recording_type="",
            content_key="5b0e3f9a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
            content=os.urandom(5 * 1024 * 1024 + 17),
            content_type="video/mp4",
        ),
    ]


def test_the_bundle_is_uploaded_in_parts_with_one_part_buffered(
    acme, officer, big, s3_storages, s3_client, monkeypatch, settings
):
    settings.EXPORT_PART_BYTES = PART
    sent, buffered = [], []
    original_send, original_write = streams.S3MultipartWriter._send, streams.S3MultipartWriter.write

    def send(self, part):
        sent.append(len(part))
        return original_send(self, part)

    def write(self, data):
        result = original_write(self, data)
        buffered.append(self.buffered)
        return result

    monkeypatch.setattr(streams.S3MultipartWriter, "_send", send)
    monkeypatch.setattr(streams.S3MultipartWriter, "write", write)
    export = services.create_export(acme.pk, user_actor(officer), filters={})
    jobs.work("export", export.pk)
    export = Export.objects.get(pk=export.pk)
    assert export.status == Export.Status.COMPLETE, export.error_message
    assert len(sent) == 3 and sent[:2] == [PART, PART] and sum(sent) == export.size
    assert max(buffered) < PART, "never a whole part left waiting"
    active_bucket = s3_storages[0]
    assert export.storage_key.startswith(f"t{acme.pk}/exports/")
    head = s3_client.head_object(Bucket=active_bucket, Key=f"exports/{export.storage_key}")
    assert head["ContentLength"] == export.size and head["ETag"].strip('"').endswith("-3")
    manifest = verify_bundle(read_bundle(export))
    assert {entry["id"] for entry in manifest["artifacts"]} == {a.pk for a in big}


def test_a_failure_aborts_the_multipart_upload(acme, officer, big, s3_storages, s3_client, settings):
    settings.EXPORT_PART_BYTES = PART
    Artifact.objects.filter(pk=big[1].pk).update(sha256="f" * 64)  # the second artifact, after a part went up
    export = services.create_export(acme.pk, user_actor(officer), filters={})
    jobs.work("export", export.pk)
    export = Export.objects.get(pk=export.pk)
    assert export.status == Export.Status.ERROR and "SHA-256" in export.error_message
    active_bucket = s3_storages[0]
    assert not s3_client.list_multipart_uploads(Bucket=active_bucket).get("Uploads")
    assert s3_client.list_objects_v2(Bucket=active_bucket, Prefix="exports/").get("KeyCount", 0) == 0
