"""The interactions list, scoped to the tenant in the URL and the user's grants there."""

from datetime import datetime

from django.db.models import Prefetch
from django.views.generic import TemplateView

from accounts.permissions import VIEW_INTERACTIONS
from accounts.tenancy import TenantViewMixin
from artifacts.models import Artifact

from .models import Interaction

PAGE_SIZE = 50


def _parse_cursor(value):
    """``<iso started_at>_<id>`` → (datetime, id), or None when absent or malformed."""
    try:
        started, pk = value.rsplit("_", 1)
        return datetime.fromisoformat(started), int(pk)
    except (AttributeError, ValueError):
        return None


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
