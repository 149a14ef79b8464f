"""Support-staff admin for lifecycle policies and sweep runs: read-only.

Policies change on the tenant's page (with the impact preview) or through :mod:`policies.services`,
which audit every change; a policy edited here would skip both. Sweep runs are the record of what
each sweep did: their counts and errors are shown, never edited.
"""

from django.contrib import admin

from accounts.admin_paginator import LargeTableAdminMixin, ReadOnlyAdminMixin

from .models import LifecyclePolicy, SweepRun


@admin.register(LifecyclePolicy)
class LifecyclePolicyAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Every tenant's policies, read-only (they are edited on the tenant's policies page)."""

    list_display = ("name", "tenant", "is_default", "enabled", "selection_label", "action_label", "updated_at")
    list_filter = ("enabled", "is_default", "tenant")
    search_fields = ("name",)
    list_select_related = ("tenant",)


@admin.register(SweepRun)
class SweepRunAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Sweep runs with their counts and errors, read-only."""

    list_display = (
        "id", "tenant", "trigger", "scheduled_for", "status", "started_at", "finished_at",
        "deleted", "archived", "skipped_locked", "locks_expired", "errors",
    )  # fmt: skip
    list_filter = ("status", "trigger", "tenant")
    list_select_related = ("tenant",)
    ordering = ("-created_at", "-id")
