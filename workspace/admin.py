"""Support-staff admin for interactions (a large table: bounded counts, no deletion).

Interactions are created and corrected through :mod:`interactions.services` with the support user
as the actor (audited, source "admin"). A correction of a field lifecycle policies select on
(channel, direction, origin) can move when the interaction's content is deleted: the form shows
that effect and asks for a confirmation before saving, and the audit event records it.
"""

from django import forms
from django.contrib import admin, messages
from django.utils.dateparse import parse_datetime

from accounts.admin_paginator import (
    LargeTableAdminMixin,
    NoDeleteSelectedMixin,
    ReadOnlyInlineMixin,
    ServiceFormMixin,
    add_service_errors,
    admin_actor,
    adopt_saved,
    service_refusal,
)
from artifacts.models import Artifact
from interactions import services
from interactions.models import Interaction


class ArtifactInline(ReadOnlyInlineMixin, admin.TabularInline):
    """An interaction's artifacts, read-only (their state changes go through the services)."""

    model = Artifact
    fields = ("artifact_type", "audio_recording_type", "content_key", "state", "size", "created_at")
    readonly_fields = fields
    ordering = ("created_at", "id")
    extra = 0
    show_change_link = True


def describe_effect(effect):
    """A retention effect (see :func:`interactions.services.update_interaction`) in words."""

    def day(value):
        moment = parse_datetime(value) if value else None
        return moment.date().isoformat() if moment else "never"

    parts = [f"artifact {e['artifact']}: {day(e['before'])} → {day(e['after'])}" for e in effect[:10]]
    more = f" and {len(effect) - 10} more" if len(effect) > 10 else ""
    return f"Deletion dates change for {len(effect)} artifact(s): {'; '.join(parts)}{more}."


class InteractionForm(forms.ModelForm):
    """An interaction, validated by dry-running the service that will save it."""

    confirm_retention_change = forms.BooleanField(
        required=False,
        label="Confirm the retention change",
        help_text="Needed when the change moves when this interaction's content is deleted.",
    )

    class Meta:
        model = Interaction
        fields = ("tenant", *services.EDITABLE_FIELDS)

    def changes(self):
        return {name: self.cleaned_data[name] for name in self.changed_data if name in services.EDITABLE_FIELDS}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if self.instance.pk:
            effect = []

            def dry_run():
                effect.extend(services.update_interaction(self.instance.pk, self.actor, **self.changes())[1])

            refusal = service_refusal(dry_run)
            if refusal is None and effect and not cleaned.get("confirm_retention_change"):
                self.add_error("confirm_retention_change", describe_effect(effect) + " Tick to confirm.")
        else:
            fields = {name: cleaned.get(name) for name in services.EDITABLE_FIELDS if name in cleaned}
            refusal = service_refusal(lambda: services.create_interaction(cleaned["tenant"].pk, self.actor, **fields))
        if refusal is not None:
            add_service_errors(self, refusal)
        return cleaned


@admin.register(Interaction)
class InteractionAdmin(ServiceFormMixin, LargeTableAdminMixin, NoDeleteSelectedMixin, admin.ModelAdmin):
    """Interactions: inspect and fix their details, through the interaction services.

    Never deleted here (it would take their content with it; artifacts PROTECT them anyway), and
    the tenant is fixed once created, since the interaction's artifacts belong to that tenant.
    A search term that is a UUID finds the interaction with that GUID; other terms search
    from / to / agent (contains) and the source call and task ids (exact).
    """

    form = InteractionForm
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

    def save_model(self, request, obj, form, change):
        actor = admin_actor(request)
        if change:
            saved, effect = services.update_interaction(obj.pk, actor, **form.changes())
            if effect:
                messages.warning(request, describe_effect(effect))
        else:
            fields = {name: form.cleaned_data[name] for name in services.EDITABLE_FIELDS if name in form.cleaned_data}
            saved, _created = services.create_interaction(obj.tenant_id, actor, **fields)
        adopt_saved(obj, saved)
