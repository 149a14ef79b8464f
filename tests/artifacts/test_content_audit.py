"""Reads are audited: a play (not each seek range), a download, an email attachment download and
content shown on the interaction page each leave one event naming actor, tenant, interaction and
artifact; reads that send no content (HEAD, 416, refusals) leave none."""

import os
import socket

import pytest
from botocore.config import Config
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, SUPERVISOR, VIEWER
from artifacts.rendering import MISSING_MESSAGE, UNREACHABLE_MESSAGE
from artifacts.storage import get_storage
from core.vocabulary import ArtifactType, Channel, ContentKey
from tests.factories import ArtifactFactory, InteractionFactory, demo_email_artifact
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db
Kind = AuditEvent.Kind
DATA = bytes(range(256)) * 400  # 102,400 bytes


@pytest.fixture
def recording(acme):
    return ArtifactFactory(interaction=InteractionFactory(tenant=acme), content=DATA, filename="call.wav")


@pytest.fixture
def demo_email(acme):
    interaction = InteractionFactory(tenant=acme, channel=Channel.EMAIL)
    return demo_email_artifact(interaction, 7, "0d3c5a1e-1111-4c3b-9e2f-7a6b5c4d3e2f")


def events(kind):
    return list(AuditEvent.objects.filter(kind=kind).order_by("id"))


def play(client, artifact, range_header=None):
    headers = {"range": range_header} if range_header else {}
    response = client.get(reverse("artifact-play", args=["acme", artifact.pk]), headers=headers)
    b"".join(getattr(response, "streaming_content", [b""]))
    return response


def test_attachment_download_role_matrix(acme, demo_email):
    artifact, _ = demo_email
    everyone = {VIEWER, SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR}
    assert_role_matrix(reverse("artifact-attachment", args=["acme", artifact.pk, 0]), acme, everyone)


def test_one_play_is_one_event_however_many_ranges_it_seeks(acme, member, recording):
    user = member(acme)
    client = client_for(user)
    assert play(client, recording, "bytes=0-").status_code == 206  # the media element starts
    assert play(client, recording, "bytes=60000-").status_code == 206  # seek
    assert play(client, recording, "bytes=30000-40000").status_code == 206  # seek back
    (event,) = events(Kind.ARTIFACT_PLAYED)
    assert (event.tenant_id, event.actor_user, event.actor_label) == (acme.pk, user, user.username)
    assert (event.interaction_guid, event.artifact_id) == (recording.interaction.guid, recording.pk)
    assert event.details == {"filename": "call.wav", "range": f"bytes 0-{len(DATA) - 1}/{len(DATA)}"}
    play(client, recording)  # played again from the start (no Range): a second play
    assert len(events(Kind.ARTIFACT_PLAYED)) == 2
    assert not events(Kind.ARTIFACT_DOWNLOADED)


def test_a_range_that_skips_byte_zero_is_still_recorded_without_an_earlier_play(acme, member, recording):
    first, second = client_for(member(acme)), member(acme)
    play(first, recording, "bytes=0-")
    # Another user's first read starts mid-file: not a seek of *their* play, so it is recorded.
    play(client_for(second), recording, "bytes=1-")
    played = events(Kind.ARTIFACT_PLAYED)
    assert len(played) == 2 and played[1].actor_user == second
    assert played[1].details["range"] == f"bytes 1-{len(DATA) - 1}/{len(DATA)}"


def test_download_is_its_own_kind(acme, member, recording):
    client = client_for(member(acme))
    response = client.get(reverse("artifact-download", args=["acme", recording.pk]))
    assert b"".join(response.streaming_content) == DATA
    (event,) = events(Kind.ARTIFACT_DOWNLOADED)
    assert event.artifact_id == recording.pk and event.details == {"filename": "call.wav"}
    # A play does not count as the seek of a download, nor the reverse.
    play(client, recording, "bytes=500-")
    assert len(events(Kind.ARTIFACT_PLAYED)) == 1


def test_head_unsatisfiable_and_refused_reads_record_nothing(acme, globex, member, recording):
    client = client_for(member(acme))
    assert client.head(reverse("artifact-play", args=["acme", recording.pk])).status_code == 200
    assert play(client, recording, "bytes=999999-").status_code == 416
    outsider = client_for(member(globex, ADMINISTRATOR))
    assert outsider.get(reverse("artifact-download", args=["acme", recording.pk])).status_code == 404
    assert not AuditEvent.objects.filter(kind__in=[Kind.ARTIFACT_PLAYED, Kind.ARTIFACT_DOWNLOADED]).exists()


def test_attachment_download_is_audited_with_its_name(acme, member, demo_email):
    artifact, attachment = demo_email
    user = member(acme)
    response = client_for(user).get(reverse("artifact-attachment", args=["acme", artifact.pk, 0]))
    assert response.status_code == 200 and response.content == attachment.data
    assert response["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in response["Content-Security-Policy"]
    (event,) = events(Kind.ARTIFACT_DOWNLOADED)
    assert (event.actor_user, event.interaction_guid, event.artifact_id) == (
        user,
        artifact.interaction.guid,
        artifact.pk,
    )
    assert event.details == {"attachment": attachment.filename, "attachment_position": 0}


def test_missing_attachment_is_404_and_not_audited(acme, member, demo_email):
    artifact, _ = demo_email
    response = client_for(member(acme)).get(reverse("artifact-attachment", args=["acme", artifact.pk, 5]))
    assert response.status_code == 404 and b"This email has no attachment 6." in response.content
    assert not events(Kind.ARTIFACT_DOWNLOADED)


def test_html_attachment_is_sent_as_bytes_never_as_a_page(acme, member):
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "b@example.com", "page"
    message.set_content("see attached")
    message.add_attachment(b"<script>alert(1)</script>", maintype="text", subtype="html", filename="../../evil.html")
    artifact = ArtifactFactory(
        interaction=InteractionFactory(tenant=acme, channel=Channel.EMAIL),
        artifact_type=ArtifactType.EMAIL,
        content_key="7a0e2b7c-2222-4c3b-9e2f-7a6b5c4d3e2f",
        content=message.as_bytes(),
        filename="message.eml",
    )
    response = client_for(member(acme)).get(reverse("artifact-attachment", args=["acme", artifact.pk, 0]))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="_.._evil.html"'


def test_page_view_records_one_viewed_event_per_artifact_shown(acme, member, demo_email):
    artifact, _ = demo_email
    interaction = artifact.interaction
    chat = ArtifactFactory(
        interaction=interaction,
        artifact_type=ArtifactType.MESSAGING_TRANSCRIPT,
        content_key=ContentKey.CHAT_TRANSCRIPT,
        content=b'{"messages": [{"author": "Carla", "text": "Hi"}]}',
        filename="chat.json",
    )
    broken = ArtifactFactory(
        interaction=interaction,
        artifact_type=ArtifactType.MESSAGING_TRANSCRIPT,
        content_key=ContentKey.CHAT_TRANSCRIPT,
        content=b"{broken",
        filename="chat2.json",
    )
    ArtifactFactory(interaction=interaction, filename="call.wav")  # played, not shown on the page
    user = member(acme)
    url = reverse("interaction-detail", args=["acme", interaction.guid])
    client_for(user).get(url)
    viewed = events(Kind.ARTIFACT_VIEWED)
    assert sorted(e.artifact_id for e in viewed) == sorted([artifact.pk, chat.pk])  # not the malformed one
    assert {(e.actor_user, e.tenant_id, e.interaction_guid) for e in viewed} == {(user, acme.pk, interaction.guid)}
    client_for(user).get(url)
    assert len(events(Kind.ARTIFACT_VIEWED)) == 4
    assert broken.pk not in {e.artifact_id for e in events(Kind.ARTIFACT_VIEWED)}
    assert not events(Kind.ARTIFACT_PLAYED)  # preload="none": opening the page plays nothing


def test_without_content_access_nothing_is_rendered_or_recorded(acme, member, demo_email):
    from accounts import services
    from accounts.models import Role
    from tests.factories import SYSTEM

    artifact, _ = demo_email
    role = Role.objects.get(tenant=acme, name=VIEWER)
    services.set_role_permissions(role.pk, ["view_interactions"], SYSTEM)
    client = client_for(member(acme, VIEWER))
    html = client.get(reverse("interaction-detail", args=["acme", artifact.interaction.guid])).content.decode()
    assert "You do not have the “Play and download content” permission" in html
    assert "Best regards" not in html and "attachments/0/" not in html
    assert client.get(reverse("artifact-attachment", args=["acme", artifact.pk, 0])).status_code == 403
    reads = (AuditEvent.Kind.ARTIFACT_VIEWED, AuditEvent.Kind.ARTIFACT_PLAYED, AuditEvent.Kind.ARTIFACT_DOWNLOADED)
    assert not AuditEvent.objects.filter(kind__in=reads).exists()


# --- bytes gone: answered as unavailable, recorded as nothing ---------------------------------
def remove_bytes(artifact, s3_client=None):
    """Take the artifact's bytes out of its storage behind the database's back, as a crash between
    the storage delete and the tombstone (or a hand in the bucket) leaves them."""
    storage = get_storage(artifact.storage_name)
    if storage.is_s3:
        s3_client.delete_object(
            Bucket=storage.backend.bucket_name,
            Key=storage._s3_key(artifact.storage_key),
            VersionId=artifact.storage_version,
        )
    else:
        os.remove(storage.backend.path(artifact.storage_key))


READS = [
    ("artifact-download", None),
    ("artifact-play", "bytes=500-"),  # a seek, which would count as a read of its own
]


@pytest.mark.parametrize(("view", "range_header"), READS)
def test_a_read_whose_bytes_are_gone_is_410_and_not_audited(acme, member, any_storage, s3_client, view, range_header):
    kind, _ = any_storage
    artifact = ArtifactFactory(interaction=InteractionFactory(tenant=acme), content=DATA, filename="call.wav")
    if kind == "filesystem":
        remove_bytes(artifact)
    else:
        remove_bytes(artifact, s3_client)
    headers = {"range": range_header} if range_header else {}
    response = client_for(member(acme)).get(reverse(view, args=["acme", artifact.pk]), headers=headers)
    assert response.status_code == 410
    assert MISSING_MESSAGE in response.content.decode() and response["Content-Type"].startswith("text/html")
    assert not events(Kind.ARTIFACT_PLAYED) and not events(Kind.ARTIFACT_DOWNLOADED)


def test_an_attachment_whose_email_is_gone_is_410_and_not_audited(acme, member, any_storage, s3_client, demo_email):
    kind, _ = any_storage
    artifact, _ = demo_email
    remove_bytes(artifact, s3_client if kind == "s3" else None)
    response = client_for(member(acme)).get(reverse("artifact-attachment", args=["acme", artifact.pk, 0]))
    assert response.status_code == 410 and MISSING_MESSAGE in response.content.decode()
    assert not events(Kind.ARTIFACT_DOWNLOADED)


@pytest.mark.s3
def test_an_unreachable_storage_is_503_and_not_audited(acme, member, settings, s3_storages, demo_email):
    recording = ArtifactFactory(interaction=InteractionFactory(tenant=acme), content=DATA)
    email, _ = demo_email
    dead = {**settings.STORAGES["active"]["OPTIONS"], "endpoint_url": f"http://127.0.0.1:{_closed_port()}"}
    dead["client_config"] = Config(retries={"max_attempts": 0}, connect_timeout=2)
    settings.STORAGES = {**settings.STORAGES, "active": {**settings.STORAGES["active"], "OPTIONS": dead}}
    client = client_for(member(acme))
    for url in (
        reverse("artifact-download", args=["acme", recording.pk]),
        reverse("artifact-play", args=["acme", recording.pk]),
        reverse("artifact-attachment", args=["acme", email.pk, 0]),
    ):
        response = client.get(url)
        assert response.status_code == 503 and response["Retry-After"] == "60"
        assert UNREACHABLE_MESSAGE in response.content.decode()
    assert not events(Kind.ARTIFACT_PLAYED) and not events(Kind.ARTIFACT_DOWNLOADED)


def _closed_port():
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.s3
def test_a_missing_bucket_is_a_storage_problem_not_missing_content(acme, member, settings, s3_storages):
    recording = ArtifactFactory(interaction=InteractionFactory(tenant=acme), content=DATA)
    options = {**settings.STORAGES["active"]["OPTIONS"], "bucket_name": "no-such-bucket-here"}
    settings.STORAGES = {**settings.STORAGES, "active": {**settings.STORAGES["active"], "OPTIONS": options}}
    response = client_for(member(acme)).get(reverse("artifact-download", args=["acme", recording.pk]))
    assert response.status_code == 503 and UNREACHABLE_MESSAGE in response.content.decode()
    assert not events(Kind.ARTIFACT_DOWNLOADED)
