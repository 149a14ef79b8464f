from django.urls import path

from . import views

urlpatterns = [
    path("", views.InteractionListView.as_view(), name="interaction-list"),
    path("<uuid:guid>/", views.InteractionDetailView.as_view(), name="interaction-detail"),
]
