"""Shared by the export tests: a tenant with content, and a Compliance Officer who may export it."""

import io

import pytest

from accounts.permissions import COMPLIANCE_OFFICER
from artifacts.storage import get_storage
from core.vocabulary import ArtifactType, Channel, Direction
from tests.factories import ArtifactFactory, InteractionFactory


@pytest.fixture
def officer(acme, member):
    return member(acme, COMPLIANCE_OFFICER)


@pytest.fixture
def content(acme):
    """Three interactions of acme with four artifacts (audio and a transcript), and one of globex-like
    noise is left to the tests."""
    calls = [InteractionFactory(tenant=acme, direction=Direction.OUTBOUND) for _ in range(2)]
    chat = InteractionFactory(tenant=acme, channel=Channel.CHAT, direction=Direction.INBOUND)
    artifacts = [
        ArtifactFactory(interaction=calls[0], content=b"RIFF" + bytes(range(256)) * 40, content_type="audio/wav"),
        ArtifactFactory(interaction=calls[0], content_key="ivrAudioRecording", content=b"ivr" * 1000),
        ArtifactFactory(interaction=calls[1], content=b"RIFF-second-call" * 300, content_type="audio/wav"),
        ArtifactFactory(
            interaction=chat,
            artifact_type=ArtifactType.MESSAGING_TRANSCRIPT,
            content_key="chatTranscript",
            filename="chat.json",
            content_type="application/json",
            content=b'{"messages": ["hello", "=cmd"]}',
        ),
    ]
    return {"calls": calls, "chat": chat, "artifacts": artifacts}


def read_bundle(export):
    """The export's zip, read back from the exports storage, as a seekable file."""
    data = b"".join(get_storage("exports").iter_bytes(export.storage_key, version=export.storage_version))
    return io.BytesIO(data)
