"""API authentication and errors: client credentials at the real token endpoint, scopes per
operation (403 naming the missing scope), other tenants invisible (404), problem details for
every error, revoked clients refused at once, and the command that manages clients."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import AuditEvent
from api.models import ApiClient
from api.services import revoke_api_client
from tests.api.conftest import token_for
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


def test_a_token_carries_only_the_clients_scopes(acme, integrator):
    reader = integrator(["interaction-content:read"])
    status, body = token_for(reader.client.client_id, reader.secret, scope="interaction-content:delete")
    assert status == 400 and body["error"] == "invalid_scope"
    status, body = token_for(reader.client.client_id, "wrong-secret")
    assert status == 401 and body["error"] == "invalid_client"
    assert ApiClient.objects.get().application.client_secret != reader.secret, "stored hashed"


def test_missing_scope_is_403_naming_it_and_no_token_is_401(acme, integrator):
    reader = integrator(["interaction-content:read"])
    response = reader.post("/api/v1/interactions/delete-batch", {"guids": []})
    assert response.status_code == 403 and response["Content-Type"] == PROBLEM
    assert "interaction-content:delete" in response.json()["detail"]
    anonymous = reader.get("/api/v1/interactions", HTTP_AUTHORIZATION="")
    assert anonymous.status_code == 401 and anonymous["Content-Type"] == PROBLEM
    assert "Bearer" in anonymous["WWW-Authenticate"]


def test_another_tenants_interaction_is_404(acme, globex, integrator):
    call = InteractionFactory(tenant=globex)
    ArtifactFactory(interaction=call)
    response = integrator().get(f"/api/v1/interactions/{call.guid}")
    assert response.status_code == 404 and response["Content-Type"] == PROBLEM


def test_unknown_api_paths_and_bad_guids_are_problems(acme, integrator):
    client = integrator()
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing["Content-Type"] == PROBLEM
    bad = client.get("/api/v1/interactions/not-a-guid")
    assert bad.status_code == 400 and bad.json()["errors"] == [
        {"field": "guid", "message": "GUID must be 36 characters in length"}
    ]


def test_revoked_client_is_refused_at_once_and_audited(acme, integrator):
    client = integrator()
    assert client.get("/api/v1/audit-events").status_code == 200
    revoke_api_client(client.client.pk, SYSTEM)
    response = client.get("/api/v1/audit-events")
    assert response.status_code == 401 and response["Content-Type"] == PROBLEM
    kinds = set(AuditEvent.objects.filter(tenant=acme).values_list("kind", flat=True))
    assert {"api_client_created", "api_client_revoked"} <= kinds


def test_command_creates_lists_and_revokes(acme):
    out = io.StringIO()
    call_command("api_clients", "create", "--tenant", "acme", "--name", "CRM", "--scopes",
                 "interaction-content:read holds:apply", stdout=out)  # fmt: skip
    created = json.loads(out.getvalue())
    assert set(created) == {"client_id", "client_secret"}
    status, _body = token_for(created["client_id"], created["client_secret"])
    assert status == 200
    out = io.StringIO()
    call_command("api_clients", "list", "--tenant", "acme", stdout=out)
    assert created["client_id"] in out.getvalue() and "holds:apply" in out.getvalue()
    with pytest.raises(CommandError, match="--scopes: Scopes: unknown scope"):
        call_command("api_clients", "create", "--tenant", "acme", "--name", "X", "--scopes", "everything")
    with pytest.raises(CommandError, match="--tenant"):
        call_command("api_clients", "create", "--tenant", "nope", "--name", "X", "--scopes", "audit:read")
    call_command("api_clients", "revoke", created["client_id"], stdout=io.StringIO())
    status, _body = token_for(created["client_id"], created["client_secret"])
    assert status == 401
