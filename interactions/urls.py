from django.urls import path

from . import detail_views, views

urlpatterns = [
    path("", views.InteractionListView.as_view(), name="interaction-list"),
    path("<uuid:guid>/", detail_views.InteractionDetailView.as_view(), name="interaction-detail"),
]
