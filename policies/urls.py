from django.urls import path

from . import views

urlpatterns = [
    path("", views.PolicyListView.as_view(), name="policy-list"),
    path("new/", views.PolicyFormView.as_view(), name="policy-create"),
    path("<int:policy_id>/edit/", views.PolicyFormView.as_view(), name="policy-edit"),
    path("<int:policy_id>/<str:action>/", views.PolicyActionView.as_view(), name="policy-action"),
    path("sweeps/", views.StartSweepView.as_view(), name="policy-sweep"),
    path(
        "changes/<int:change_id>/approve/",
        views.PolicyChangeDecisionView.as_view(decision="approve"),
        name="policy-change-approve",
    ),
    path(
        "changes/<int:change_id>/reject/",
        views.PolicyChangeDecisionView.as_view(decision="reject"),
        name="policy-change-reject",
    ),
    path("sweeps/<int:run_id>/", views.SweepDetailView.as_view(), name="sweep-detail"),
    path("sweeps/<int:run_id>/progress/", views.SweepProgressView.as_view(), name="sweep-progress"),
]
