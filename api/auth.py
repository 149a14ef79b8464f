"""Who calls the API: OAuth2 client-credentials tokens of active API clients (the request then
carries the client's actor), and the scopes each operation needs. No import of DRF's views here:
DRF's settings load these classes while its views module is being imported."""

from django.contrib.auth.models import AnonymousUser
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from .actors import client_actor


class ClientAuthentication(OAuth2Authentication):
    """A bearer token of an active API client; the request then carries its actor."""

    www_authenticate_realm = "holdfast"

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        _user, token = result
        client = getattr(token.application, "api_client", None) if token.application_id else None
        if client is None or client.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API client was revoked.")
        request.actor = client_actor(client, token.scope.split(), request._request)
        request.api_client = client
        return AnonymousUser(), token


class HasScopes(BasePermission):
    """The token carries every scope of the view's ``required_scopes`` (a dict by method, or a list)."""

    def has_permission(self, request, view):
        if request.auth is None:
            raise exceptions.NotAuthenticated("Send a bearer token from /api/oauth/token/ (client credentials).")
        needed = view.scopes_for(request.method)
        missing = [scope for scope in needed if scope not in request.auth.scope.split()]
        if missing:
            raise exceptions.PermissionDenied(
                f"This operation needs the scope {', '.join(missing)}; the token has "
                f"{request.auth.scope or 'no scope'}."
            )
        return True
