"""URL map. Tenant pages live under /t/<tenant-slug>/."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from accounts import views as account_views
from ingestion import hooks as ingestion_hooks

from .health import healthz

tenant_patterns = [
    path("", account_views.tenant_home, name="tenant-home"),
    path("interactions/", include("workspace.urls")),
    path("artifacts/", include("artifacts.urls")),
    path("configuration/users-and-roles/", include("accounts.urls")),
    path("configuration/artifacts-management-requests/", include("artifacts.request_urls")),
    path("configuration/artifacts-lifecycle-policies/", include("policies.urls")),
    path("configuration/api-clients/", include("api.page_urls")),
    path("configuration/audit/", include("evidence.urls")),
    path("configuration/acd/", include("ingestion.urls")),
    path("configuration/legal-holds/", include("artifacts.matter_urls")),
    path("configuration/exports/", include("exports.urls")),
]


def favicon(request):
    """Browsers ask every site for ``/favicon.ico`` (the admin's pages link no icon): the static one."""
    return redirect(static("img/holdfast.svg"), permanent=True)


urlpatterns = [
    path("", account_views.home, name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("tenants/", account_views.TenantChooserView.as_view(), name="tenant-chooser"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Passwords: Django's views under Django's URL names; change and reset are audited.
    path("password_change/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", account_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("invitation/<uidb64>/<token>/", account_views.InvitationAcceptView.as_view(), name="invitation-accept"),
    path("healthz", healthz, name="healthz"),
    path("api/", include("api.urls")),
    path(
        "hooks/twilio/<uuid:connection_uuid>/recording-status",
        ingestion_hooks.recording_status,
        name="twilio-recording-status",
    ),
    path("admin/django-rq/", include("django_rq.urls")),
    # The admin's own "Change password" is the same audited view (matched before the admin's).
    path("admin/password_change/", account_views.PasswordChangeView.as_view()),
    path("admin/", admin.site.urls),
    path("t/<slug:tenant_slug>/", include(tenant_patterns)),
]

handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"
