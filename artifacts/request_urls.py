"""URLs of Configuration > Artifacts Management Requests, under ``/t/<slug>/configuration/``."""

from django.urls import path

from . import request_views as views

urlpatterns = [
    path("", views.RequestListView.as_view(), name="management-request-list"),
    path("new/", views.RequestCreateView.as_view(), name="management-request-create"),
    path("new/impact/", views.RequestImpactView.as_view(), name="management-request-impact"),
    path("new/fields/", views.RequestFieldsView.as_view(), name="management-request-fields"),
    path("<int:request_id>/", views.RequestDetailView.as_view(), name="management-request-detail"),
    path("<int:request_id>/progress/", views.RequestProgressView.as_view(), name="management-request-progress"),
    path("<int:request_id>/cancel/", views.RequestCancelView.as_view(), name="management-request-cancel"),
    path("<int:request_id>/retry/", views.RequestRetryView.as_view(), name="management-request-retry"),
    path("<int:request_id>/approve/", views.RequestApproveView.as_view(), name="management-request-approve"),
    path("<int:request_id>/reject/", views.RequestRejectView.as_view(), name="management-request-reject"),
]
