"""Configuration > API Clients: an Administrator's page to create (the secret shown once) and
revoke the tenant's API clients. Thin: :mod:`api.services` changes state."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.views import View

from accounts.permissions import MANAGE_MEMBERS
from accounts.tenancy import TenantViewMixin

from . import services
from .models import ApiClient
from .scopes import SCOPES


class ApiClientForm(forms.Form):
    """A new client: a name and its scopes."""

    name = forms.CharField(label="Name", max_length=100, help_text="e.g. the integration's system: “CRM sync”.")
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=[(scope, f"{scope} — {text}") for scope, text in SCOPES.items()],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Scopes: choose at least one."},
    )


class ApiClientsView(TenantViewMixin, View):
    """The tenant's API clients (active and revoked) and the form that creates one."""

    permission_required = MANAGE_MEMBERS
    model = ApiClient
    template_name = "api/clients.html"

    def page(self, form, status=200, created=None):
        return render(
            self.request,
            self.template_name,
            {
                "clients": self.tenant_rows().order_by("revoked_at", "name"),
                "form": form,
                "created": created,
                "token_url": self.request.build_absolute_uri("/api/oauth/token/"),
                "docs_url": "/api/v1/docs/",
            },
            status=status,
        )

    def get(self, request, tenant_slug):
        return self.page(ApiClientForm())

    def post(self, request, tenant_slug):
        form = ApiClientForm(request.POST)
        if form.is_valid():
            try:
                client, secret = services.create_api_client(
                    self.tenant.pk, self.actor, name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"]
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            else:
                # The secret is shown on this response only; it is stored hashed.
                response = self.page(ApiClientForm(), created={"client": client, "secret": secret})
                response["Cache-Control"] = "private, no-store"
                return response
        return self.page(form, status=400)


class RevokeApiClientView(TenantViewMixin, View):
    """POST: revoke one of the tenant's clients (its tokens stop working at once)."""

    permission_required = MANAGE_MEMBERS
    model = ApiClient
    lookup = ("pk", "client_pk")
    not_found = "No such API client in this tenant."
    http_method_names = ["post"]

    def post(self, request, tenant_slug, client_pk):
        client = self.get_object()
        try:
            services.revoke_api_client(client.pk, self.actor)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"API client “{client.name}” revoked: its tokens no longer work.")
        return redirect("api-clients", tenant_slug=self.tenant.slug)
