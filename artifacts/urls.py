from django.urls import path

from . import views

urlpatterns = [
    path(
        "<int:artifact_id>/play/",
        views.ArtifactContentView.as_view(disposition="inline"),
        name="artifact-play",
    ),
    path(
        "<int:artifact_id>/download/",
        views.ArtifactContentView.as_view(disposition="attachment"),
        name="artifact-download",
    ),
    path(
        "<int:artifact_id>/attachments/<int:position>/",
        views.EmailAttachmentView.as_view(),
        name="artifact-attachment",
    ),
]
