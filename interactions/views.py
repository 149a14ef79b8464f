"""Interactions list and detail, scoped to the tenant in the URL and the user's grants there."""

from datetime import datetime

from django.db.models import Prefetch
from django.http import Http404
from django.views.generic import DetailView, TemplateView

from accounts.models import AuditEvent
from accounts.permissions import VIEW_INTERACTIONS
from accounts.tenancy import TenantViewMixin
from artifacts.models import Artifact, Lock

from .models import Interaction

PAGE_SIZE = 50


def _parse_cursor(value):
    """``<iso started_at>_<id>`` → (datetime, id), or None when absent or malformed."""
    try:
        started, pk = value.rsplit("_", 1)
        return datetime.fromisoformat(started), int(pk)
    except (AttributeError, ValueError):
        return None


def group_locks(locks):
    """Active locks as the people who placed them see them: one row per request (or lock), with
    the types it still covers (*Any* is stored as one lock per type, and may be released in part)."""
    groups = {}
    for lock in locks:
        key = ("request", lock.request_id, lock.expires_at) if lock.request_id else ("lock", lock.pk)
        group = groups.setdefault(key, {"first": lock, "types": []})
        group["types"].append(lock.type_label)
    return list(groups.values())


class InteractionListView(TenantViewMixin, TemplateView):
    """The tenant's interactions, newest first, paged by keyset (no OFFSET, no COUNT)."""

    permission_required = VIEW_INTERACTIONS
    template_name = "interactions/interaction_list.html"

    def get_queryset(self):
        qs = Interaction.objects.restrict(self.request.user, VIEW_INTERACTIONS).filter(tenant=self.tenant)
        cursor = _parse_cursor(self.request.GET.get("after"))
        if cursor:
            started, pk = cursor
            qs = qs.filter(started_at__lte=started).exclude(started_at=started, id__gte=pk)
        return qs.order_by("-started_at", "-id").prefetch_related(
            Prefetch("artifacts", queryset=Artifact.objects.only("interaction_id", "artifact_type", "state"))
        )

    def get_context_data(self, **kwargs):
        rows = list(self.get_queryset()[: PAGE_SIZE + 1])
        has_more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        next_cursor = f"{rows[-1].started_at.isoformat()}_{rows[-1].pk}" if has_more else ""
        for row in rows:
            row.artifact_labels = sorted({a.get_artifact_type_display() for a in row.artifacts.all()})
        return super().get_context_data(
            interactions=rows,
            next_cursor=next_cursor,
            is_first_page="after" not in self.request.GET,
            **kwargs,
        )


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
