from django.urls import path

from . import views

urlpatterns = [
    path("", views.ExportListView.as_view(), name="export-list"),
    path("new/", views.ExportCreateView.as_view(), name="export-create"),
    path("schedules/new/", views.ScheduleCreateView.as_view(), name="export-schedule-create"),
    path("schedules/<int:pk>/toggle/", views.ScheduleToggleView.as_view(), name="export-schedule-toggle"),
    path("schedules/<int:pk>/push-to/", views.ScheduleDestinationView.as_view(), name="export-schedule-push-to"),
    path("buckets/new/", views.BucketCreateView.as_view(), name="export-bucket-create"),
    path("buckets/<int:pk>/", views.BucketEditView.as_view(), name="export-bucket-edit"),
    path("buckets/<int:pk>/remove/", views.BucketRemoveView.as_view(), name="export-bucket-remove"),
    path("<int:pk>/", views.ExportDetailView.as_view(), name="export-detail"),
    path("<int:pk>/progress/", views.ExportProgressView.as_view(), name="export-progress"),
    path("<int:pk>/download/", views.ExportDownloadView.as_view(), name="export-download"),
    path("<int:pk>/manifest.json", views.ExportFileView.as_view(name="manifest.json"), name="export-manifest"),
    path("<int:pk>/manifest.sig", views.ExportFileView.as_view(name="manifest.sig"), name="export-signature"),
]
