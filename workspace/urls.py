from django.urls import path

from . import detail_views, views

urlpatterns = [
    path("", views.InteractionListView.as_view(), name="interaction-list"),
    path("export.csv", views.InteractionExportView.as_view(), name="interaction-export"),
    path("saved-views/", views.SavedViewCreateView.as_view(), name="saved-view-create"),
    path("saved-views/<int:view_id>/delete/", views.SavedViewDeleteView.as_view(), name="saved-view-delete"),
    path("<uuid:guid>/", detail_views.InteractionDetailView.as_view(), name="interaction-detail"),
    path("<uuid:guid>/protection/", detail_views.InteractionProtectionView.as_view(), name="interaction-protection"),
]
