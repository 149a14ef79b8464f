"""Support-staff admin for ingestion: read-only. Connections change on the tenant's ACD Configuration
page or through :mod:`ingestion.services` (validated, audited, secrets encrypted); here they are
shown without any secret column. Runs show their counts and per-item errors."""

from django.contrib import admin

from accounts.admin_paginator import LargeTableAdminMixin, ReadOnlyAdminMixin

from .models import IngestedRecording, IngestionRun, TwilioFlexConnection, WebhookDelivery

#: Never shown in the admin, not even encrypted.
SECRET_COLUMNS = ("auth_token_encrypted", "private_key_encrypted", "webhook_secret_encrypted")


@admin.register(TwilioFlexConnection)
class TwilioFlexConnectionAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Connections, read-only and without their secrets."""

    list_display = ("name", "tenant", "account_sid", "workspace_sid", "products_label", "enabled", "cursor")
    list_filter = ("enabled", "tenant")
    list_select_related = ("tenant",)
    search_fields = ("name", "account_sid", "workspace_sid")
    exclude = SECRET_COLUMNS

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in SECRET_COLUMNS]


@admin.register(IngestionRun)
class IngestionRunAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Ingestion runs with their counts and per-item errors, read-only."""

    list_display = (
        "id", "connection", "tenant", "trigger", "status", "started_at", "finished_at",
        "tasks", "interactions_created", "artifacts_stored", "skipped", "errors",
    )  # fmt: skip
    list_filter = ("status", "trigger", "tenant")
    list_select_related = ("connection", "tenant")
    ordering = ("-created_at", "-id")


@admin.register(IngestedRecording)
class IngestedRecordingAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Recordings taken from Twilio and whether their source was deleted there."""

    list_display = (
        "recording_sid",
        "connection",
        "call_sid",
        "artifact_id",
        "encrypted",
        "source_deleted_at",
        "delete_attempts",
        "delete_error",
    )
    list_filter = ("encrypted",)
    search_fields = ("recording_sid", "call_sid")
    list_select_related = ("connection",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """The contact-status webhook's delivery log."""

    list_display = (
        "id",
        "connection",
        "leg_id",
        "state",
        "attempts",
        "last_status",
        "last_error",
        "created_at",
        "delivered_at",
    )
    list_filter = ("state",)
    list_select_related = ("connection",)
    ordering = ("-created_at", "-id")
