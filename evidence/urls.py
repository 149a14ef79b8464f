"""URLs of Configuration > Audit Trail, under ``/t/<slug>/configuration/audit/``."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.AuditTrailView.as_view(), name="audit-trail"),
    path("export.csv", views.AuditCsvExportView.as_view(), name="audit-export-csv"),
    path("export.zip", views.AuditBundleExportView.as_view(), name="audit-export-bundle"),
    path("checkpoint/", views.AuditCheckpointView.as_view(), name="audit-checkpoint"),
]
