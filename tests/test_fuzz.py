"""Fuzz: whatever a user sends, as whichever role, no page answers 5xx.

Hypothesis draws a role, a page and its input: the query parameters of every list (interactions,
its CSV export, requests, a request's detail and progress, the request form's prefill), the fields
of every form (request create, lifecycle policy, saved view, Users & Roles add, the Protected
checkbox) and the Range header of play and download. A refusal (400, 403, 404, 405, 410, 416) is an
answer; a 5xx, or an exception, is a failure.

Inputs start *valid* and then up to three fields are replaced by anything (text of any length
and script, numbers past every database range or 5,000 digits long, dates of years 1 to 9999,
cursors with any offset, control characters) or left out: a body that is wrong everywhere stops
at the first check, while one wrong field reaches the code behind the others. Valid values are
extreme too (years 1 and 9999, offsets of ±23:59, 5,000-parameter filters).

Example counts are bounded so the whole file runs in a few seconds.
"""

import datetime as dt
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import Role
from artifacts.forms import PREFILL_FIELDS, confirm_field_name
from artifacts.models import ManagementRequest
from core.vocabulary import (
    ARTIFACT_TYPE_SELECTION_CHOICES,
    ArtifactType,
    AudioRecordingType,
    Channel,
    Direction,
    Origin,
)
from policies.models import LifecyclePolicy
from tests.factories import ArtifactFactory, InteractionFactory, management_request
from tests.matrix import ROLES, client_for
from workspace.filters import VIEW_PARAMS

pytestmark = pytest.mark.django_db
RequestType, Status = ManagementRequest.RequestType, ManagementRequest.Status

# --- values ----------------------------------------------------------------------------------
#: Text a browser can send (no lone surrogates), short and occasionally long.
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.text("ab<>'\"&%=+-@;,_:. \t\n\x00", min_size=200, max_size=3_000),
)
#: Numbers as text: small, negative, past PostgreSQL's integer and bigint, past ``int()``'s 4,300 digits.
NUMBERS = st.one_of(
    st.integers(min_value=-5, max_value=300).map(str),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from([2**31, 2**63, 10**20, -(2**63) - 1]).map(str),
    st.integers(min_value=4_000, max_value=6_000).map(lambda digits: "9" * digits),
)
DATES = st.dates().map(dt.date.isoformat)
OFFSETS = st.timedeltas(
    min_value=dt.timedelta.resolution - dt.timedelta(hours=24),
    max_value=dt.timedelta(hours=24) - dt.timedelta.resolution,
)
#: List cursors, ``<iso time>_<id>``: any year, any offset Python takes, any id.
CURSORS = st.builds(
    "{}_{}".format,
    st.datetimes(timezones=OFFSETS.map(dt.timezone)).map(dt.datetime.isoformat),
    st.one_of(st.integers(min_value=1, max_value=2**63 - 1).map(str), NUMBERS),
)
ODD = st.sampled_from(["", " ", "\x00", "on", "yes", "true", "1e309", "NaN", "-0", "%00", "<b>x</b>"])
ANY_VALUE = st.one_of(TEXT, NUMBERS, DATES, CURSORS, ODD)


def mutated(valid):
    """Bodies that start valid (``valid`` maps each field to a strategy of good values) with up to
    three fields replaced by :data:`ANY_VALUE` or left out, and maybe a field nobody expects."""
    names = [*sorted(valid), "unexpected"]

    def apply(body, changes):
        for name, value in changes.items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        return body

    changes = st.dictionaries(st.sampled_from(names), st.one_of(st.none(), ANY_VALUE), max_size=3)
    return st.builds(apply, st.fixed_dictionaries(valid), changes)


def maybe(values):
    """One of ``values`` or empty (an optional field left blank)."""
    return st.sampled_from(["", *values])


# --- the tenant the fuzz runs against --------------------------------------------------------
@pytest.fixture
def world(acme, member):
    """One member per role, an interaction with a recording, a request, the tenant's roles and its
    default policy: the objects the pages and forms refer to."""
    users = {role: member(acme, role) for role in ROLES}
    call = InteractionFactory(tenant=acme)
    recording = ArtifactFactory(interaction=call)
    request = management_request(acme, users["Administrator"], RequestType.ADD_LOCK, [call])
    return SimpleNamespace(
        tenant=acme,
        clients={role: client_for(user) for role, user in users.items()},
        call=call,
        recording=recording,
        request=request,
        role_ids=[str(pk) for pk in Role.objects.filter(tenant=acme).values_list("pk", flat=True)],
        default_policy=LifecyclePolicy.objects.get(tenant=acme, is_default=True),
    )


def answered(client, method, url, data=None, **extra):
    """``client.<method>(url, data)`` answers, read to its end (a streamed body fails while it is
    read), with no 5xx. Each call runs in a savepoint, so a failing example leaves no broken
    transaction behind and every example starts from the same rows."""
    with transaction.atomic():
        response = getattr(client, method)(url, data or {}, **extra)
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
        assert response.status_code < 500, (response.status_code, response.content[:500])
        transaction.set_rollback(True)
    return response


# --- every list's query parameters -----------------------------------------------------------
def list_pages(w):
    """``(url, valid parameters)`` of every list and its CSV / progress endpoints."""
    slug = w.tenant.slug
    interactions = {
        "channel": maybe(Channel.values),
        "direction": maybe(Direction.values),
        "origin": maybe(Origin.values),
        "artifact_type": maybe(ArtifactType.values),
        "locked": maybe(["yes", "no"]),
        "agent": st.sampled_from(["", "agent-1", "Sandra Schmidt"]),
        "q": st.sampled_from(["", str(w.call.guid), w.call.source_call_id, "+1555"]),
        "started_from": st.one_of(st.just(""), DATES),
        "started_to": st.one_of(st.just(""), DATES),
        "sort": maybe(["started_at", "-started_at"]),
        "per_page": st.one_of(st.just(""), st.integers(min_value=10, max_value=100).map(str)),
        "after": st.one_of(st.just(""), CURSORS),
    }
    assert set(interactions) == set(VIEW_PARAMS) | {"after"}, "a new list parameter: fuzz it here"
    requests = {"status": maybe(Status.values), "request_type": maybe(RequestType.values), "page": NUMBERS}
    prefill = {name: st.one_of(st.just(str(w.call.guid)), TEXT) for name in PREFILL_FIELDS}
    return [
        (reverse("interaction-list", args=[slug]), interactions),
        (reverse("interaction-export", args=[slug]), interactions),
        (reverse("management-request-list", args=[slug]), requests),
        (reverse("management-request-create", args=[slug]), prefill),
        (reverse("management-request-detail", args=[slug, w.request.pk]), requests),
        (reverse("management-request-progress", args=[slug, w.request.pk]), requests),
    ]


def test_every_list_parameter(world):
    pages = list_pages(world)

    @settings(max_examples=50, deadline=None)
    @given(st.sampled_from(ROLES), st.sampled_from(range(len(pages))), st.data())
    def check(role, page, data):
        url, valid = pages[page]
        answered(world.clients[role], "get", url, data.draw(mutated(valid)))

    check()


def test_a_request_id_of_any_size_in_the_url(world):
    @settings(max_examples=10, deadline=None)
    @given(st.sampled_from(ROLES), NUMBERS, st.sampled_from(["", "progress/", "cancel/", "retry/"]))
    def check(role, request_id, page):
        url = f"/t/acme/configuration/artifacts-management-requests/{request_id}/{page}"
        answered(world.clients[role], "post" if page in ("cancel/", "retry/") else "get", url)

    check()


# --- every form's fields ---------------------------------------------------------------------
def forms(w):
    """``(url, valid fields)`` of every form."""
    slug, guid = w.tenant.slug, str(w.call.guid)
    request_form = {
        "description": st.text(max_size=50),
        "request_type": st.sampled_from(RequestType.values),
        "artifact_type": st.sampled_from([value for value, _ in ARTIFACT_TYPE_SELECTION_CHOICES]),
        "audio_recording_type": maybe(AudioRecordingType.values),
        "interaction_ids": st.just(guid),
        "lock_expires": maybe(["on"]),
        "lock_expires_on": DATES,
        "remove_locks": maybe(["on"]),
        **{confirm_field_name(t): st.just("on") for t in RequestType.values},
    }
    days = st.one_of(st.just(""), st.integers(min_value=1, max_value=40_000).map(str))
    policy_form = {
        "name": st.text(max_size=40),
        "enabled": maybe(["on"]),
        "artifact_type": maybe(ArtifactType.values),
        "audio_recording_type": maybe(AudioRecordingType.values),
        "channel": maybe(Channel.values),
        "direction": maybe(Direction.values),
        "origin": maybe(Origin.values),
        "archive_after_days": days,
        "delete_after_days": days,
        "keep_forever": maybe(["on"]),
        "confirm": maybe(["yes", "back"]),
    }
    # Filters of any size: a few of the list's parameters, repeated up to past Django's 1,000 fields.
    filters = st.builds(
        lambda pairs, times: urlencode(pairs * times),
        st.lists(st.tuples(st.sampled_from(VIEW_PARAMS), st.text(max_size=10)), min_size=1, max_size=3),
        st.one_of(st.integers(1, 3), st.integers(1, 600)),
    )
    return [
        (reverse("management-request-create", args=[slug]), request_form),
        (reverse("policy-create", args=[slug]), policy_form),
        (reverse("policy-edit", args=[slug, w.default_policy.pk]), policy_form),
        (reverse("saved-view-create", args=[slug]), {"name": st.text(max_size=30), "query_string": filters}),
        (
            reverse("users-and-roles", args=[slug]),
            {
                "username": st.from_regex(r"\A[a-z][a-z0-9_.@+-]{0,20}\Z"),
                "email": st.one_of(st.just(""), st.emails()),
                "password": st.text(max_size=20),
                "role": st.sampled_from(w.role_ids),
            },
        ),
        (
            reverse("interaction-protection", args=[slug, guid]),
            {
                "protected": maybe(["on"]),
                "confirmed": st.just("on"),
                "confirms": st.sampled_from(RequestType.values),
                "lock_expires_on": st.one_of(st.just(""), DATES),
            },
        ),
    ]


def test_every_form_field(world):
    pages = forms(world)

    @settings(max_examples=50, deadline=None)
    @given(st.sampled_from(ROLES), st.sampled_from(range(len(pages))), st.data())
    def check(role, page, data):
        url, valid = pages[page]
        answered(world.clients[role], "post", url, data.draw(mutated(valid)))

    check()


# --- the Range header ------------------------------------------------------------------------
#: Header text as it reaches a WSGI application: latin-1, no line breaks, no NUL.
_HEADER_SAFE = st.one_of(st.just(""), NUMBERS)
RANGE_HEADERS = st.one_of(
    st.text(st.characters(max_codepoint=255, blacklist_characters="\r\n\x00"), max_size=40),
    st.builds("bytes={}-{}".format, _HEADER_SAFE, _HEADER_SAFE),
    st.builds("bytes={}-{},{}-".format, NUMBERS, NUMBERS, NUMBERS),
)


def test_the_range_header(world):
    slug, pk = world.tenant.slug, world.recording.pk
    urls = [reverse(view, args=[slug, pk]) for view in ("artifact-play", "artifact-download")]

    @settings(max_examples=30, deadline=None)
    @given(st.sampled_from(ROLES), st.sampled_from(urls), RANGE_HEADERS)
    def check(role, url, header):
        answered(world.clients[role], "get", url, headers={"range": header})

    check()


# --- the trial's cases -----------------------------------------------------------------------
def trial_cases(w):
    """``(method, url, data, headers)`` of each input the trial saw answered with a 500 or a bare 400."""
    slug, guid = w.tenant.slug, str(w.call.guid)
    far = {"lock_expires": "on", "lock_expires_on": "9999-12-31"}
    request_form = {
        "request_type": "add_lock",
        "artifact_type": "any",
        "interaction_ids": guid,
        "confirm_add_lock": "on",
    }
    return [
        ("post", reverse("management-request-create", args=[slug]), {**request_form, **far}, {}),
        (
            "post",
            reverse("interaction-protection", args=[slug, guid]),
            {"protected": "on", "confirmed": "on", "confirms": "add_lock", "lock_expires_on": "9999-12-31"},
            {},
        ),
        ("get", reverse("interaction-list", args=[slug]), {"after": "2026-01-01T00:00:00+16:00_1"}, {}),
        ("get", reverse("artifact-download", args=[slug, w.recording.pk]), {}, {"range": "bytes=" + "9" * 4_301 + "-"}),
        ("get", reverse("artifact-play", args=[slug, w.recording.pk]), {}, {"range": "bytes=-" + "9" * 4_301}),
        ("post", reverse("saved-view-create", args=[slug]), {"name": "All", "query_string": "q=x&" * 3_000}, {}),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_the_trials_cases(world, role):
    for method, url, data, headers in trial_cases(world):
        response = answered(world.clients[role], method, url, data, headers=headers)
        if response.status_code == 302:  # where the page sends the user answers too
            assert len(response["Location"]) <= 2_100
            answered(world.clients[role], "get", response["Location"])
