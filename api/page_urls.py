"""URLs of Configuration > API Clients, under ``/t/<slug>/configuration/api-clients/``."""

from django.urls import path

from . import pages

urlpatterns = [
    path("", pages.ApiClientsView.as_view(), name="api-clients"),
    path("<int:client_pk>/revoke/", pages.RevokeApiClientView.as_view(), name="api-client-revoke"),
]
