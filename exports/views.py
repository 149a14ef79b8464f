"""Configuration > Exports: the tenant's export bundles (status, progress, download, manifest), and
the POST that creates one from the interactions list or a request's page. Thin: state changes are
:mod:`exports.services`; bytes come from the exports storage as a stream."""

import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Max
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View

from accounts.permissions import EXPORT_CONTENT
from accounts.tenancy import TenantViewMixin, report_queued

from . import buckets, services
from .forms import BucketForm, ScheduleForm
from .http import stream_response
from .models import Export, ExportBucket, ExportSchedule

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

    def page(self, form=None, bucket_form=None, status=200):
        rows = self.tenant_rows().defer("manifest", "manifest_signature", "interaction_ids")[:LIST_LIMIT]
        schedules = self.tenant_rows(ExportSchedule).select_related("push_to")
        return render(
            self.request,
            "exports/export_list.html",
            {
                "exports": rows.select_related("push_bucket"),
                "schedules": schedules.annotate(last_day=Max("exports__scheduled_for")),
                "buckets": self.tenant_rows(ExportBucket).annotate(schedule_count=Count("schedules")),
                "form": form or ScheduleForm(initial={"starts_on": timezone.localdate()}, tenant=self.tenant),
                "bucket_form": bucket_form or BucketForm(),
                "retention_days": self.tenant.export_retention_days,
                "attempts": settings.EXPORT_SCHEDULE_ATTEMPTS,
                "limit": LIST_LIMIT,
            },
            status=status,
        )

    def get(self, request, tenant_slug):
        return self.page()


class ScheduleCreateView(ExportListView):
    """POST: a new daily archive; the list again with the form's errors when it is not valid."""

    http_method_names = ["post"]

    def post(self, request, tenant_slug):
        form = ScheduleForm(request.POST, tenant=self.tenant)
        if form.is_valid():
            try:
                schedule = services.create_schedule(self.tenant.pk, self.actor, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, f"Daily archive “{schedule.name}” scheduled.")
                return redirect("export-list", tenant_slug=tenant_slug)
        return self.page(form=form, status=400)


def _form_errors(form, exc):
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class BucketCreateView(ExportListView):
    """POST: add one of the tenant's own S3 buckets; the list again with the form's errors."""

    http_method_names = ["post"]

    def post(self, request, tenant_slug):
        form = BucketForm(request.POST)
        if form.is_valid():
            try:
                bucket = buckets.create_bucket(self.tenant.pk, self.actor, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, f"Bucket “{bucket.name}” added: daily archives can be pushed to it.")
                return redirect(reverse("export-list", args=[tenant_slug]) + "#buckets")
        return self.page(bucket_form=form, status=400)


class BucketEditView(_ExportsView, View):
    """A bucket's page: change it (the keys are write-only: empty keeps them)."""

    model = ExportBucket
    not_found = "No such bucket in this tenant."

    def render_form(self, bucket, form, status=200):
        return render(self.request, "exports/bucket_form.html", {"bucket": bucket, "form": form}, status=status)

    def get(self, request, tenant_slug, pk):
        bucket = self.get_object()
        return self.render_form(bucket, BucketForm(instance=bucket))

    def post(self, request, tenant_slug, pk):
        bucket = self.get_object()
        form = BucketForm(request.POST, instance=ExportBucket.objects.get(pk=bucket.pk))
        if form.is_valid():
            values = dict(form.cleaned_data)
            for write_only in ("access_key_id", "secret_access_key"):
                if not values.get(write_only):
                    values.pop(write_only, None)
            try:
                buckets.update_bucket(bucket.pk, self.actor, **values)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, f"Bucket “{values.get('name') or bucket.name}” saved.")
                return redirect(reverse("export-list", args=[tenant_slug]) + "#buckets")
        return self.render_form(bucket, form, status=400)


class BucketRemoveView(_ExportsView, View):
    """POST: remove a bucket (refused, with the reason, while a daily archive pushes to it)."""

    model = ExportBucket
    not_found = "No such bucket in this tenant."
    http_method_names = ["post"]

    def post(self, request, tenant_slug, pk):
        bucket = self.get_object()
        try:
            buckets.remove_bucket(bucket.pk, self.actor)
        except ValidationError as exc:
            messages.error(request, f"Bucket “{bucket.name}” not removed: {' '.join(exc.messages)}")
        else:
            messages.success(request, f"Bucket “{bucket.name}” removed.")
        return redirect(reverse("export-list", args=[tenant_slug]) + "#buckets")


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


class ScheduleDestinationView(_ExportsView, View):
    """POST: where a daily archive's next archives go: one of the tenant's buckets, or kept here."""

    model = ExportSchedule
    not_found = "No such export schedule in this tenant."
    http_method_names = ["post"]

    def post(self, request, tenant_slug, pk):
        schedule = self.get_object()
        chosen = request.POST.get("push_to", "")
        bucket = self.tenant_rows(ExportBucket).filter(pk=chosen).first() if chosen.isdigit() else None
        if chosen and bucket is None:
            messages.error(request, f"Daily archive “{schedule.name}” not changed — push to: no such bucket.")
        else:
            services.update_schedule(schedule.pk, self.actor, push_to=bucket)
            where = f"your bucket “{bucket.name}”" if bucket else "Holdfast, for download"
            messages.success(request, f"Daily archive “{schedule.name}”: the next archives go to {where}.")
        return redirect(reverse("export-list", args=[tenant_slug]) + "#daily-archives")


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
