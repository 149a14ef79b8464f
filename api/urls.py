"""URLs of the REST API: ``/api/oauth/token/`` and ``/api/v1/…`` (the contract: keep them stable)."""

from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from oauth2_provider.views import TokenView

from . import audit, batches, exports, interactions, recordings, requests


class IdConverter:
    """A row id that fits a bigint: longer digit strings are no id (404), not a database error."""

    regex = "[0-9]{1,18}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)


register_converter(IdConverter, "id")

v1 = [
    path("interactions", interactions.InteractionListView.as_view(), name="api-interactions"),
    path("interactions/delete-batch", batches.DeleteBatchView.as_view(), name="api-delete-batch"),
    path("interactions/<str:guid>", interactions.InteractionDetailView.as_view(), name="api-interaction"),
    path(
        "interactions/<str:guid>/content/<str:content_key>",
        interactions.ContentView.as_view(),
        name="api-content",
    ),
    path("recordings", recordings.RecordingListView.as_view(), name="api-recordings"),
    path("recordings/download/<str:token>", recordings.SignedDownloadView.as_view(), name="api-recording-download"),
    path("recordings/<id:artifact_id>", recordings.RecordingDetailView.as_view(), name="api-recording"),
    path("holds", requests.HoldsView.as_view(), name="api-holds"),
    path("holds/query", requests.HoldsQueryView.as_view(), name="api-holds-query"),
    path("requests", requests.RequestListView.as_view(), name="api-requests"),
    path("requests/<id:request_id>", requests.RequestDetailView.as_view(), name="api-request-detail"),
    path("requests/<id:request_id>/cancel", requests.RequestActionView.as_view(action="cancel"), name="api-cancel"),
    path("requests/<id:request_id>/retry", requests.RequestActionView.as_view(action="retry"), name="api-retry"),
    path("audit-events", audit.AuditEventListView.as_view(), name="api-audit-events"),
    path("exports", exports.ExportCreateView.as_view(), name="api-exports"),
    path("exports/<id:export_id>", exports.ExportDetailView.as_view(), name="api-export"),
    path("exports/<id:export_id>/download", exports.ExportDownloadView.as_view(), name="api-export-download"),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="api-schema"),
    # The Swagger UI from the project's own static files (drf-spectacular-sidecar), its set-up script
    # served separately: no inline script, as the Content-Security-Policy requires.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("oauth/token/", TokenView.as_view(), name="api-token"),
    path("v1/", include(v1)),
]
