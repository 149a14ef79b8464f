"""Support-staff admin for interactions (a large table: bounded counts, no deletion)."""

from django.contrib import admin

from accounts.admin_paginator import LargeTableAdminMixin, NoDeleteSelectedMixin, ReadOnlyInlineMixin
from artifacts.models import Artifact

from .models import Interaction


class ArtifactInline(ReadOnlyInlineMixin, admin.TabularInline):
    """An interaction's artifacts, read-only (their state changes go through the services)."""

    model = Artifact
    fields = ("artifact_type", "audio_recording_type", "content_key", "state", "size", "created_at")
    readonly_fields = fields
    ordering = ("created_at", "id")
    extra = 0
    show_change_link = True


@admin.register(Interaction)
class InteractionAdmin(LargeTableAdminMixin, NoDeleteSelectedMixin, admin.ModelAdmin):
    """Interactions: inspect and fix their details.

    Never deleted here (it would take their content with it; artifacts PROTECT them anyway), and
    the tenant is fixed once created, since the interaction's artifacts belong to that tenant.
    A search term that is a UUID finds the interaction with that GUID; other terms search
    from / to / agent (contains) and the source call and task ids (exact).
    """

    list_display = (
        "guid",
        "tenant",
        "channel",
        "direction",
        "origin",
        "started_at",
        "duration_seconds",
        "from_address",
        "to_address",
        "agent_name",
    )
    list_filter = ("channel", "direction", "origin", "tenant")
    search_fields = (
        "from_address",
        "to_address",
        "agent_name",
        "source_call_id__exact",
        "source_task_id__exact",
    )
    uuid_search_fields = ("guid",)
    search_help_text = "A GUID (exact), from / to / agent name (contains), or a source call or task id (exact)."
    list_select_related = ("tenant",)
    autocomplete_fields = ("tenant",)
    inlines = (ArtifactInline,)

    def get_readonly_fields(self, request, obj=None):
        return ("guid", "tenant", "created_at") if obj else ("guid", "created_at")

    def has_delete_permission(self, request, obj=None):
        return False
