"""Configuration > ACD Configuration (``MANAGE_INTEGRATIONS``, Administrators): the tenant's Twilio
Flex ACDs — list, create, edit, delete, Test Connection, Ingest now, the last run and its errors,
the webhook delivery log — and the tenant's metadata labels. Thin: :mod:`ingestion.services` and
:mod:`ingestion.probe` do the work."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.shortcuts import redirect, render
from django.views import View

from accounts.permissions import MANAGE_INTEGRATIONS
from accounts.tenancy import TenantViewMixin, report_queued
from core import secrets

from . import probe, services
from .forms import ConnectionForm, MetadataLabelForm
from .models import IngestionRun, MetadataLabel, TwilioFlexConnection

FORM_FIELDS = {"products": "voice_enabled"}


def _add_errors(form, exc):
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            field = FORM_FIELDS.get(field, field)
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


class AcdMixin(TenantViewMixin):
    """Administrators only (``MANAGE_INTEGRATIONS``); the rows are the tenant's connections."""

    permission_required = MANAGE_INTEGRATIONS
    model = TwilioFlexConnection
    lookup = ("pk", "connection_pk")
    not_found = "No such ACD in this tenant."


class AcdListView(AcdMixin, View):
    """The ACDs with their last run, and the metadata labels."""

    def get(self, request, tenant_slug, label_form=None, status=200):
        last = IngestionRun.objects.filter(connection=OuterRef("pk")).order_by("-created_at", "-pk")
        connections = self.tenant_rows().annotate(
            last_status=Subquery(last.values("status")[:1]),
            last_finished=Subquery(last.values("finished_at")[:1]),
            last_created=Subquery(last.values("created_at")[:1]),
            last_artifacts=Subquery(last.values("artifacts_stored")[:1]),
            last_errors=Subquery(last.values("errors")[:1]),
        )
        context = {
            "connections": connections,
            "labels": MetadataLabel.objects.restrict(self.actor, MANAGE_INTEGRATIONS).filter(tenant=self.tenant),
            "label_form": label_form or MetadataLabelForm(),
            "status_choices": dict(IngestionRun.Status.choices),
        }
        return render(request, "ingestion/acd_list.html", context, status=status)


class AcdFormView(AcdMixin, View):
    """Create (no ``connection_pk``) or edit an ACD; the form's Test Connection button tests the
    entered values without saving."""

    def _connection(self):
        return self.get_object() if "connection_pk" in self.kwargs else None

    def page(self, form, connection, status=200, test_result=None, created_secret=None):
        context = {"form": form, "connection": connection, "test_result": test_result, "created_secret": created_secret}
        if connection is not None:
            runs = IngestionRun.objects.restrict(self.actor, MANAGE_INTEGRATIONS).filter(connection=connection)
            context["last_run"] = runs.order_by("-created_at", "-pk").first()
            context["recent_runs"] = runs.order_by("-created_at", "-pk")[:10]
            context["deliveries"] = connection.deliveries.order_by("-created_at", "-pk")[:20]
            context["callback_url"] = self.request.build_absolute_uri(
                f"/hooks/twilio/{connection.uuid}/recording-status"
            )
        response = render(self.request, "ingestion/acd_form.html", context, status=status)
        if created_secret:
            response["Cache-Control"] = "private, no-store"
        return response

    def get(self, request, tenant_slug, connection_pk=None):
        connection = self._connection()
        return self.page(ConnectionForm(tenant=self.tenant, connection=connection), connection)

    def post(self, request, tenant_slug, connection_pk=None):
        connection = self._connection()
        form = ConnectionForm(request.POST, tenant=self.tenant, connection=connection)
        if not form.is_valid():
            return self.page(form, connection, status=400)
        if request.POST.get("action") == "test":
            return self.page(form, connection, test_result=self._test(form, connection))
        try:
            if connection is None:
                connection, secret = services.create_connection(self.tenant.pk, self.actor, **form.service_fields())
            else:
                connection, secret = services.update_connection(connection.pk, self.actor, **form.service_fields())
        except ValidationError as exc:
            _add_errors(form, exc)
            return self.page(form, connection, status=400)
        except (PermissionDenied, secrets.SecretsUnavailable) as exc:
            form.add_error(None, str(exc))
            return self.page(form, connection, status=400)
        messages.success(request, f"Twilio Flex ACD “{connection.name}” saved.")
        if secret:
            return self.page(
                ConnectionForm(tenant=self.tenant, connection=connection), connection, created_secret=secret
            )
        return redirect("acd-edit", tenant_slug=self.tenant.slug, connection_pk=connection.pk)

    def _test(self, form, connection):
        data = form.cleaned_data
        token = data.get("auth_token") or ""
        if not token and connection is not None:
            try:
                token = secrets.decrypt(connection.auth_token_encrypted)
            except secrets.SecretsUnavailable as exc:
                return probe.ProbeResult(False, str(exc))
        return probe.test_connection(data.get("account_sid"), token, data.get("workspace_sid"))


class AcdActionView(AcdMixin, View):
    """POST: delete, ingest now, or make a new webhook signing secret."""

    http_method_names = ["post"]

    def post(self, request, tenant_slug, connection_pk, action):
        connection = self.get_object()
        try:
            if action == "delete":
                services.delete_connection(connection.pk, self.actor)
                messages.success(request, f"Twilio Flex ACD “{connection.name}” deleted.")
                return redirect("acd-list", tenant_slug=self.tenant.slug)
            if action == "ingest":
                run = services.start_ingestion(connection.pk, self.actor, trigger=IngestionRun.Trigger.PAGE)
                report_queued(request, run, f"Ingestion {run.pk} of “{connection.name}” queued.")
            elif action == "webhook-secret":
                secret = services.regenerate_webhook_secret(connection.pk, self.actor)
                form = ConnectionForm(tenant=self.tenant, connection=connection)
                return AcdFormView(request=request, kwargs=self.kwargs, tenant=self.tenant, actor=self.actor).page(
                    form, connection, created_secret=secret
                )
            else:
                messages.error(request, "Unknown action.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("acd-edit", tenant_slug=self.tenant.slug, connection_pk=connection.pk)


class MetadataLabelsView(AcdMixin, View):
    """POST: add a metadata label; POST to ``<pk>/delete/``: remove one."""

    http_method_names = ["post"]

    def post(self, request, tenant_slug, label_pk=None):
        if label_pk is not None:
            label = (
                MetadataLabel.objects.restrict(self.actor, MANAGE_INTEGRATIONS)
                .filter(tenant=self.tenant, pk=label_pk)
                .first()
            )
            if label is None:
                messages.error(request, "No such metadata label in this tenant.")
            else:
                try:
                    services.delete_metadata_label(label.pk, self.actor)
                    messages.success(request, f"Metadata label “{label.name}” removed.")
                except ValidationError as exc:
                    messages.error(request, " ".join(exc.messages))
            return redirect("acd-list", tenant_slug=self.tenant.slug)
        form = MetadataLabelForm(request.POST)
        if form.is_valid():
            try:
                services.create_metadata_label(
                    self.tenant.pk,
                    self.actor,
                    name=form.cleaned_data["label_name"],
                    metadata_type=form.cleaned_data["metadata_type"],
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Metadata label “{form.cleaned_data['label_name'].strip()}” added.")
                return redirect("acd-list", tenant_slug=self.tenant.slug)
        return AcdListView(request=request, kwargs=self.kwargs, tenant=self.tenant, actor=self.actor).get(
            request, tenant_slug, label_form=form, status=400
        )
