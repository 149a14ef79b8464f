"""The product's vocabulary, in one place: channels, directions, origins, artifact types, audio
recording types, content keys and artifact states (see PRODUCT.md, "The domain").
"""

import re
import uuid

from django.core.exceptions import ValidationError
from django.db import models


class Channel(models.TextChoices):
    VOICE = "voice", "Voice"
    EMAIL = "email", "Email"
    CHAT = "chat", "Chat"
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    MESSENGER = "messenger", "Facebook Messenger"
    VIDEO = "video", "Video"


MESSAGING_CHANNELS = (Channel.CHAT, Channel.SMS, Channel.WHATSAPP, Channel.MESSENGER)


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class Origin(models.TextChoices):
    QUEUE = "queue", "Queue"
    CLICK_TO_CALL = "click_to_call", "Click-to-call"
    DIALER = "dialer", "Dialer"
    IVR = "ivr", "IVR"


class ArtifactType(models.TextChoices):
    EMAIL = "email", "Email"
    MESSAGING_TRANSCRIPT = "messaging_transcript", "Messaging Transcript"
    SCRIPT = "script", "Script"
    PARTIAL_AUDIO_RECORDING = "partial_audio_recording", "Partial Audio Recording"
    AUDIO_RECORDING = "audio_recording", "Audio Recording"
    QM_AUDIO_RECORDING = "qm_audio_recording", "QM Audio Recording"
    QM_SCREEN_RECORDING = "qm_screen_recording", "QM Screen Recording"
    VOICEMAIL = "voicemail", "Voicemail"


#: The selection *Any*: every artifact type except Script and Voicemail.
ANY = "any"
ANY_LABEL = "Any"
#: The selection *All*: every artifact type, Script and Voicemail included (e.g. the API's
#: delete-batch, which deletes all content of the interactions it names).
ALL = "all"
ALL_LABEL = "All (Script and Voicemail included)"
NOT_COVERED_BY_ANY = frozenset({ArtifactType.SCRIPT, ArtifactType.VOICEMAIL})
COVERED_BY_ANY = tuple(t for t in ArtifactType if t not in NOT_COVERED_BY_ANY)
ARTIFACT_TYPE_SELECTION_CHOICES = [(ANY, ANY_LABEL), (ALL, ALL_LABEL), *ArtifactType.choices]


def artifact_types_selected(selection):
    """The artifact types a selection (``"any"``, ``"all"`` or one type) covers."""
    if selection == ANY:
        return COVERED_BY_ANY
    if selection == ALL:
        return tuple(ArtifactType)
    return (ArtifactType(selection),)


class AudioRecordingType(models.TextChoices):
    CONFERENCE_CUSTOMER = "conference_customer", "Conference Customer"
    CONFERENCE_AGENT = "conference_agent", "Conference Agent"
    CONFERENCE_EXTERNAL = "conference_external", "Conference External"
    IVR_SNIPPET = "ivr_snippet", "IVR Snippet"
    QUALITY_MANAGEMENT = "quality_management", "Quality Management"


class ArtifactState(models.TextChoices):
    """Where an artifact's bytes are. *Being deleted* is the committed decision to delete: the
    bytes are going (or gone) and the tombstone follows; nothing can take the decision back."""

    STORED = "stored", "Stored"
    ARCHIVED = "archived", "Archived"
    DELETING = "deleting", "Being deleted"
    DELETED = "deleted", "Deleted"


#: States whose bytes are there to read, lock and keep.
PRESENT_STATES = (ArtifactState.STORED, ArtifactState.ARCHIVED)
#: States whose content is gone or going: it cannot be read, and no lock can save it any more.
GONE_STATES = (ArtifactState.DELETING, ArtifactState.DELETED)


class ContentKey(models.TextChoices):
    """Named content keys; other content (voicemails, screen recordings, IVR data-collector
    audio, video) is keyed by a unique identifier instead (a UUID, or ``voicemail-<agentId>``)."""

    CALL_RECORDING = "callRecording", "Call recording"
    TRANSCRIPT = "transcript", "Transcript"
    CHAT_TRANSCRIPT = "chatTranscript", "Chat transcript"
    ATTACHMENT = "attachment", "Attachment"
    CATEGORIZATION_RESULT = "categorizationResult", "Categorization result"
    IVR_AUDIO_RECORDING = "ivrAudioRecording", "IVR audio recording"


LEGACY_VOICEMAIL_KEY = re.compile(r"^voicemail-\d+$")


def validate_content_key(value):
    """A named content key, a UUID, or a legacy voicemail identifier ``voicemail-<agentId>``."""
    if value in ContentKey.values or LEGACY_VOICEMAIL_KEY.match(value or ""):
        return
    try:
        uuid.UUID(str(value))
    except ValueError:
        raise ValidationError(
            f"“{value}” is not a content key: use one of {', '.join(ContentKey.values)}, "
            "a unique identifier (UUID) or voicemail-<agentId>."
        ) from None


def lock_targets(selection, audio_recording_type=""):
    """The concrete ``(artifact type, audio recording type)`` pairs a selection covers.

    Locks are stored one row per pair, so that releasing some types of a broader lock leaves the
    other types locked without any splitting: *Any* is every non-audio type covered by *Any* plus
    Audio Recording with each audio recording type; *Audio Recording* needs its audio type.
    """
    if selection in (ANY, ALL):
        pairs = [(t.value, "") for t in artifact_types_selected(selection) if t != ArtifactType.AUDIO_RECORDING]
        return pairs + [(ArtifactType.AUDIO_RECORDING.value, a.value) for a in AudioRecordingType]
    if selection == ArtifactType.AUDIO_RECORDING:
        if not audio_recording_type:
            raise ValueError("Audio Recording needs an audio recording type.")
        return [(ArtifactType.AUDIO_RECORDING.value, AudioRecordingType(audio_recording_type).value)]
    return [(ArtifactType(selection).value, "")]
