"""``GET /api/v1/audit-events``: the tenant's trail newest first, filtered by time (half-open), kind and
interaction, walked with continuation tokens; scope ``audit:read``; never another tenant's events."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import audit
from accounts.models import AuditEvent
from tests.factories import SYSTEM
from tests.matrix import assert_scope_matrix

pytestmark = pytest.mark.django_db
URL = "/api/v1/audit-events"


def z(moment):
    return moment.isoformat().replace("+00:00", "Z")


def ids(response):
    assert response.status_code == 200, response.content
    return [event["id"] for event in response.json()["events"]]


@pytest.fixture
def auditor(acme, integrator):
    """An API client of acme with ``audit:read`` (created first: its creation is in the trail)."""
    return integrator(["audit:read"])


@pytest.fixture
def trail(acme, globex, auditor):
    """Events of acme (two about one interaction) around a cut in time, and one of globex."""
    call = uuid.uuid4()
    before = audit.record(acme.pk, AuditEvent.Kind.REQUEST_CREATED, SYSTEM, reason="before")
    about = audit.record(acme.pk, AuditEvent.Kind.ARTIFACT_DELETED, SYSTEM, interaction_guid=call, reason="a")
    cut = timezone.now()
    after = audit.record(acme.pk, AuditEvent.Kind.ARTIFACT_DELETED, SYSTEM, interaction_guid=call, reason="b")
    last = audit.record(acme.pk, AuditEvent.Kind.REQUEST_CANCELLED, SYSTEM, reason="after")
    audit.record(globex.pk, AuditEvent.Kind.ARTIFACT_DELETED, SYSTEM, interaction_guid=call)
    return {"call": call, "cut": cut, "before": before, "about": about, "after": after, "last": last}


def test_filters_select_what_they_name(acme, trail, auditor):
    client = auditor
    everything = ids(client.get(URL))  # the client's own creation is in acme's trail too
    assert everything == sorted(everything, reverse=True), "newest first"
    assert set(everything) >= {trail[k].pk for k in ("before", "about", "after", "last")}
    assert not AuditEvent.objects.filter(pk__in=everything).exclude(tenant=acme).exists(), "acme's only"
    assert ids(client.get(URL, {"start": z(trail["cut"])})) == [trail["last"].pk, trail["after"].pk]
    assert trail["about"].pk in ids(client.get(URL, {"end": z(trail["cut"])}))
    assert trail["after"].pk not in ids(client.get(URL, {"end": z(trail["cut"])})), "end is excluded"
    assert ids(client.get(URL, {"kind": "request_cancelled"})) == [trail["last"].pk]
    assert ids(client.get(URL, {"interaction": str(trail["call"])})) == [trail["after"].pk, trail["about"].pk]
    body = client.get(URL, {"kind": "request_cancelled"}).json()["events"][0]
    assert body["actor"]["label"] and body["occurredAt"] and body["reason"] == "after"


def test_continuation_tokens_walk_the_trail_once(acme, trail, auditor):
    client = auditor
    whole = ids(client.get(URL))
    seen, token = [], None
    while True:
        response = client.get(URL, {"limit": "2", **({"continuationToken": token} if token else {})})
        seen += ids(response)
        token = response.json()["meta"]["nextContinuationToken"]
        if token is None:
            break
    assert seen == whole
    filtered = client.get(URL, {"limit": "1", "interaction": str(trail["call"])}).json()
    token = filtered["meta"]["nextContinuationToken"]
    nxt = client.get(URL, {"limit": "1", "interaction": str(trail["call"]), "continuationToken": token})
    assert ids(nxt) == [trail["about"].pk]
    other = client.get(URL, {"limit": "1", "continuationToken": token})
    assert other.status_code == 400 and other.json()["errors"][0]["field"] == "continuationToken"
    tampered = client.get(URL, {"continuationToken": token[:-1] + ("A" if token[-1] != "A" else "B")})
    assert tampered.status_code == 400 and tampered["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"start": "last week"}, {"start"}),
        ({"end": "2026-13-01T00:00:00Z"}, {"end"}),
        ({"kind": "everything"}, {"kind"}),
        ({"interaction": "abc"}, {"interaction"}),
        ({"interaction": "x" * 36}, {"interaction"}),
        ({"limit": "0"}, {"limit"}),
        ({"limit": "1001"}, {"limit"}),
        ({"limit": "abc", "kind": "nope"}, {"limit", "kind"}),
    ],
)
def test_bad_parameters_are_400_naming_each_field(acme, integrator, params, fields):
    response = integrator(["audit:read"]).get(URL, params)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert {e["field"] for e in response.json()["errors"]} == fields


def test_scope_matrix_and_other_tenants(acme, globex, trail, integrator):
    assert_scope_matrix(integrator, lambda c: c.get(URL), "audit:read")
    seen = ids(integrator(["audit:read"], tenant=globex).get(URL, {"interaction": str(trail["call"])}))
    assert seen == list(
        AuditEvent.objects.filter(tenant=globex, interaction_guid=trail["call"]).values_list("pk", flat=True)
    )


def test_statements_do_not_grow_with_the_page_size(acme, integrator):
    for n in range(30):
        audit.record(acme.pk, AuditEvent.Kind.REQUEST_CREATED, SYSTEM, reason=str(n))
    client = integrator(["audit:read"])
    counts = {}
    for limit in (3, 30):
        with CaptureQueriesContext(connection) as queries:
            assert len(ids(client.get(URL, {"limit": str(limit)}))) == limit
        counts[limit] = len(queries)
    assert counts[3] == counts[30]
