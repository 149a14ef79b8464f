"""``manage.py seed_demo``: idempotent demo tenants, users and interactions with real content."""

import hashlib
import io
import json
import re
import uuid
import wave
from collections import Counter
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import AuditEvent, Membership, Role, Tenant, User
from artifacts import media
from artifacts.models import Artifact
from artifacts.storage import get_storage
from core.vocabulary import ArtifactType, Channel, Direction, Origin
from interactions.models import Interaction
from workspace import demo_content
from workspace.management.commands import seed_demo

pytestmark = pytest.mark.django_db

ROLES = [
    ("viewer", "Viewer"),
    ("supervisor", "Supervisor"),
    ("compliance", "Compliance Officer"),
    ("admin", "Administrator"),
]
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]+$")


def seed(*args, interactions=25):
    out = io.StringIO()
    call_command("seed_demo", "--interactions", str(interactions), *args, stdout=out)
    return out.getvalue()


def counts():
    return {
        "tenants": Tenant.objects.count(),
        "roles": Role.objects.count(),
        "users": User.objects.count(),
        "memberships": Membership.objects.count(),
        "interactions": Interaction.objects.count(),
        "artifacts": Artifact.objects.count(),
        "audit events": AuditEvent.objects.count(),
    }


def files(root):
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def read(artifact):
    return b"".join(get_storage("active").iter_bytes(artifact.storage_key))


def assert_wav(data):
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    with wave.open(io.BytesIO(data)) as clip:
        assert (clip.getframerate(), clip.getnchannels(), clip.getsampwidth()) == (8000, 1, 2)
        assert 2.0 <= clip.getnframes() / clip.getframerate() <= 4.0


def assert_flac(data, seconds):
    """A FLAC stream (8 kHz mono 16-bit) of exactly ``seconds``; its frames' CRCs hold."""
    assert data[:4] == b"fLaC" and data[4] == 0x80  # STREAMINFO, the only metadata block
    packed = int.from_bytes(data[18:26], "big")
    rate, channels, bits, total = packed >> 44, (packed >> 41 & 7) + 1, (packed >> 36 & 31) + 1, packed & (2**36 - 1)
    assert (rate, channels, bits, total) == (8000, 1, 16, seconds * 8000)
    assert data[42:44] == b"\xff\xf8"  # the first frame's sync code


def test_running_twice_gives_the_same_rows_and_no_new_files(file_storages):
    active, _ = file_storages
    first_output = seed()
    first, stored = counts(), files(active)
    assert first["tenants"] == 2 and first["interactions"] == 50
    assert first["users"] == 9 and first["memberships"] == 8  # 4 per tenant, plus support
    assert len(stored) == first["artifacts"] > 100  # every artifact its own file
    assert "acme: 25 interactions created, 0 already present" in first_output

    second_output = seed()
    assert counts() == first
    assert files(active) == stored
    assert "acme: 0 interactions created, 25 already present; 0 artifacts, 0 files written" in second_output
    assert "supervisor-acme" in second_output and "support" in second_output


def test_more_interactions_later_adds_only_the_new_ones(file_storages):
    seed(interactions=10)
    guids = set(Interaction.objects.values_list("guid", flat=True))
    seed(interactions=14)
    assert Interaction.objects.count() == 28
    assert guids < set(Interaction.objects.values_list("guid", flat=True))
    assert Interaction.objects.filter(guid=seed_demo.guid_for("globex", 13), tenant__slug="globex").exists()


def test_tenants_users_and_roles():
    seed(interactions=0)
    acme, globex = Tenant.objects.get(slug="acme"), Tenant.objects.get(slug="globex")
    assert (acme.name, globex.name) == ("Acme Contact Center", "Globex Support")
    for tenant in (acme, globex):
        roles = set(tenant.roles.values_list("name", flat=True))
        assert roles == {"Viewer", "Supervisor", "Compliance Officer", "Administrator"}
        for prefix, role in ROLES:
            user = User.objects.get(username=f"{prefix}-{tenant.slug}")
            assert [(m.tenant, m.role.name) for m in user.memberships.all()] == [(tenant, role)]
            assert user.check_password("holdfast-demo")
            assert not user.is_staff
    assert not Membership.objects.filter(user__username="supervisor-acme", tenant=globex).exists()
    support = User.objects.get(username="support")
    assert support.is_superuser and support.is_staff and support.check_password("holdfast-demo")


def test_tenant_option_seeds_one_tenant():
    output = seed("--tenant", "globex", interactions=3)
    assert list(Tenant.objects.values_list("slug", flat=True)) == ["globex"]
    assert Interaction.objects.filter(tenant__slug="globex").count() == 3
    assert "acme" not in output


def test_interactions_look_real():
    seed()
    now = timezone.now()
    for slug in ("acme", "globex"):
        rows = list(Interaction.objects.filter(tenant__slug=slug))
        assert {i.channel for i in rows} == set(Channel.values)
        assert {i.direction for i in rows} == set(Direction.values)
        assert Interaction.objects.filter(tenant__slug=slug, guid=seed_demo.guid_for(slug, 0)).exists()
        for i in rows:
            i.full_clean()
            assert now - timedelta(days=92) < i.started_at < i.ended_at <= now
            assert i.duration_seconds == (i.ended_at - i.started_at).total_seconds()
            if i.origin == Origin.DIALER:
                assert (i.channel, i.direction) == (Channel.VOICE, Direction.OUTBOUND)
            if i.channel in (Channel.VOICE, Channel.SMS, Channel.WHATSAPP):
                assert E164.match(i.from_address) and E164.match(i.to_address)
            if i.channel == Channel.EMAIL:
                assert EMAIL.match(i.from_address) and EMAIL.match(i.to_address)
            assert re.fullmatch(r"WT[0-9a-f]{32}", i.source_task_id) and i.source_system == "twilio-flex"
            if i.channel == Channel.VOICE:
                assert re.fullmatch(r"CA[0-9a-f]{32}", i.source_call_id)
            assert {"campaign", "language"} <= set(i.metadata)
            assert (i.agent_id, i.agent_name) in seed_demo.AGENTS


def test_channel_mix_is_mostly_voice():
    tenant = Tenant(pk=1, slug="acme")
    planned = [seed_demo.make_interaction(tenant, "acme", n, timezone.now()) for n in range(2000)]
    channels = Counter(p.interaction.channel for p in planned)
    assert set(channels) == set(Channel.values)
    assert channels[Channel.VOICE] > 1000
    assert 2.5 <= sum(len(p.artifacts) for p in planned) / len(planned) <= 3.5
    again = seed_demo.make_interaction(tenant, "acme", 1234, timezone.now())
    assert again.artifacts == planned[1234].artifacts  # the same index, the same interaction


def test_every_artifact_is_real_content_with_its_checksum():
    seed()
    artifacts = list(Artifact.objects.select_related("interaction"))
    assert {a.artifact_type for a in artifacts} == set(ArtifactType.values)
    audio_types = {a.audio_recording_type for a in artifacts}
    assert {"conference_customer", "conference_agent", "ivr_snippet"} <= audio_types
    keys = {a.content_key for a in artifacts}
    assert {"callRecording", "transcript", "categorizationResult", "ivrAudioRecording"} <= keys
    assert {"chatTranscript", "attachment"} <= keys and any(k.startswith("voicemail-") for k in keys)
    for artifact in artifacts:
        data = read(artifact)
        assert artifact.sha256 == hashlib.sha256(data).hexdigest() and artifact.size == len(data)
        assert artifact.created_at == artifact.interaction.ended_at
        artifact.full_clean()
        uuid_keyed = (ArtifactType.VOICEMAIL, ArtifactType.QM_SCREEN_RECORDING, ArtifactType.SCRIPT)
        if artifact.artifact_type in uuid_keyed and not artifact.content_key.startswith("voicemail-"):
            uuid.UUID(artifact.content_key)
        if artifact.content_type == "audio/wav":
            assert_wav(data)
        elif artifact.content_type == "application/json":
            json.loads(data)
        elif artifact.content_type == "video/webm":
            assert data[:4] == b"\x1a\x45\xdf\xa3"  # EBML, the WebM container
        if artifact.content_key == "chatTranscript":
            messages = json.loads(data)["messages"]
            assert len(messages) >= 3 and {m["from"] for m in messages} == {"customer", "agent"}
    audio_types = (ArtifactType.VOICEMAIL, ArtifactType.PARTIAL_AUDIO_RECORDING, ArtifactType.QM_AUDIO_RECORDING)
    recordings = [
        a
        for a in artifacts
        if a.artifact_type in audio_types or a.content_key in ("callRecording", "ivrAudioRecording")
    ]
    assert len(recordings) > 20
    for recording in recordings:
        data = read(recording)
        if recording.content_key == "ivrAudioRecording":  # a snippet: the clip itself
            assert recording.content_type == "audio/wav" and recording.filename.endswith(".wav")
            assert_wav(data)
        else:  # as long as its call
            assert recording.content_type == "audio/flac" and recording.filename.endswith(".flac")
            assert_flac(data, recording.interaction.duration_seconds)
            assert recording.duration_seconds == recording.interaction.duration_seconds
        assert recording.duration_seconds == media.duration_of(data, len(data)) > 0


def test_email_is_a_real_message_with_its_attachment():
    seed()
    emails = Artifact.objects.filter(artifact_type=ArtifactType.EMAIL).exclude(content_key="attachment")
    assert emails.exists()
    for artifact in emails:
        message = message_from_bytes(read(artifact), policy=policy.default)
        assert message["From"] and message["To"] and message["Subject"] and message["Message-ID"]
        assert message.get_body(preferencelist=("html",)) is not None
        (attached,) = list(message.iter_attachments())
        standalone = Artifact.objects.get(interaction=artifact.interaction_id, content_key="attachment")
        assert attached.get_payload(decode=True) == read(standalone)
        assert attached.get_filename() == standalone.filename


def test_audio_works_without_espeak(monkeypatch):
    monkeypatch.setattr(demo_content, "espeak_binary", lambda: None)
    pool = demo_content.build_audio_pool()
    clips = [clip for purpose in pool.values() for clip in purpose]
    assert len(set(clips)) == len(clips) >= 12
    for clip in clips:
        assert_wav(clip)
    seed("--tenant", "acme", interactions=12)
    assert Artifact.objects.filter(content_type="audio/wav").exists()
    assert Artifact.objects.filter(content_type="audio/flac").exists()


def test_a_failed_batch_leaves_no_rows_and_no_files(monkeypatch, file_storages):
    active, _ = file_storages
    real, calls = seed_demo.store_artifact, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 20:
            raise RuntimeError("storage went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(seed_demo, "store_artifact", failing)
    with pytest.raises(RuntimeError):
        seed("--tenant", "acme")
    assert Interaction.objects.count() == Artifact.objects.count() == 0
    assert files(active) == []
    monkeypatch.setattr(seed_demo, "store_artifact", real)
    seed("--tenant", "acme")
    assert len(files(active)) == Artifact.objects.count() > 0


def test_bulk_mode_gives_each_artifact_its_own_clone_and_is_idempotent(file_storages):
    active, _ = file_storages
    seed(interactions=12)  # some interactions with their own files first
    output = seed("--bulk-threshold", "10", interactions=40)
    assert "acme: 28 interactions created, 12 already present" in output and "bulk" in output
    assert Interaction.objects.count() == 80
    first_twelve = [seed_demo.guid_for(slug, n) for slug in ("acme", "globex") for n in range(12)]
    bulk = Artifact.objects.exclude(interaction__guid__in=first_twelve)
    assert bulk.count() >= 56
    keys = list(Artifact.objects.values_list("storage_key", flat=True))
    assert len(keys) == len(set(keys)), "every artifact has its own storage key"
    for slug in ("acme", "globex"):
        tenant_id = Tenant.objects.get(slug=slug).pk
        mine = bulk.filter(tenant_id=tenant_id)
        assert all(key.startswith(f"t{tenant_id}/") for key in mine.values_list("storage_key", flat=True))
        # Clones are hard links of one template per kind: no bytes written per artifact.
        inodes = {(active / key).stat().st_ino for key in mine.values_list("storage_key", flat=True)}
        assert len(inodes) <= len(demo_content.KINDS) < mine.count()
    for artifact in bulk:
        data = read(artifact)
        assert artifact.sha256 == hashlib.sha256(data).hexdigest()
        if artifact.content_type == "audio/wav":
            assert_wav(data)
        if artifact.content_type.startswith("audio/"):
            assert artifact.duration_seconds == media.duration_of(data, len(data)) > 0
    # No template is left behind: every file is exactly one artifact's object.
    assert files(active) == sorted(keys)

    before, stored = counts(), files(active)
    seed("--bulk-threshold", "10", interactions=40)
    assert counts() == before and files(active) == stored
    seed("--bulk-threshold", "10", interactions=60)  # more rows: earlier artifacts serve as templates
    assert Interaction.objects.count() == 120
    keys = list(Artifact.objects.values_list("storage_key", flat=True))
    assert len(keys) == len(set(keys)) and files(active) == sorted(keys)
    # Deleting one clone leaves every other artifact's bytes in place.
    victim = bulk.filter(content_type="audio/flac").first()
    get_storage("active").delete_many([(victim.storage_key, "")])
    sibling = bulk.filter(content_type="audio/flac", sha256=victim.sha256).exclude(pk=victim.pk).first()
    assert hashlib.sha256(read(sibling)).hexdigest() == sibling.sha256
