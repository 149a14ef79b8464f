"""URLs of Configuration > ACD Configuration, under ``/t/<slug>/configuration/acd/``."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.AcdListView.as_view(), name="acd-list"),
    path("new/", views.AcdFormView.as_view(), name="acd-create"),
    path("labels/", views.MetadataLabelsView.as_view(), name="acd-labels"),
    path("labels/<int:label_pk>/delete/", views.MetadataLabelsView.as_view(), name="acd-label-delete"),
    path("<int:connection_pk>/", views.AcdFormView.as_view(), name="acd-edit"),
    path("<int:connection_pk>/<str:action>/", views.AcdActionView.as_view(), name="acd-action"),
]
