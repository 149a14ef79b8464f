"""One interaction's page: details, custom metadata, artifacts with their locks, audit trail."""

from django.http import Http404
from django.views.generic import DetailView

from accounts.models import AuditEvent
from accounts.permissions import VIEW_INTERACTIONS
from accounts.tenancy import TenantViewMixin
from artifacts.models import Lock

from .models import Interaction


def group_locks(locks):
    """Active locks as the people who placed them see them: one row per request (or lock), with
    the types it still covers (*Any* is stored as one lock per type, and may be released in part)."""
    groups = {}
    for lock in locks:
        key = ("request", lock.request_id, lock.expires_at) if lock.request_id else ("lock", lock.pk)
        group = groups.setdefault(key, {"first": lock, "types": []})
        group["types"].append(lock.type_label)
    return list(groups.values())


class InteractionDetailView(TenantViewMixin, DetailView):
    """One interaction: its details, custom metadata, artifacts (play / download) and audit trail."""

    permission_required = VIEW_INTERACTIONS
    template_name = "interactions/interaction_detail.html"
    context_object_name = "interaction"

    def get_object(self, queryset=None):
        obj = (
            Interaction.objects.restrict(self.request.user, VIEW_INTERACTIONS)
            .filter(tenant=self.tenant, guid=self.kwargs["guid"])
            .first()
        )
        if obj is None:
            raise Http404("No such interaction.")
        return obj

    def get_context_data(self, **kwargs):
        locks = list(
            Lock.objects.restrict(self.request.user, VIEW_INTERACTIONS)
            .active()
            .filter(tenant=self.tenant, interaction=self.object)
            .order_by("created_at", "id")
        )
        artifacts = list(self.object.artifacts.select_related("deleted_by_user").order_by("created_at", "id"))
        # One query for the locks, matched here: a lock covers its (type, audio type) pair, and the
        # artifacts that arrive later too, so artifacts never need a query of their own.
        by_pair = {}
        for lock in locks:
            by_pair.setdefault((lock.artifact_type, lock.audio_recording_type), []).append(lock)
        for artifact in artifacts:
            artifact.active_locks = by_pair.get((artifact.artifact_type, artifact.audio_recording_type), [])
        return super().get_context_data(
            artifacts=artifacts,
            lock_groups=group_locks(locks),
            audit_events=AuditEvent.objects.filter(tenant=self.tenant, interaction_guid=self.object.guid)[:200],
            **kwargs,
        )
