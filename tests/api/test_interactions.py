"""``GET /api/v1/interactions`` and ``GET /api/v1/interactions/{guid}``: the half-open time window
(at most 31 days), each filter, only interactions with content, limits, continuation tokens across
pages (no gaps, no duplicates, tampered → 400), the content fields, scopes and tenants, and a
statement count that does not grow with the page size."""

import datetime as dt
from datetime import UTC

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artifacts.services import delete_artifacts
from core.vocabulary import ArtifactType, ContentKey
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, management_request
from tests.matrix import assert_scope_matrix

pytestmark = pytest.mark.django_db
URL = "/api/v1/interactions"
DAY = dt.datetime(2026, 11, 2, tzinfo=UTC)
WINDOW = {"start": "2026-11-02T00:00:00Z", "end": "2026-11-03T00:00:00Z"}


def z(moment):
    return moment.isoformat().replace("+00:00", "Z")


def recorded(tenant, started_at, **fields):
    """An interaction with one call recording."""
    call = InteractionFactory(tenant=tenant, started_at=started_at, **fields)
    ArtifactFactory(interaction=call)
    return call


def guids(response):
    assert response.status_code == 200, response.content
    return [item["guid"] for item in response.json()["interactions"]]


def test_the_window_is_half_open_and_oldest_first(acme, integrator):
    at_start = recorded(acme, DAY)
    inside = recorded(acme, DAY + dt.timedelta(hours=5))
    recorded(acme, DAY + dt.timedelta(days=1))  # at `end`: outside
    recorded(acme, DAY - dt.timedelta(microseconds=1))  # before `start`: outside
    assert guids(integrator().get(URL, WINDOW)) == [str(at_start.guid), str(inside.guid)]


def test_only_interactions_with_present_content_are_listed(acme, integrator):
    with_content = recorded(acme, DAY + dt.timedelta(hours=1))
    InteractionFactory(tenant=acme, started_at=DAY + dt.timedelta(hours=2))  # no content
    emptied = recorded(acme, DAY + dt.timedelta(hours=3))
    delete_artifacts(acme.pk, [emptied.artifacts.get().pk], SYSTEM, "test")
    assert guids(integrator().get(URL, WINDOW)) == [str(with_content.guid)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-11-01T00:00:00Z", "end": "2026-12-02T00:00:01Z"}, "end"),  # > 31 days
        ({"start": "2026-11-03T00:00:00Z", "end": "2026-11-02T00:00:00Z"}, "end"),  # end before start
        ({"start": "yesterday", "end": "2026-11-02T00:00:00Z"}, "start"),
        ({"end": "2026-11-02T00:00:00Z"}, "start"),
        ({"start": "2026-11-02T00:00:00Z"}, "end"),
        ({**WINDOW, "limit": "1001"}, "limit"),
        ({**WINDOW, "limit": "0"}, "limit"),
        ({**WINDOW, "limit": "²"}, "limit"),
        ({**WINDOW, "direction": "sideways"}, "direction"),
        ({**WINDOW, "channel": "pigeon"}, "channel"),
        ({**WINDOW, "locked": "maybe"}, "locked"),
        ({**WINDOW, "connectFrom": "+1\x00"}, "connectFrom"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(acme, integrator, params, field):
    response = integrator().get(URL, params)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field], response.json()


def test_exactly_31_days_is_accepted(acme, integrator):
    response = integrator().get(URL, {"start": "2026-11-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"})
    assert response.status_code == 200


def test_each_filter_selects_what_it_names(acme, integrator):
    at = DAY + dt.timedelta(hours=1)
    base = recorded(acme, at, agent_id="4101", from_address="+15551230000", to_address="+18885550100")
    agent = recorded(acme, at + dt.timedelta(minutes=1), agent_id="4102")
    caller = recorded(acme, at + dt.timedelta(minutes=2), from_address="+4930111")
    called = recorded(acme, at + dt.timedelta(minutes=3), to_address="+4989222")
    outbound = recorded(acme, at + dt.timedelta(minutes=4), direction="outbound")
    chat = InteractionFactory(tenant=acme, started_at=at + dt.timedelta(minutes=5), channel="chat")
    ArtifactFactory(
        interaction=chat, artifact_type=ArtifactType.MESSAGING_TRANSCRIPT, content_key=ContentKey.CHAT_TRANSCRIPT
    )
    locked = recorded(acme, at + dt.timedelta(minutes=6))
    management_request(acme, SYSTEM, "add_lock", [locked], process=True)
    everyone = [base, agent, caller, called, outbound, chat, locked]
    client = integrator()
    for params, expected in (
        ({"handlingAgentId": "4102"}, [agent]),
        ({"connectFrom": "+4930"}, [caller]),
        ({"connectTo": "+4989"}, [called]),
        ({"direction": "outbound"}, [outbound]),
        ({"channel": "chat"}, [chat]),
        ({"contentKey": ContentKey.CHAT_TRANSCRIPT}, [chat]),
        ({"contentKey": str(chat.artifacts.get().pk)}, [chat]),
        ({"contentKey": "9" * 30}, []),
        ({"locked": "true"}, [locked]),
        ({"locked": "false"}, [c for c in everyone if c != locked]),
    ):
        assert guids(client.get(URL, {**WINDOW, **params})) == [str(c.guid) for c in expected], params


def test_continuation_tokens_walk_every_row_once(acme, integrator):
    same_instant = DAY + dt.timedelta(hours=2)
    calls = [recorded(acme, DAY + dt.timedelta(minutes=n)) for n in range(5)]
    calls += [recorded(acme, same_instant) for _ in range(4)]  # ties broken by id, across a page edge
    client = integrator()
    seen, token, pages = [], None, 0
    while True:
        params = {**WINDOW, "limit": "3", **({"continuationToken": token} if token else {})}
        response = client.get(URL, params)
        seen += guids(response)
        pages += 1
        token = response.json()["meta"]["nextContinuationToken"]
        assert response.json()["meta"]["count"] == len(response.json()["interactions"])
        if token is None:
            break
    expected = sorted(calls, key=lambda c: (c.started_at, c.pk))
    assert seen == [str(c.guid) for c in expected] and pages == 3


def test_a_tampered_or_foreign_continuation_token_is_400(acme, integrator):
    for n in range(3):
        recorded(acme, DAY + dt.timedelta(minutes=n))
    client = integrator()
    token = client.get(URL, {**WINDOW, "limit": "1"}).json()["meta"]["nextContinuationToken"]
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "x" + token, "not-a-token"):
        response = client.get(URL, {**WINDOW, "limit": "1", "continuationToken": bad})
        assert response.status_code == 400 and response.json()["errors"][0]["field"] == "continuationToken"
    other_query = client.get(URL, {**WINDOW, "channel": "chat", "continuationToken": token})
    assert other_query.status_code == 400 and "another query" in other_query.json()["detail"]


@pytest.fixture
def reader(acme, integrator):
    return integrator(["interaction-content:read"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.text(max_size=120))
def test_no_continuation_token_text_is_a_500(reader, token):
    response = reader.get(URL, {**WINDOW, "continuationToken": token})
    assert response.status_code in (200, 400), response.content


def test_the_interaction_shows_its_content_with_locks_and_dates(acme, integrator):
    call = recorded(acme, DAY)
    transcript = ArtifactFactory(
        interaction=call,
        artifact_type=ArtifactType.MESSAGING_TRANSCRIPT,
        content_key=ContentKey.TRANSCRIPT,
        content=b"hi",
    )
    req = management_request(
        acme, SYSTEM, "add_lock", [call], process=True, artifact_type=ArtifactType.MESSAGING_TRANSCRIPT,
        lock_expires=True, lock_expires_on=dt.date.today() + dt.timedelta(days=30),
    )  # fmt: skip
    response = integrator(["interaction-content:read"]).get(f"{URL}/{call.guid}")
    assert response.status_code == 200
    body = response.json()
    assert body["guid"] == str(call.guid) and body["locked"] is True
    recording, text = body["content"]
    assert set(recording) >= {
        "contentKey", "type", "audioRecordingType", "contentType", "contentLength", "durationSeconds",
        "lastModified", "sha256", "state", "locked", "archiveDate", "deleteDate",
    }  # fmt: skip
    assert (recording["contentKey"], recording["type"], recording["audioRecordingType"]) == (
        ContentKey.CALL_RECORDING, ArtifactType.AUDIO_RECORDING, "conference_customer"
    )  # fmt: skip
    stored = call.artifacts.get(content_key=ContentKey.CALL_RECORDING)
    assert (recording["contentLength"], recording["sha256"], recording["state"]) == (
        stored.size, stored.sha256, "stored"
    )  # fmt: skip
    assert recording["locked"] is False and recording["locks"] == []
    assert (text["id"], text["contentLength"], text["locked"]) == (str(transcript.pk), 2, True)
    [lock] = text["locks"]
    assert lock["requestId"] == req.pk and lock["expiresAt"] is not None
    assert dt.datetime.fromisoformat(text["lastModified"]) == transcript.created_at


def test_interactions_scope_and_tenant_matrix(acme, globex, integrator):
    call = recorded(acme, DAY)
    assert_scope_matrix(integrator, lambda c: c.get(URL, WINDOW), "interaction-content:read")
    assert_scope_matrix(
        integrator, lambda c: c.get(f"{URL}/{call.guid}"), "interaction-content:read", other_tenant=globex
    )
    assert guids(integrator(tenant=globex).get(URL, WINDOW)) == [], "another tenant lists nothing of acme"


def test_unknown_interaction_is_404(acme, integrator):
    response = integrator().get(f"{URL}/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"


def test_statements_do_not_grow_with_the_page_size(acme, integrator):
    for n in range(30):
        call = recorded(acme, DAY + dt.timedelta(minutes=n))
        if n % 3 == 0:
            ArtifactFactory(
                interaction=call, artifact_type=ArtifactType.MESSAGING_TRANSCRIPT, content_key=ContentKey.TRANSCRIPT
            )
    management_request(acme, SYSTEM, "add_lock", [call], process=True)
    client = integrator()
    counts = {}
    for limit in (3, 30):
        with CaptureQueriesContext(connection) as queries:
            assert len(guids(client.get(URL, {**WINDOW, "limit": str(limit)}))) == limit
        counts[limit] = len(queries)
    assert counts[3] == counts[30], counts


def test_recordings_carry_their_duration(acme, integrator):
    from tests.artifacts.test_media_duration import pcm_wav

    call = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=call, content=pcm_wav(12.5), filename="call.wav", content_type="audio/wav")
    ArtifactFactory(interaction=call, content=b"{}", filename="transcript.json", content_key=ContentKey.TRANSCRIPT)
    body = integrator(["interaction-content:read"]).get(f"{URL}/{call.guid}").json()
    assert [(c["contentType"], c["durationSeconds"]) for c in body["content"]] == [
        ("audio/wav", 12.5),
        ("application/json", None),
    ]
