"""Fixtures of the API tests: API clients created through the service, and their bearer tokens from
django-oauth-toolkit's real token endpoint (client credentials)."""

import base64

import pytest
from django.test import Client

from api import scopes as scope_names
from api.services import create_api_client
from tests.factories import SYSTEM

ALL_SCOPES = tuple(scope_names.SCOPES)


def token_for(client_id, secret, scope=None):
    """POST /api/oauth/token/ as an integrator does; returns the JSON answer."""
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = Client().post("/api/oauth/token/", data, HTTP_AUTHORIZATION=f"Basic {basic}")
    return response.status_code, response.json()


class Integrator:
    """An API client of a tenant with a token: ``get`` / ``post`` / ... send it as a bearer token."""

    count = 0

    def __init__(self, tenant, scopes=ALL_SCOPES, name=None):
        Integrator.count += 1
        self.client, self.secret = create_api_client(
            tenant.pk, SYSTEM, name=name or f"integration {Integrator.count}", scopes=list(scopes)
        )
        status, body = token_for(self.client.client_id, self.secret)
        assert status == 200, body
        self.token = body["access_token"]
        self.http = Client()

    def _send(self, method, path, data=None, **headers):
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.token}")
        if data is not None and method in ("post", "put", "patch"):
            return getattr(self.http, method)(path, data, content_type="application/json", **headers)
        if method == "delete":
            return self.http.delete(path, **headers)
        return getattr(self.http, method)(path, data or {}, **headers)

    def get(self, path, params=None, **headers):
        return self._send("get", path, params, **headers)

    def post(self, path, data=None, **headers):
        return self._send("post", path, data if data is not None else {}, **headers)

    def put(self, path, data=None, **headers):
        return self._send("put", path, data if data is not None else {}, **headers)

    def delete(self, path, **headers):
        return self._send("delete", path, None, **headers)


@pytest.fixture
def integrator(acme):
    """``integrator(scopes=..., tenant=...)`` → an :class:`Integrator` (default: acme, every scope)."""

    def make(scopes=ALL_SCOPES, tenant=None, name=None):
        return Integrator(tenant or acme, scopes, name)

    return make
