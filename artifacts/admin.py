"""Support-staff admin for artifacts: read-only, with bounded counts on a large table.

Deleting, archiving or unlocking content only happens through the services (requests, policies),
which honour locks and write the audit trail; the admin shows artifacts and their tombstones,
Artifacts Management Requests with their per-interaction results, and locks. The only actions are
cancelling and retrying requests, which call the request services.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin_paginator import LargeTableAdminMixin, ReadOnlyAdminMixin, ReadOnlyInlineMixin, admin_actor

from . import services
from .models import Artifact, Lock, ManagementRequest, ManagementRequestItem, Matter

#: The result columns of a request item and their labels, summed on the request's page.
RESULT_FIELDS = {
    "matched": "matched",
    "locked": "locked",
    "unlocked": "unlocked",
    "deleted": "deleted",
    "skipped_locked": "skipped because locked",
}


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


class ManagementRequestItemInline(ReadOnlyInlineMixin, admin.TabularInline):
    """A request's per-interaction results, read-only (one query for all rows)."""

    model = ManagementRequestItem
    fields = (
        "position", "interaction_guid", "status", "matched", "locked",
        "unlocked", "deleted", "skipped_locked", "not_exported", "error", "finished_at",
    )  # fmt: skip
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("interaction")

    @admin.display(description="interaction id")
    def interaction_guid(self, obj):
        return obj.interaction.guid


@admin.register(ManagementRequest)
class ManagementRequestAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Artifacts Management Requests with their results, read-only.

    Requests are created on the tenant's page or with ``manage.py artifacts_requests``; here support
    staff can only cancel Queued and retry Error requests, through the services, with their own
    account as the actor (source "admin") and the permissions they hold on the request's tenant.
    """

    list_display = (
        "id", "tenant", "created_at", "request_type", "interaction_count",
        "description", "artifact_type", "audio_recording_type", "status",
    )  # fmt: skip
    list_filter = ("status", "request_type", "tenant")
    search_fields = ("description", "created_by")
    search_help_text = "Part of the description or of the creator's username."
    list_select_related = ("tenant",)
    ordering = ("-created_at", "-id")
    inlines = (ManagementRequestItemInline,)
    actions = ("cancel_selected", "retry_selected")

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "totals", "locks_link"]

    @admin.display(description="totals")
    def totals(self, obj):
        sums = obj.items.aggregate(**{f: Coalesce(Sum(f), 0) for f in RESULT_FIELDS})
        return ", ".join(f"{n} {RESULT_FIELDS[field]}" for field, n in sums.items())

    @admin.display(description="locks")
    def locks_link(self, obj):
        url = reverse("admin:artifacts_lock_changelist")
        return format_html('<a href="{}?request__id__exact={}">Locks created by this request</a>', url, obj.pk)

    def _through_service(self, request, queryset, verb, service):
        done = 0
        for req in queryset.select_related("tenant").order_by("id"):
            try:
                service(req.pk, admin_actor(request))
            except (PermissionDenied, ValidationError) as exc:
                reason = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                messages.error(request, f"{req} was not {verb}: {reason}")
            else:
                done += 1
        if done:
            messages.success(request, f"{done} request(s) {verb}.")

    @admin.action(description="Cancel selected queued requests")
    def cancel_selected(self, request, queryset):
        """Cancel each selected request through the service; each refusal is a message."""
        self._through_service(request, queryset, "cancelled", services.cancel_management_request)

    @admin.action(description="Retry selected failed requests")
    def retry_selected(self, request, queryset):
        """Retry each selected request through the service; each refusal is a message."""
        self._through_service(request, queryset, "queued again", services.retry_management_request)


class LockStateFilter(admin.SimpleListFilter):
    """Active (``Lock.objects.active()``), released, or expired without being released."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("active", "Active"), ("released", "Released"), ("expired", "Expired"))

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(pk__in=Lock.objects.active(now).values("pk"))
        if self.value() == "released":
            return queryset.filter(released_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(released_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(Lock)
class LockAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Locks (legal holds), read-only: added and removed only by requests, through the services.

    A search term that is a UUID finds the locks of the interaction with that GUID.
    """

    list_display = (
        "id", "interaction_guid", "artifact_type", "audio_recording_type", "selection", "expires_at",
        "is_active", "created_by", "request_link", "released_at",
    )  # fmt: skip
    list_filter = (LockStateFilter, "tenant", "artifact_type", "audio_recording_type")
    search_fields = ("created_by",)
    uuid_search_fields = ("interaction__guid",)
    search_help_text = "An interaction GUID (exact), or part of the creator's username."
    list_select_related = ("interaction",)
    ordering = ("-id",)

    def get_queryset(self, request):
        active = Lock.objects.active().filter(pk=OuterRef("pk"))
        return super().get_queryset(request).annotate(active_now=Exists(active))

    @admin.display(description="interaction", ordering="interaction__guid")
    def interaction_guid(self, obj):
        return obj.interaction.guid

    @admin.display(description="active", boolean=True)
    def is_active(self, obj):
        return obj.active_now

    @admin.display(description="request", ordering="request_id")
    def request_link(self, obj):
        if not obj.request_id:
            return "—"
        url = reverse("admin:artifacts_managementrequest_change", args=[obj.request_id])
        return format_html('<a href="{}">{}</a>', url, obj.request_id)


@admin.register(Matter)
class MatterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Legal matters, read-only: created, edited, released and closed on Configuration > Legal Holds
    (through the services); never deleted."""

    list_display = ("case_id", "name", "tenant", "owner", "status", "review_on", "created_at", "closed_at")
    list_filter = ("status", "tenant")
    search_fields = ("case_id", "name")
    list_select_related = ("tenant", "owner")
    ordering = ("-created_at", "-id")
