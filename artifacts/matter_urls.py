"""URLs of Configuration > Legal Holds, under ``/t/<slug>/configuration/legal-holds/``."""

from django.urls import path

from . import matter_views as views

urlpatterns = [
    path("", views.MatterListView.as_view(), name="legal-holds"),
    path("new/", views.MatterFormView.as_view(), name="matter-create"),
    path("<int:matter_id>/", views.MatterDetailView.as_view(), name="matter-detail"),
    path("<int:matter_id>/edit/", views.MatterFormView.as_view(), name="matter-edit"),
    path("<int:matter_id>/release/", views.MatterReleaseView.as_view(), name="matter-release"),
    path("<int:matter_id>/close/", views.MatterCloseView.as_view(), name="matter-close"),
]
