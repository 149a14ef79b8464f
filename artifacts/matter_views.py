"""Configuration > Legal Holds (``/t/<slug>/configuration/legal-holds/``): the tenant's legal matters
with what each holds (interactions, artifacts, bytes; computed in SQL), the locks that expire soon,
a matter's page (its locks and interactions; release; close) and the create / edit form.

Who: everyone who sees locks (``VIEW_INTERACTIONS``) sees matters; creating and editing them needs
what an Add Lock needs, releasing and closing what a Remove Lock needs (the services check).
"""

import datetime as dt

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Min
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View

from accounts.models import Membership
from accounts.permissions import (
    ARTIFACTS_MANAGEMENT_REQUESTS_CREATE,
    ARTIFACTS_MANAGEMENT_REQUESTS_READ,
    VIEW_INTERACTIONS,
)
from accounts.tenancy import TenantViewMixin
from core.vocabulary import ARTIFACT_TYPE_SELECTION_CHOICES

from . import matter_services
from .models import Lock, ManagementRequest, Matter
from .request_views import report_saved
from .validation import CONFIRMATIONS, required_permissions

SELECTIONS = dict(ARTIFACT_TYPE_SELECTION_CHOICES)

RequestType = ManagementRequest.RequestType
PAGE_SIZE = 50
#: The most locks a matter's page lists (the counts above them are exact).
LOCKS_SHOWN = 500
#: The most expiring locks the list page shows.
EXPIRING_SHOWN = 200


class MatterForm(forms.Form):
    """A matter's fields; the service judges them (its messages name the field)."""

    case_id = forms.CharField(label="Case Id", required=False, widget=forms.TextInput(attrs={"maxlength": 100}))
    name = forms.CharField(label="Name", required=False, widget=forms.TextInput(attrs={"maxlength": 200}))
    reason = forms.CharField(label="Reason", required=False, widget=forms.Textarea(attrs={"rows": 4}))
    owner = forms.CharField(label="Owner", required=False, widget=forms.Select)
    review_on = forms.DateField(
        label="Review Date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": "Review Date: enter a valid date (YYYY-MM-DD)."},
    )

    def __init__(self, *args, tenant, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        members = Membership.objects.filter(tenant=tenant, user__is_active=True).select_related("user")
        self.fields["owner"].widget.choices = [("", "Choose…")] + [
            (str(m.user_id), m.user.get_username()) for m in members.order_by("user__username")
        ]
        if editing:
            del self.fields["case_id"]

    def values(self):
        data = getattr(self, "cleaned_data", {})
        values = {name: data.get(name, "") for name in ("case_id", "name", "reason") if name in self.fields}
        return {**values, "owner_id": data.get("owner") or None, "review_on": data.get("review_on")}

    def add_service_errors(self, exc):
        by_field = exc.error_dict if hasattr(exc, "error_dict") else {None: exc.error_list}
        for field, errors in by_field.items():
            field = field if field in self.fields else None
            if field and self.has_error(field):
                continue
            self.add_error(field, errors)


class _MattersView(TenantViewMixin):
    model = Matter
    rows_permission = VIEW_INTERACTIONS
    lookup = ("pk", "matter_id")
    not_found = "No such legal matter."

    def may(self, request_type):
        return required_permissions(request_type) <= set(self.perms)


class MatterListView(_MattersView, View):
    """Matters with their counts, newest first (open ones first), and the locks that expire soon."""

    permission_required = VIEW_INTERACTIONS

    def get(self, request, tenant_slug):
        now = timezone.now()
        status = request.GET.get("status", "")
        rows = self.tenant_rows().with_counts(now).select_related("owner")
        if status in Matter.Status.values:
            rows = rows.filter(status=status)
        page = Paginator(rows.order_by("-status", "-created_at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
        days = self.tenant.lock_expiry_notice_days
        expiring = (
            self.tenant_rows(Lock)
            .active(now)
            .filter(expires_at__lte=now + dt.timedelta(days=days))
            # One row per lock placed (a request for *Any* is one lock per type).
            .values("expires_at", "interaction__guid", "selection", "matter_id", "matter__case_id", "request_id")
            .annotate(types=Count("id"), created_by=Min("created_by"))
            .order_by("expires_at", "interaction__guid", "request_id")
        )
        return render(
            request,
            "artifacts/matters/matter_list.html",
            {
                "page": page,
                "matters": page.object_list,
                "status": status if status in Matter.Status.values else "",
                "status_choices": Matter.Status.choices,
                "expiring": [
                    {**row, "selection_label": SELECTIONS.get(row["selection"])} for row in expiring[:EXPIRING_SHOWN]
                ],
                "expiring_shown": EXPIRING_SHOWN,
                "notice_days": days,
                "can_create": self.may(RequestType.ADD_LOCK),
            },
        )


class MatterFormView(_MattersView, View):
    """Create a matter (no ``matter_id``) or edit an open one."""

    permission_required = ARTIFACTS_MANAGEMENT_REQUESTS_CREATE
    template_name = "artifacts/matters/matter_form.html"

    def render_form(self, form, matter=None, status=200):
        return render(self.request, self.template_name, {"form": form, "matter": matter}, status=status)

    def get(self, request, tenant_slug, matter_id=None):
        matter = self.get_object() if matter_id else None
        initial = {}
        if matter:
            initial = {"name": matter.name, "reason": matter.reason, "owner": str(matter.owner_id)}
            initial["review_on"] = matter.review_on
        return self.render_form(MatterForm(initial=initial, tenant=self.tenant, editing=bool(matter)), matter)

    def post(self, request, tenant_slug, matter_id=None):
        matter = self.get_object() if matter_id else None
        form = MatterForm(request.POST, tenant=self.tenant, editing=bool(matter))
        readable = form.is_valid()
        try:
            if not readable:
                raise ValidationError({})
            if matter:
                saved = matter_services.update_matter(matter.pk, self.actor, **form.values())
                messages.success(request, f"Matter {saved.case_id} was saved.")
            else:
                saved = matter_services.create_matter(self.tenant.pk, self.actor, **form.values())
                messages.success(request, f"Matter {saved.case_id} was created.")
        except ValidationError as exc:
            if exc.messages:
                form.add_service_errors(exc)
            return self.render_form(form, matter, status=400)
        return redirect("matter-detail", tenant_slug=self.tenant.slug, matter_id=saved.pk)


class MatterDetailView(_MattersView, View):
    """A matter: its facts and counts, the interactions and locks it holds (active, then released),
    the requests that named it, and the Release / Close actions."""

    permission_required = VIEW_INTERACTIONS

    def get(self, request, tenant_slug, matter_id):
        now = timezone.now()
        matter = self.get_object(self.tenant_rows().with_counts(now).select_related("owner"))
        locks = (
            self.tenant_rows(Lock)
            .filter(matter=matter)
            .select_related("interaction")
            .order_by("released_at", "interaction_id", "id")
        )
        active = list(locks.active(now)[:LOCKS_SHOWN])
        ended = list(locks.exclude(pk__in=Lock.objects.active(now).values("pk"))[:LOCKS_SHOWN])
        may_remove = self.may(RequestType.REMOVE_LOCK)
        return render(
            request,
            "artifacts/matters/matter_detail.html",
            {
                "matter": matter,
                "active_locks": active,
                "ended_locks": ended,
                "locks_shown": LOCKS_SHOWN,
                # Requests are shown to those who may read requests (none for the others).
                "requests": self.tenant_rows(ManagementRequest, ARTIFACTS_MANAGEMENT_REQUESTS_READ)
                .filter(matter=matter)
                .order_by("-id")[:20],
                "now": now,
                "can_edit": matter.is_open and self.may(RequestType.ADD_LOCK),
                "can_release": may_remove and matter.held_interactions > 0,
                "can_close": may_remove and matter.is_open,
                "confirm_remove_lock": CONFIRMATIONS[RequestType.REMOVE_LOCK],
                "add_lock_query": f"request_type=add_lock&matter={matter.case_id}",
            },
        )


class _MatterAction(_MattersView, View):
    """POST-only release / close of one matter; back to its page with a message."""

    permission_required = ARTIFACTS_MANAGEMENT_REQUESTS_CREATE
    http_method_names = ["post"]

    def post(self, request, tenant_slug, matter_id):
        matter = self.get_object()
        confirmed = request.POST.get("confirmed") == "on"
        try:
            self.act(matter, confirmed)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("matter-detail", tenant_slug=self.tenant.slug, matter_id=matter.pk)


class MatterReleaseView(_MatterAction):
    """Release the matter's locks (only its locks) through a Remove Lock request."""

    def act(self, matter, confirmed):
        req = matter_services.release_matter(matter.pk, self.actor, confirmed=confirmed)
        if req is None:
            messages.info(self.request, f"Matter {matter.case_id} holds nothing; nothing was changed.")
        else:
            report_saved(self.request, req)


class MatterCloseView(_MatterAction):
    """Close the matter; its locks are released through a Remove Lock request."""

    def act(self, matter, confirmed):
        matter, req = matter_services.close_matter(matter.pk, self.actor, confirmed=confirmed)
        messages.success(self.request, f"Matter {matter.case_id} was closed.")
        if req is not None:
            report_saved(self.request, req)
