"""Configuration > Artifacts Management Requests: list, create, detail (with a progress partial
that the detail page polls), cancel and retry.

Views are thin: every state change goes through :mod:`artifacts.services` with the request's actor,
every read through the tenant view's rows (``ManagementRequest.objects.restrict(actor, perm)`` plus
the tenant of the URL).
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.generic import TemplateView, View

from accounts.permissions import ARTIFACTS_MANAGEMENT_REQUESTS_CREATE, ARTIFACTS_MANAGEMENT_REQUESTS_READ
from accounts.tenancy import WORKERS_UNREACHABLE, TenantViewMixin, report_queued

from . import services
from .forms import PREFILL_FIELDS, ManagementRequestForm
from .impact import request_impact
from .models import ManagementRequest, ManagementRequestItem, Matter
from .validation import MAX_INTERACTION_IDS, SEPARATORS, required_permissions, validate_request

READ, CREATE = ARTIFACTS_MANAGEMENT_REQUESTS_READ, ARTIFACTS_MANAGEMENT_REQUESTS_CREATE
Status = ManagementRequest.Status
PAGE_SIZE = 25
RESULT_TOTALS = ("matched", "locked", "unlocked", "deleted", "skipped_locked")


class _RequestsView(TenantViewMixin):
    """Views of the tenant's Artifacts Management Requests."""

    model = ManagementRequest
    lookup = ("pk", "request_id")
    not_found = "No such Artifacts Management Request."


def report_saved(request, req):
    """Tell the user the new request is queued, or that it awaits a second person's approval."""
    label = f"Request {req.pk} ({req.get_request_type_display()})"
    if req.awaits_approval:
        messages.info(
            request,
            f"{label} is Awaiting Approval: a second user holding the same permissions must approve it "
            "before it runs (two-person approval).",
        )
    else:
        report_queued(request, req, f"{label} was queued.")


def _detail(request, req):
    return redirect("management-request-detail", tenant_slug=request.tenant.slug, request_id=req.pk)


class RequestListView(_RequestsView, TemplateView):
    """The tenant's requests, newest first, filtered by status and request type, paginated."""

    permission_required = READ
    template_name = "artifacts/requests/request_list.html"

    def _filters(self):
        """Valid filters from the query string, and a message for each value that is not one."""
        chosen, problems = {}, []
        for param, label, choices in (
            ("status", "Status", Status),
            ("request_type", "Request Type", ManagementRequest.RequestType),
        ):
            value = self.request.GET.get(param, "")
            if value in choices.values:
                chosen[param] = value
            elif value:
                problems.append(f"{label}: “{value[:40]}” is not a {label.lower()}; showing every {label.lower()}.")
        return chosen, problems

    def get_context_data(self, **kwargs):
        chosen, problems = self._filters()
        # The number of interactions that failed, for the list's error summary (same statement).
        rows = (
            self.tenant_rows()
            .filter(**chosen)
            .annotate(failed=Count("items", filter=Q(items__status=ManagementRequestItem.Status.ERROR)))
            .order_by("-created_at", "-id")
        )
        page = Paginator(rows, PAGE_SIZE).get_page(self.request.GET.get("page"))
        query = urlencode(chosen)
        return super().get_context_data(
            page=page,
            requests=page.object_list,
            chosen=chosen,
            filter_problems=problems,
            filter_query=query,
            status_choices=Status.choices,
            type_choices=ManagementRequest.RequestType.choices,
            can_create=CREATE in self.perms,
            **kwargs,
        )


class RequestCreateView(_RequestsView, View):
    """Create a request: the service validates and saves it (and queues it) or says what is wrong."""

    permission_required = CREATE
    template_name = "artifacts/requests/request_form.html"

    def render_form(self, form, status=200, impact=None):
        context = {"form": form, "impact": impact, **dependent_fields(form, self.tenant, narrow=False)}
        return render(self.request, self.template_name, context, status=status)

    def impact(self, form):
        """The request's impact preview for the form's current inputs (None until they say enough)."""
        fields = form.service_fields()
        return request_impact(
            self.tenant.pk,
            self.actor,
            request_type=fields["request_type"],
            artifact_type=fields["artifact_type"],
            audio_recording_type=fields["audio_recording_type"],
            interaction_ids=fields["interaction_ids"],
            remove_locks=fields["remove_locks"],
        )

    def make_form(self, *args, **kwargs):
        matters = self.tenant_rows(Matter).filter(status=Matter.Status.OPEN).order_by("case_id")
        return ManagementRequestForm(
            *args, perms=self.perms, matters=matters, matter_required=self.tenant.matter_required_for_locks, **kwargs
        )

    def get(self, request, tenant_slug):
        """The empty form, prefilled from the query string (``?request_type=add_lock&...``)."""
        initial = {name: value for name in PREFILL_FIELDS if (value := "\n".join(request.GET.getlist(name)))}
        return self.render_form(self.make_form(initial=initial))

    def post(self, request, tenant_slug):
        """Save through the service; errors come back on the form with status 400."""
        form = self.make_form(request.POST)
        readable = form.is_valid()  # only an unreadable date can fail here
        if "preview" in request.POST:  # "Preview impact" (the page without JavaScript): nothing is saved
            return self.render_form(self.make_form(request.POST), impact=self.impact(form))
        fields = form.service_fields()
        try:
            if readable:
                req = services.create_management_request(self.tenant.pk, self.actor, **fields)
            else:
                # Saves nothing: only collects the other fields' messages to show them all at once.
                validate_request(self.tenant, self.perms, **fields)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            if readable:
                report_saved(request, req)
                return _detail(request, req)
        return self.render_form(form, status=400, impact=self.impact(form))


class RequestImpactView(RequestCreateView):
    """POST: the impact preview of the form's inputs, and the count of ids entered (htmx fetches
    them as the inputs change)."""

    http_method_names = ["post"]
    template_name = "artifacts/requests/_impact_update.html"

    def post(self, request, tenant_slug):
        form = ManagementRequestForm(request.POST, perms=self.perms)
        form.is_valid()
        return render(request, self.template_name, {"impact": self.impact(form), **ids_count(form)})


class RequestFieldsView(RequestCreateView):
    """POST: the fields that depend on the form's choices — the chosen Request Type's options (Lock
    Expires On once Lock Expires is ticked), the Audio Recording Type for Audio Recording, a
    destructive-looking Submit for Delete and Remove Lock — as htmx swaps them in."""

    http_method_names = ["post"]
    template_name = "artifacts/requests/_fields_update.html"

    def post(self, request, tenant_slug):
        data = request.POST.copy()
        # A field the last choice took away keeps its value in a ``kept_`` input, so that a matter
        # prefilled by a link survives Add Lock → Delete → Add Lock. Only the fragment reads it back:
        # the form's own POST ignores ``kept_`` values, so nothing hidden is ever submitted.
        for name in KEPT_FIELDS:
            if name not in data and f"kept_{name}" in data:
                data[name] = data[f"kept_{name}"]
        form = self.make_form(data)
        form.is_valid()
        return render(request, self.template_name, {"form": form, **dependent_fields(form, self.tenant, narrow=True)})


#: Fields the dependent-fields fragment may take away whose value comes back with them.
KEPT_FIELDS = ("matter", "lock_expires_on")


def ids_count(form):
    """``ids_count`` (distinct entries as the validator splits them), ``max_ids`` and ``ids_over``."""
    ids = form["interaction_ids"].value() or ""
    count = len({token.lower() for token in SEPARATORS.split(str(ids)) if token})
    return {"ids_count": count, "max_ids": MAX_INTERACTION_IDS, "ids_over": max(count - MAX_INTERACTION_IDS, 0)}


def dependent_fields(form, tenant, *, narrow):
    """What the form shows of the fields that depend on its choices.

    ``narrow=False`` (the page itself, which must work without JavaScript): every Request Type's
    options, the expiry date and the Audio Recording Type. ``narrow=True`` (htmx, which knows the
    choices as they change): only the chosen type's options, the expiry date once Lock Expires is
    ticked, the Audio Recording Type for Audio Recording.
    """
    chosen = form["request_type"].value() or ""
    allowed = [t.value for t in form.allowed_types]
    types = ([chosen] if chosen in allowed else []) if narrow else allowed
    confirms = dict(form.confirmation_fields)
    labels = dict(ManagementRequest.RequestType.choices)
    groups = [
        {
            "type": t,
            "label": labels[t],
            "confirm": confirms[t],
        }
        for t in types
    ]
    shows = {
        "matter": bool({"add_lock", "remove_lock"} & set(types)),
        "lock_expires_on": not narrow or ("add_lock" in types and bool(form["lock_expires"].value())),
    }
    return {
        "option_groups": groups,
        "option_types": types,
        "shows_expiry": shows["lock_expires_on"],
        "kept": {name: form.data.get(name, "") for name in KEPT_FIELDS if not shows[name]},
        "single": narrow,
        "shows_matter": shows["matter"],
        "shows_audio": not narrow or form["artifact_type"].value() == form.audio_recording_value,
        "destructive": chosen in ("delete", "remove_lock"),
        "fields_url": reverse("management-request-fields", args=[tenant.slug]),
        **ids_count(form),
    }


#: The detail page's result filters (``?results=``): name → (label, condition on the items).
RESULT_FILTERS = {
    "errors": ("Errors", Q(status=ManagementRequestItem.Status.ERROR)),
    "skipped": ("Skipped because locked", Q(skipped_locked__gt=0)),
    "done": ("Done", Q(status=ManagementRequestItem.Status.DONE)),
}


def _detail_context(request, req):
    """What the detail page and its progress partial show: results (filtered by ``?results=``),
    totals of all of them, progress."""
    shown = request.GET.get("results", "")
    shown = shown if shown in RESULT_FILTERS else ""
    items = list(
        ManagementRequestItem.objects.filter(request=req)
        .filter(RESULT_FILTERS[shown][1] if shown else Q())
        .select_related("interaction")
        .only("interaction", "interaction__guid", "status", "error", "already_deleting", "finished_at", *RESULT_TOTALS)
        .order_by("position")
    )
    totals = ManagementRequestItem.objects.filter(request=req).aggregate(
        processed=Count("id", filter=~Q(status=ManagementRequestItem.Status.PENDING)),
        # How many results each filter would show, in the same statement.
        **{f"shown_{name}": Count("id", filter=q) for name, (_label, q) in RESULT_FILTERS.items()},
        **{field: Coalesce(Sum(field), 0) for field in RESULT_TOTALS},
    )
    shown_counts = {name: totals.pop(f"shown_{name}") for name in RESULT_FILTERS}
    running = req.status in (Status.QUEUED, Status.IN_PROGRESS)
    # Queued and on no RQ job: Redis was unreachable when it was (re)queued.
    waiting = req.status == Status.QUEUED and not req.rq_job_id and not settings.JOBS_INLINE
    perms = request.tenant_perms
    return {
        "req": req,
        "items": items,
        "results_shown": shown,
        "result_filters": [(name, label, shown_counts[name]) for name, (label, _q) in RESULT_FILTERS.items()],
        "totals": totals,
        "running": running,
        "waiting_for_workers": waiting,
        "workers_unreachable": WORKERS_UNREACHABLE,
        "can_cancel": req.status in (Status.QUEUED, Status.AWAITING_APPROVAL) and CREATE in perms,
        # Two-person approval: someone else holding what creating it needs.
        "can_decide": req.awaits_approval
        and required_permissions(req.request_type, req.remove_locks) <= set(perms)
        and req.created_by_user_id != request.user.pk,
        "can_retry": req.status == Status.ERROR
        and req.retryable
        and required_permissions(req.request_type, req.remove_locks) <= set(perms),
    }


class RequestDetailView(_RequestsView, View):
    """One request: every field, the creator, the ticked confirmation, progress, results, totals."""

    permission_required = READ
    template_name = "artifacts/requests/request_detail.html"

    def get(self, request, tenant_slug, request_id):
        return render(request, self.template_name, _detail_context(request, self.get_object()))


class RequestProgressView(RequestDetailView):
    """The live part of the detail page (status, progress, totals, results), polled while it runs.

    An htmx poll says which status its page shows (``?status=``): once the request has moved on, the
    answer asks htmx to reload the whole page (``HX-Refresh``) instead of swapping the part. A poll
    with ``?wait=finished`` (the interaction page) gets nothing to swap until the request has ended,
    then the reload."""

    template_name = "artifacts/requests/_live.html"

    def get(self, request, tenant_slug, request_id):
        req = self.get_object()
        if request.headers.get("HX-Request") == "true":
            shown, wait = request.GET.get("status"), request.GET.get("wait")
            running = req.status in (Status.QUEUED, Status.IN_PROGRESS)
            if (shown and shown != req.status) or (wait == "finished" and not running):
                response = HttpResponse(status=204)
                response["HX-Refresh"] = "true"
                return response
            if wait == "finished":
                return HttpResponse(status=204)  # still running: nothing to swap, keep polling
        return render(request, self.template_name, _detail_context(request, req))


class _RequestAction(_RequestsView, View):
    """POST-only action on one request; it comes back to the detail page with a message."""

    permission_required = CREATE
    http_method_names = ["post"]

    def act(self, req):
        raise NotImplementedError

    def post(self, request, tenant_slug, request_id):
        req = self.get_object()
        try:
            done, row = self.act(req)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            report_queued(request, row, done)
        return _detail(request, req)


class RequestCancelView(_RequestAction):
    """Cancel a Queued request (CREATE permission)."""

    def act(self, req):
        return f"Request {req.pk} was cancelled.", services.cancel_management_request(req.pk, self.actor)


class RequestRetryView(_RequestAction):
    """Retry a request in Error: it needs the permissions that creating it needs."""

    def act(self, req):
        row = services.retry_management_request(req.pk, self.actor)
        return f"Request {req.pk} was queued again; only the interactions that did not finish are redone.", row


class RequestApproveView(_RequestAction):
    """Approve a request Awaiting Approval: a second user with the permissions creating it needs (the
    service refuses its creator with 403); it is then queued."""

    def act(self, req):
        row = services.approve_management_request(req.pk, self.actor)
        return f"Request {req.pk} was approved and queued.", row


class RequestRejectView(_RequestAction):
    """Reject a request Awaiting Approval, with the required reason from the form."""

    def act(self, req):
        row = services.reject_management_request(req.pk, self.actor, self.request.POST.get("reason", ""))
        return f"Request {req.pk} was rejected; nothing was done.", row
