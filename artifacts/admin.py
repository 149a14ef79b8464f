"""Support-staff admin for artifacts: read-only, with bounded counts on a large table.

Deleting, archiving or unlocking content only happens through the services (requests, policies),
which honour locks and write the audit trail; the admin shows artifacts and their tombstones.
"""

from django.contrib import admin

from accounts.admin_paginator import LargeTableAdminMixin, ReadOnlyAdminMixin

from .models import Artifact


@admin.register(Artifact)
class ArtifactAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Artifacts, read-only: no add, change or delete.

    A search term that is a UUID finds the artifacts of the interaction with that GUID; other
    terms match the storage key (exact) or the SHA-256 (exact, any case). Newest first.
    """

    list_display = (
        "id",
        "interaction_guid",
        "tenant",
        "artifact_type",
        "audio_recording_type",
        "content_key",
        "state",
        "size",
        "created_at",
        "deleted_at",
    )
    list_filter = ("tenant", "artifact_type", "audio_recording_type", "state")
    search_fields = ("storage_key__exact", "=sha256")
    uuid_search_fields = ("interaction__guid",)
    search_help_text = "An interaction GUID, a storage key or a SHA-256 (all exact)."
    list_select_related = ("tenant", "interaction")
    ordering = ("-id",)

    @admin.display(description="interaction", ordering="interaction__guid")
    def interaction_guid(self, obj):
        return obj.interaction.guid
