"""Artifacts: stored pieces of an interaction's content, and their tombstones once deleted."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.managers import TenantScopedQuerySet
from accounts.models import Tenant
from interactions.choices import (
    ArtifactState,
    ArtifactType,
    AudioRecordingType,
    validate_content_key,
)
from interactions.models import Interaction


class ArtifactQuerySet(TenantScopedQuerySet):
    """Artifacts, scoped through :meth:`restrict` like every tenant query."""

    def present(self):
        """Artifacts whose bytes still exist (stored or archived), not tombstones."""
        return self.exclude(state=ArtifactState.DELETED)


class Artifact(models.Model):
    """One stored piece of an interaction's content (a recording, a transcript, an email ...).

    ``state`` says where the bytes are: *stored* in the active storage, *archived* in the archive
    storage, or *deleted* everywhere, in which case the row stays as a tombstone naming who or what
    deleted it, when and why.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="artifacts")
    interaction = models.ForeignKey(Interaction, on_delete=models.PROTECT, related_name="artifacts")
    artifact_type = models.CharField(max_length=30, choices=ArtifactType.choices)
    audio_recording_type = models.CharField(max_length=30, choices=AudioRecordingType.choices, blank=True)
    content_key = models.CharField(max_length=80, validators=[validate_content_key])
    state = models.CharField(max_length=10, choices=ArtifactState.choices, default=ArtifactState.STORED)
    # Not unique: benchmark data from `seed_demo --interactions N` shares blobs between artifacts,
    # so deleting bytes must first check that no other live artifact still uses the key.
    storage_key = models.CharField(max_length=300, db_index=True, editable=False)
    storage_version = models.CharField(
        max_length=200, blank=True, editable=False, help_text="Object version id on versioned S3 buckets."
    )
    filename = models.CharField(max_length=255, help_text="Name offered when the file is downloaded.")
    content_type = models.CharField(max_length=120)
    size = models.BigIntegerField()
    sha256 = models.CharField("SHA-256", max_length=64)
    created_at = models.DateTimeField(db_index=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    deleted_by = models.CharField(max_length=200, blank=True, help_text="Who or what deleted it.")
    deletion_reason = models.CharField(
        max_length=300, blank=True, help_text="Why: the request, policy or API call that deleted it."
    )

    objects = ArtifactQuerySet.as_manager()

    class Meta:
        ordering = ["interaction_id", "created_at", "id"]
        indexes = [
            models.Index(fields=["interaction", "artifact_type"], name="artifact_interaction_type"),
            # Sweeps and lists walk one tenant's live artifacts by age.
            models.Index(fields=["tenant", "state", "created_at"], name="artifact_tenant_state_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(artifact_type=ArtifactType.AUDIO_RECORDING) & ~Q(audio_recording_type="")
                    | ~Q(artifact_type=ArtifactType.AUDIO_RECORDING) & Q(audio_recording_type="")
                ),
                name="artifact_audio_type_only_for_audio_recordings",
            ),
            models.CheckConstraint(
                condition=Q(state=ArtifactState.DELETED, deleted_at__isnull=False)
                | (~Q(state=ArtifactState.DELETED) & Q(deleted_at__isnull=True)),
                name="artifact_tombstone_has_deletion_time",
            ),
            models.CheckConstraint(condition=Q(size__gte=0), name="artifact_size_not_negative"),
        ]

    def __str__(self):
        return f"{self.get_artifact_type_display()} {self.content_key} of {self.interaction_id}"

    @property
    def storage_name(self):
        """The named storage that holds the bytes, or None for a tombstone."""
        return {ArtifactState.STORED: "active", ArtifactState.ARCHIVED: "archive"}.get(self.state)

    @property
    def is_playable(self):
        """Audio or video that a browser can play in a media element."""
        return self.state != ArtifactState.DELETED and self.content_type.startswith(("audio/", "video/"))

    @property
    def type_label(self):
        """Artifact type, with the audio recording type where there is one."""
        if self.audio_recording_type:
            return f"{self.get_artifact_type_display()} · {self.get_audio_recording_type_display()}"
        return self.get_artifact_type_display()
