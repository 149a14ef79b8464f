"""Configuration > API Clients: Administrators create clients (the secret shown once, working at the
token endpoint), nobody grants a client more than they hold, and revoking stops its tokens."""

import re

import pytest
from django.urls import reverse

from api.models import ApiClient
from tests.api.conftest import token_for
from tests.factories import MembershipFactory, RoleFactory, UserFactory
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db
URL = "/t/acme/configuration/api-clients/"


def test_role_matrix(acme):
    assert_role_matrix(URL, acme, allowed={"Administrator"})


def test_create_shows_the_secret_once_and_revoke_stops_it(acme, member):
    admin = client_for(member(acme, "Administrator"))
    page = admin.post(URL, {"name": "CRM sync", "scopes": ["interaction-content:read", "holds:apply"]})
    assert page.status_code == 200 and page["Cache-Control"] == "private, no-store"
    html = page.content.decode()
    client_id = re.search(r'id="client-id">([^<]+)<', html).group(1)
    secret = re.search(r'id="client-secret">([^<]+)<', html).group(1)
    assert token_for(client_id, secret)[0] == 200
    again = admin.get(URL).content.decode()
    assert client_id in again and secret not in again, "the secret is shown once"
    client = ApiClient.objects.get(client_id=client_id)
    response = admin.post(reverse("api-client-revoke", args=["acme", client.pk]), follow=True)
    assert "revoked" in response.content.decode()
    assert token_for(client_id, secret)[0] == 401


def test_bad_input_names_the_field_and_saves_nothing(acme, member):
    admin = client_for(member(acme, "Administrator"))
    response = admin.post(URL, {"name": "", "scopes": []})
    assert response.status_code == 400
    html = response.content.decode()
    assert "This field is required" in html or "Name" in html
    assert "Scopes: choose at least one." in html
    assert not ApiClient.objects.exists()


def test_nobody_creates_a_client_that_can_do_more_than_they_can(acme):
    lead = UserFactory()
    role = RoleFactory(tenant=acme, name="Integrations", permissions=["manage_members", "view_interactions"])
    MembershipFactory(user=lead, tenant=acme, role=role)
    response = client_for(lead).post(URL, {"name": "Deleter", "scopes": ["interaction-content:delete"]})
    assert response.status_code == 400 and "ARTIFACTS_MANAGEMENT_DELETE_REQUESTS" in response.content.decode()
    assert not ApiClient.objects.exists()


def test_another_tenants_client_cannot_be_revoked(acme, globex, member):
    from api.services import create_api_client
    from tests.factories import SYSTEM

    theirs, _secret = create_api_client(globex.pk, SYSTEM, name="Theirs", scopes="audit:read")
    admin = client_for(member(acme, "Administrator"))
    assert admin.post(reverse("api-client-revoke", args=["acme", theirs.pk])).status_code == 404
    assert ApiClient.objects.get(pk=theirs.pk).is_active
