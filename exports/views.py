"""Configuration > Exports: the tenant's export bundles (status, progress, download, manifest), and
the POST that creates one from the interactions list or a request's page. Thin: state changes are
:mod:`exports.services`; bytes come from the exports storage as a stream."""

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View

from accounts.permissions import EXPORT_CONTENT
from accounts.tenancy import TenantViewMixin, report_queued

from . import services
from .forms import ScheduleForm
from .http import stream_response
from .models import Export, ExportSchedule

#: Most exports the page lists (newest first), and most manifest entries a detail page shows.
LIST_LIMIT = 100
MANIFEST_ROWS = 500


class _ExportsView(TenantViewMixin):
    permission_required = EXPORT_CONTENT
    model = Export
    not_found = "No such export in this tenant."


class ExportListView(_ExportsView, View):
    """The tenant's exports, newest first: selection, status and progress, size, expiry, download;
    and its daily archives (export schedules) with the form that adds one."""

    def page(self, form, status=200):
        rows = self.tenant_rows().defer("manifest", "manifest_signature", "interaction_ids")[:LIST_LIMIT]
        return render(
            self.request,
            "exports/export_list.html",
            {
                "exports": rows,
                "schedules": self.tenant_rows(ExportSchedule).annotate(last_day=Max("exports__scheduled_for")),
                "form": form,
                "retention_days": self.tenant.export_retention_days,
                "limit": LIST_LIMIT,
            },
            status=status,
        )

    def get(self, request, tenant_slug):
        return self.page(ScheduleForm(initial={"starts_on": timezone.localdate()}))


class ScheduleCreateView(ExportListView):
    """POST: a new daily archive; the list again with the form's errors when it is not valid."""

    http_method_names = ["post"]

    def post(self, request, tenant_slug):
        form = ScheduleForm(request.POST)
        if form.is_valid():
            try:
                schedule = services.create_schedule(self.tenant.pk, self.actor, **form.cleaned_data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, f"Daily archive “{schedule.name}” scheduled.")
                return redirect("export-list", tenant_slug=tenant_slug)
        return self.page(form, status=400)


class ScheduleToggleView(_ExportsView, View):
    """POST: turn a daily archive off or on again."""

    model = ExportSchedule
    not_found = "No such export schedule in this tenant."
    http_method_names = ["post"]

    def post(self, request, tenant_slug, pk):
        schedule = self.get_object()
        services.update_schedule(schedule.pk, self.actor, enabled=not schedule.enabled)
        state = "turned off" if schedule.enabled else "turned on"
        messages.success(request, f"Daily archive “{schedule.name}” {state}.")
        return redirect("export-list", tenant_slug=tenant_slug)


def _back(request, tenant):
    """Where the export was asked from (the list with its filters, the request's page), or Exports."""
    target = request.POST.get("next", "")
    if target.startswith(f"/t/{tenant.slug}/") and "//" not in target:
        return redirect(target)
    return redirect("export-list", tenant_slug=tenant.slug)


class ExportCreateView(_ExportsView, View):
    """POST: an export of the list's filters (``query_string``), chosen rows (``interaction_ids``) or
    a request's interactions (``request_id``); bad input goes back with the message, nothing saved."""

    http_method_names = ["post"]

    def post(self, request, tenant_slug):
        post = request.POST
        ids = post.getlist("interaction_ids")
        try:
            export = services.create_export(
                self.tenant.pk,
                self.actor,
                filters=None if ids or post.get("request_id") else QueryDict(post.get("query_string", "")),
                interaction_ids=ids or None,
                request_id=post.get("request_id") or None,
                description=post.get("description", ""),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    messages.error(request, f"Export not created — {field.replace('_', ' ')}: {error}")
            if post.get("request_id"):
                return redirect(reverse("management-request-detail", args=[tenant_slug, post["request_id"]]))
            return redirect(reverse("interaction-list", args=[tenant_slug]) + "?" + post.get("query_string", ""))
        report_queued(
            request,
            export,
            f"Export {export.pk} of {export.interaction_count:,} interaction"
            f"{'s' if export.interaction_count != 1 else ''} created; it is being written.",
        )
        return redirect("export-detail", tenant_slug=tenant_slug, pk=export.pk)


class ExportDetailView(_ExportsView, View):
    """One export: its facts, its progress, and its manifest (the first entries) once complete."""

    def get(self, request, tenant_slug, pk):
        export = self.get_object()
        manifest = json.loads(export.manifest) if export.manifest else None
        signature = json.loads(export.manifest_signature) if export.manifest_signature else None
        entries = manifest["artifacts"][:MANIFEST_ROWS] if manifest else []
        return render(
            request,
            "exports/export_detail.html",
            {
                "export": export,
                "manifest": manifest,
                "signature": signature,
                "entries": entries,
                "more_entries": (len(manifest["artifacts"]) - len(entries)) if manifest else 0,
            },
        )


class ExportProgressView(_ExportsView, View):
    """The progress fragment the detail page polls while the export is written (htmx)."""

    def get(self, request, tenant_slug, pk):
        export = self.get_object(queryset=self.tenant_rows().defer("manifest", "manifest_signature"))
        shown = request.GET.get("status")
        if request.headers.get("HX-Request") == "true" and shown and shown != export.status:
            # It ended (or started): the whole page changes (download button, manifest), so reload it.
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"
            return response
        return render(request, "exports/_progress.html", {"export": export})


class ExportFileView(_ExportsView, View):
    """``manifest.json`` / ``manifest.sig`` of a complete export, byte for byte as in the zip."""

    name = "manifest.json"

    def get(self, request, tenant_slug, pk):
        export = self.get_object()
        text = export.manifest if self.name == "manifest.json" else export.manifest_signature
        if not text:
            raise Http404("This export has no manifest (yet).")
        response = HttpResponse(text.encode(), content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="export-{export.pk}-{self.name}"'
        return response


class ExportDownloadView(_ExportsView, View):
    """The zip, streamed; each download is audited (*Export downloaded*)."""

    def get(self, request, tenant_slug, pk):
        export = self.get_object(queryset=self.tenant_rows().defer("manifest", "manifest_signature"))
        try:
            export = services.record_download(export.pk, self.actor)
        except ValidationError as exc:
            return HttpResponse(" ".join(exc.messages) + "\n", status=410, content_type="text/plain; charset=utf-8")
        return stream_response(export)
