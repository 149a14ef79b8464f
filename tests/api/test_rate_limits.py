"""Rate limits of the API: per client and per tenant (``API_RATE_LIMIT``, ``API_TENANT_RATE_LIMIT``),
429 problem with ``Retry-After`` and ``RateLimit-*`` headers, nothing done on a 429, and the counts
kept in Redis through Django's cache, where every web process reads the same ones."""

import os

import pytest
import redis
from django.core.cache import cache

from accounts.models import AuditEvent
from artifacts.models import ManagementRequest
from core.vocabulary import ContentKey
from tests.factories import ArtifactFactory, InteractionFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/audit-events"


@pytest.fixture(autouse=True)
def fresh_tenant_counts(acme, globex):
    """Tenant ids may repeat between runs on one Redis: start from no count (clients are new)."""
    for tenant in (acme, globex):
        cache.delete(f"throttle:api:tenant:{tenant.pk}")


def test_the_client_limit_answers_429_with_retry_after_and_ratelimit_headers(acme, integrator, settings):
    settings.API_RATE_LIMIT = "3/min"
    client = integrator()
    remaining = []
    for _ in range(3):
        response = client.get(URL)
        assert response.status_code == 200
        assert response["RateLimit-Limit"] == "3"
        assert 1 <= int(response["RateLimit-Reset"]) <= 60
        remaining.append(response["RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    refused = client.get(URL)
    assert refused.status_code == 429 and refused["Content-Type"] == "application/problem+json"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["RateLimit-Limit"] == "3" and refused["RateLimit-Remaining"] == "0"
    assert refused.json()["status"] == 429
    assert integrator().get(URL).status_code == 200, "another client of the tenant has its own count"


def test_nothing_is_done_on_a_429(acme, integrator, settings):
    settings.API_RATE_LIMIT = "1/min"
    call = InteractionFactory(tenant=acme)
    artifact = ArtifactFactory(interaction=call)
    client = integrator()
    assert client.get(URL).status_code == 200
    deleted = client.delete(f"/api/v1/interactions/{call.guid}/content/{ContentKey.CALL_RECORDING}")
    assert deleted.status_code == 429
    held = client.put("/api/v1/holds?protect=true", {"interactionIds": [str(call.guid)]})
    assert held.status_code == 429
    downloaded = client.get(f"/api/v1/interactions/{call.guid}/content/{ContentKey.CALL_RECORDING}")
    assert downloaded.status_code == 429
    artifact.refresh_from_db()
    assert artifact.state == "stored" and not ManagementRequest.objects.exists()
    assert not AuditEvent.objects.filter(
        kind__in=[AuditEvent.Kind.ARTIFACT_DELETED, AuditEvent.Kind.ARTIFACT_DOWNLOADED]
    ).exists()


def test_the_tenant_limit_counts_every_client_of_the_tenant(acme, globex, integrator, settings):
    settings.API_RATE_LIMIT = "100/min"
    settings.API_TENANT_RATE_LIMIT = "4/min"
    first, second = integrator(), integrator()
    for client in (first, second, first, second):
        assert client.get(URL).status_code == 200
    refused = second.get(URL)
    assert refused.status_code == 429 and refused["Retry-After"]
    assert refused["RateLimit-Limit"] == "4", "the tighter limit is the one reported"
    assert integrator(tenant=globex).get(URL).status_code == 200, "another tenant has its own count"


def test_counts_live_in_redis_where_every_web_process_reads_them(acme, integrator, settings):
    """Django's cache is Redis here: the count is there (not in this process), and removing it
    there lets the client through again."""
    settings.API_RATE_LIMIT = "2/min"
    client = integrator()
    assert client.get(URL).status_code == 200 and client.get(URL).status_code == 200
    assert client.get(URL).status_code == 429
    server = redis.Redis.from_url(os.environ["REDIS_URL"])
    [key] = server.keys(f"*throttle:api:client:{client.client.client_id}")
    assert 0 < server.ttl(key) <= 60
    server.delete(key)
    assert client.get(URL).status_code == 200
