"""Support-staff admin for exports: read-only. Exports, daily archives (export schedules) and the
tenants' own S3 buckets change only on Configuration > Exports or through the services (permission
checked, validated, audited); here they are shown, the buckets without their secret access key
(not even encrypted) and with only the last four characters of the access key ID."""

from django.contrib import admin

from accounts.admin_paginator import LargeTableAdminMixin, ReadOnlyAdminMixin

from .models import Export, ExportBucket, ExportSchedule

#: Never shown in the admin: the bucket's keys (the ID is shown as its last four characters).
BUCKET_KEY_COLUMNS = ("access_key_id", "secret_access_key_encrypted")
#: Large columns left off the export's page (the manifest is on the tenant's export page).
EXPORT_BULK_COLUMNS = ("interaction_ids", "manifest", "manifest_signature")


@admin.register(Export)
class ExportAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Exports, newest first, read-only: selection, status, where the zip is, expiry, downloads."""

    list_display = (
        "id", "tenant", "created_at", "created_by", "selection", "destination", "status",
        "interaction_count", "size", "expires_at", "expired_at", "download_count",
    )  # fmt: skip
    list_filter = ("status", "destination", "selection", "tenant")
    list_select_related = ("tenant",)
    search_fields = ("=sha256", "storage_key__exact")
    search_help_text = "A SHA-256 or a storage key (both exact)."
    ordering = ("-created_at", "-id")
    exclude = EXPORT_BULK_COLUMNS

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*EXPORT_BULK_COLUMNS)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in EXPORT_BULK_COLUMNS]


@admin.register(ExportSchedule)
class ExportScheduleAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Daily archives, read-only: selectors, hour, first day, where the archives go, on or off."""

    list_display = ("name", "tenant", "hour", "starts_on", "push_to", "enabled", "created_at", "created_by")
    list_filter = ("enabled", "tenant")
    list_select_related = ("tenant", "push_to")
    search_fields = ("name",)


@admin.register(ExportBucket)
class ExportBucketAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Tenants' own S3 buckets, read-only and without their keys."""

    list_display = ("name", "tenant", "bucket", "prefix", "endpoint", "region_name", "key_hint", "created_at")
    list_filter = ("tenant",)
    list_select_related = ("tenant",)
    search_fields = ("name", "bucket")
    exclude = BUCKET_KEY_COLUMNS

    def get_readonly_fields(self, request, obj=None):
        shown = [f.name for f in self.model._meta.fields if f.name not in BUCKET_KEY_COLUMNS]
        return [*shown, "key_hint"]

    @admin.display(description="endpoint")
    def endpoint(self, obj):
        return obj.endpoint_url or "AWS S3"

    @admin.display(description="access key ID")
    def key_hint(self, obj):
        return f"{obj.key_hint} (secret set, never shown)"
