"""Configuration > Audit Trail (``VIEW_AUDIT``): the tenant's trail with filters and keyset pages
(newest first, by ``seq``), the chain status (last verification, last checkpoint, the public key
and its fingerprint), a checkpoint on demand, and the exports (CSV; verifiable bundle). Every export
is itself audited (``audit_exported``)."""

from django.contrib import messages
from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View

from accounts import audit
from accounts import checkpoints as cp
from accounts.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditVerification
from accounts.permissions import VIEW_AUDIT
from accounts.tenancy import TenantViewMixin

from .export import ExportRefused, build_bundle, csv_lines
from .filters import AuditFilterForm

PAGE_SIZE = 50


class AuditBase(TenantViewMixin, View):
    permission_required = VIEW_AUDIT
    model = AuditEvent

    def filtered(self):
        """``(form, rows)``: the tenant's events the query string's filters select (all when invalid)."""
        form = AuditFilterForm(self.request.GET or None)
        rows = self.tenant_rows()
        if form.is_bound and form.is_valid():
            rows = rows.filter(form.q())
        return form, rows

    def filters(self, form):
        return form.described() if form.is_bound and form.is_valid() else {}


class AuditTrailView(AuditBase):
    template_name = "evidence/audit_trail.html"

    def get(self, request, tenant_slug):
        form, rows = self.filtered()
        before = request.GET.get("before", "")
        if before.isdigit():
            rows = rows.filter(seq__lt=int(before))
        page = list(rows.order_by("-seq")[: PAGE_SIZE + 1])
        more = len(page) > PAGE_SIZE
        page = page[:PAGE_SIZE]
        query = request.GET.copy()
        query.pop("before", None)
        try:
            fingerprint, public_key, key_error = cp.key_fingerprint(), cp.public_pem().decode(), ""
        except Exception as exc:  # an unset or unreadable key must not hide the trail
            fingerprint, public_key, key_error = "", "", str(exc)
        verifications = AuditVerification.objects.filter(tenant=self.tenant)
        return render(
            request,
            self.template_name,
            {
                "form": form,
                "events": page,
                "next_before": page[-1].seq if more else None,
                "query": query.urlencode(),
                "head": AuditChainHead.objects.filter(tenant=self.tenant).first(),
                "last_verification": verifications.order_by("-finished_at").first(),
                "last_full_verification": verifications.filter(from_seq=1).order_by("-finished_at").first(),
                "last_checkpoint": AuditCheckpoint.objects.filter(tenant=self.tenant).order_by("-seq").first(),
                "fingerprint": fingerprint,
                "public_key": public_key,
                "key_error": key_error,
            },
        )


class AuditCsvExportView(AuditBase):
    def get(self, request, tenant_slug):
        form, rows = self.filtered()
        audit.record(
            self.tenant.pk, AuditEvent.Kind.AUDIT_EXPORTED, self.actor, format="csv", filters=self.filters(form)
        )
        name = f"audit-{self.tenant.slug}-{timezone.now():%Y%m%dT%H%M%SZ}.csv"
        response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class AuditBundleExportView(AuditBase):
    def get(self, request, tenant_slug):
        form, rows = self.filtered()
        filters = self.filters(form)
        try:
            bundle, name, manifest = build_bundle(self.tenant, rows, filters, self.actor.label)
        except ExportRefused as exc:
            messages.error(request, str(exc))
            return redirect(f"{reverse('audit-trail', args=[self.tenant.slug])}?{request.GET.urlencode()}")
        audit.record(
            self.tenant.pk,
            AuditEvent.Kind.AUDIT_EXPORTED,
            self.actor,
            format="bundle",
            filters=filters,
            first_seq=manifest["first_seq"],
            last_seq=manifest["last_seq"],
            events_in_full=manifest["events_in_full"],
        )
        return FileResponse(bundle, as_attachment=True, filename=name, content_type="application/zip")


class AuditCheckpointView(AuditBase):
    """POST: verify the events since the last checkpoint and sign the head now."""

    http_method_names = ["post"]

    def post(self, request, tenant_slug):
        checkpoint, created, result = cp.take_checkpoint(self.tenant, source="web")
        if checkpoint is None and not result.ok:
            messages.error(request, f"Not signed: {result.line}")
        elif checkpoint is None:
            messages.info(request, "No audit events yet: nothing to sign.")
        elif created:
            messages.success(request, f"Checkpoint signed at seq {checkpoint.seq}.")
        else:
            messages.info(request, f"Nothing new since the checkpoint at seq {checkpoint.seq}.")
        return redirect("audit-trail", tenant_slug=self.tenant.slug)
