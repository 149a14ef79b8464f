"""The interactions list: columns, every filter, keyset paging both ways, bad input, bulk actions,
and a query count that does not depend on the page size."""

import zoneinfo
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, SUPERVISOR, VIEW_INTERACTIONS, VIEWER
from artifacts.models import Artifact, Lock
from core.vocabulary import ArtifactState, ArtifactType, Channel, ContentKey, Direction, Origin
from interactions.models import Interaction
from tests.factories import ArtifactFactory, InteractionFactory, management_request
from tests.matrix import assert_role_matrix, client_for
from workspace.filters import list_query

pytestmark = pytest.mark.django_db
EVERYONE = {VIEWER, SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR}
PARIS = zoneinfo.ZoneInfo("Europe/Paris")  # the factories' tenant time zone


def url(slug="acme"):
    return reverse("interaction-list", args=[slug])


def guids(response):
    return [str(row.guid) for row in response.context["interactions"]]


def shown(client, **params):
    response = client.get(url(), params)
    assert response.status_code == 200
    assert not response.context["query"].errors, response.context["query"].errors
    return guids(response)


@pytest.fixture
def viewer(acme, member):
    return client_for(member(acme, VIEWER))


def test_role_matrix(acme):
    InteractionFactory(tenant=acme)
    assert_role_matrix(url(), acme, EVERYONE)
    assert_role_matrix(url() + "?channel=voice&sort=started_at", acme, EVERYONE)


def test_other_tenants_rows_are_never_listed(acme, globex, viewer):
    ours = InteractionFactory(tenant=acme)
    InteractionFactory(tenant=globex)
    assert shown(viewer) == [str(ours.guid)]
    # A GUID of another tenant finds nothing either.
    theirs = InteractionFactory(tenant=globex)
    assert shown(viewer, q=str(theirs.guid)) == []


def test_columns_time_zone_types_lock_and_deletion_date(acme, member):
    user = member(acme, ADMINISTRATOR)
    started = datetime(2026, 3, 1, 23, 30, tzinfo=zoneinfo.ZoneInfo("UTC"))  # 00:30 on 2 March in Paris
    call = InteractionFactory(tenant=acme, started_at=started, ended_at=started + timedelta(seconds=90))
    ArtifactFactory(interaction=call)
    ArtifactFactory(interaction=call, artifact_type=ArtifactType.SCRIPT, content_key=ContentKey.ATTACHMENT)
    gone = ArtifactFactory(interaction=call, artifact_type=ArtifactType.EMAIL, content_key=ContentKey.ATTACHMENT)
    Artifact.objects.filter(pk=gone.pk).update(state=ArtifactState.DELETED, deleted_at=timezone.now())
    plain = InteractionFactory(tenant=acme)
    management_request(acme, user, "add_lock", [call], process=True)

    response = client_for(user).get(url())
    html = response.content.decode()
    rows = {str(r.guid): r for r in response.context["interactions"]}
    assert [b[0] for b in rows[str(call.guid)].artifact_badges] == ["script", "audio_recording"]  # not the deleted
    assert rows[str(call.guid)].is_locked and not rows[str(plain.guid)].is_locked
    assert "2026-03-02 00:30:00" in html
    call_row = html.split(f'data-guid="{call.guid}"')[1].split("</tr>")[0]
    plain_row = html.split(f'data-guid="{plain.guid}"')[1].split("</tr>")[0]
    assert 'class="lock-icon"' in call_row and 'class="lock-icon"' not in plain_row
    assert 'title="Audio Recording"' in call_row and 'title="Script"' in call_row and "Email" not in call_row
    assert '<td class="deletion">—</td>' in plain_row


def test_deletion_date_is_the_policies_earliest_date(acme, viewer):
    from policies.models import LifecyclePolicy

    call = InteractionFactory(tenant=acme)
    recording = ArtifactFactory(interaction=call)
    LifecyclePolicy.objects.create(
        tenant=acme, name="Calls 30 days", artifact_type=ArtifactType.AUDIO_RECORDING, delete_after_days=30
    )
    response = viewer.get(url())
    expected = recording.created_at + timedelta(days=30)
    assert response.context["interactions"][0].earliest_deletion == expected
    assert timezone.localtime(expected, PARIS).strftime("%Y-%m-%d") in response.content.decode()


def test_filters_by_channel_direction_origin_and_agent(acme, viewer):
    email = InteractionFactory(tenant=acme, channel=Channel.EMAIL, agent_id="4102", agent_name="Marcus Lee")
    outbound = InteractionFactory(tenant=acme, direction=Direction.OUTBOUND, origin=Origin.DIALER)
    voice = InteractionFactory(tenant=acme)
    assert shown(viewer, channel="email") == [str(email.guid)]
    assert shown(viewer, direction="outbound") == [str(outbound.guid)]
    assert shown(viewer, origin="dialer") == [str(outbound.guid)]
    assert shown(viewer, origin="queue") == [str(email.guid), str(voice.guid)]
    assert shown(viewer, agent="4102") == [str(email.guid)]
    assert shown(viewer, agent="marcus lee") == [str(email.guid)]  # the name, in any case
    assert shown(viewer, agent="Marcus") == [str(email.guid)]  # any prefix of the name
    assert shown(viewer, agent="le") == [str(email.guid)]  # or of a later part of it
    assert shown(viewer, agent="arcus") == []  # not a substring search
    assert shown(viewer, channel="voice", direction="inbound") == [str(voice.guid)]


def test_date_range_is_inclusive_in_the_tenant_time_zone(acme, viewer):
    def at(day, hour, minute=0):
        moment = datetime(2026, 3, day, hour, minute, tzinfo=PARIS)
        return InteractionFactory(tenant=acme, started_at=moment, ended_at=moment)

    before = at(1, 23, 59)
    first = at(2, 0, 0)
    last = at(3, 23, 59)
    after = at(4, 0, 0)
    assert shown(viewer, started_from="2026-03-02", started_to="2026-03-03") == [str(last.guid), str(first.guid)]
    assert shown(viewer, started_from="2026-03-04") == [str(after.guid)]
    assert shown(viewer, started_to="2026-03-01") == [str(before.guid)]


def test_artifact_type_present_ignores_deleted_artifacts(acme, viewer):
    with_email = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=with_email, artifact_type=ArtifactType.EMAIL, content_key=ContentKey.ATTACHMENT)
    deleted_email = InteractionFactory(tenant=acme)
    gone = ArtifactFactory(
        interaction=deleted_email, artifact_type=ArtifactType.EMAIL, content_key=ContentKey.ATTACHMENT
    )
    Artifact.objects.filter(pk=gone.pk).update(state=ArtifactState.DELETED, deleted_at=timezone.now())
    ArtifactFactory(interaction=InteractionFactory(tenant=acme))  # audio only
    assert shown(viewer, artifact_type="email") == [str(with_email.guid)]
    assert len(shown(viewer, artifact_type="audio_recording")) == 1


def test_locked_filter_counts_only_active_locks(acme, member, viewer):
    admin = member(acme, ADMINISTRATOR)
    locked, released, expired, never = (InteractionFactory(tenant=acme) for _ in range(4))
    management_request(acme, admin, "add_lock", [locked, released, expired], process=True)
    management_request(acme, admin, "remove_lock", [released], process=True)
    Lock.objects.filter(interaction=expired).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert shown(viewer, locked="yes") == [str(locked.guid)]
    assert shown(viewer, locked="no") == [str(released.guid), str(expired.guid), str(never.guid)]


def test_free_text_matches_guid_ids_and_from_to_prefixes(acme, viewer):
    a = InteractionFactory(
        tenant=acme, from_address="Maria.Rivera@example.com", to_address="support@acme.example", source_call_id="CAabc"
    )
    b = InteractionFactory(tenant=acme, from_address="+15550100", to_address="+18885550123", source_task_id="WTxyz")
    assert shown(viewer, q=str(a.guid)) == [str(a.guid)]
    assert shown(viewer, q=str(b.guid).upper()) == [str(b.guid)]  # any UUID spelling
    assert shown(viewer, q="maria.r") == [str(a.guid)]  # From prefix, any case
    assert shown(viewer, q="+1888") == [str(b.guid)]  # To prefix
    assert shown(viewer, q="CAabc") == [str(a.guid)]
    assert shown(viewer, q=" WTxyz ") == [str(b.guid)]
    assert shown(viewer, q="rivera") == []  # prefix, not substring
    assert shown(viewer, q="%") == []  # LIKE wildcards are literal
    assert shown(viewer, q="CAab") == []  # ids are matched whole


def _timeline(acme, count, same_instant=0):
    """``count`` interactions one minute apart (newest first), the last ``same_instant`` sharing a time."""
    now = timezone.now().replace(microsecond=0)
    rows = []
    for n in range(count):
        started = now - timedelta(minutes=min(n, count - same_instant))
        rows.append(InteractionFactory(tenant=acme, started_at=started, ended_at=started))
    # Newest first: by time, then by id (later inserts first among equal times).
    return sorted(rows, key=lambda i: (i.started_at, i.pk), reverse=True)


def _walk(client, **params):
    seen, after, pages = [], None, 0
    while True:
        response = client.get(url(), {**params, **({"after": after} if after else {})})
        assert not response.context["query"].errors
        seen += guids(response)
        pages += 1
        after = response.context["next_cursor"]
        if not after:
            return seen, pages


def test_keyset_pages_newest_and_oldest_first_with_ties(acme, viewer):
    rows = _timeline(acme, 25, same_instant=6)
    newest = [str(i.guid) for i in rows]
    assert _walk(viewer, per_page=10) == (newest, 3)
    assert _walk(viewer, per_page=10, sort="started_at") == (newest[::-1], 3)
    assert shown(viewer, per_page=10, sort="started_at") == newest[::-1][:10]


def test_keyset_with_filters(acme, viewer):
    rows = _timeline(acme, 30)
    for n, interaction in enumerate(rows):
        if n % 3 == 0:
            interaction.channel = Channel.CHAT
            interaction.save(update_fields=["channel"])
    chats = [str(i.guid) for n, i in enumerate(rows) if n % 3 == 0]
    assert _walk(viewer, per_page=10, channel="chat") == (chats, 1)
    voice = [str(i.guid) for n, i in enumerate(rows) if n % 3]
    assert _walk(viewer, per_page=10, channel="voice", sort="started_at") == (voice[::-1], 2)


def test_default_page_size_and_links(acme, viewer):
    _timeline(acme, 51)
    response = viewer.get(url(), {"channel": "voice"})
    assert len(guids(response)) == 50
    html = response.content.decode()
    cursor = response.context["next_cursor"]
    assert cursor and 'rel="next"' in html and "channel=voice" in html.split('rel="next"')[0].rsplit("<a", 1)[1]
    assert len(guids(viewer.get(url(), {"channel": "voice", "after": cursor}))) == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"channel": "fax"}, "Channel: Select a valid choice."),
        ({"direction": "sideways"}, "Direction: Select a valid choice."),
        ({"origin": "x"}, "Origin: Select a valid choice."),
        ({"artifact_type": "hologram"}, "Artifact type: Select a valid choice."),
        ({"locked": "maybe"}, "Lock: Select a valid choice."),
        ({"started_from": "yesterday"}, "From date: Enter a valid date."),
        ({"started_to": "2026-02-30"}, "To date: Enter a valid date."),
        ({"started_from": "2026-03-05", "started_to": "2026-03-01"}, "To date: must be on or after the From date."),
        ({"per_page": "5"}, "Per page: Ensure this value is greater than or equal to 10."),
        ({"per_page": "1000"}, "Per page: Ensure this value is less than or equal to 100."),
        ({"per_page": "ten"}, "Per page: Enter a whole number."),
        ({"sort": "agent"}, "Sort: Select a valid choice."),
        ({"after": "garbage"}, "Page position: is not a page position of this list"),
        ({"after": "2026-03-01T10:00:00_12"}, "Page position: is not a page position"),  # no zone
        ({"q": "x" * 400}, "Search: Ensure this value has at most 320 characters"),
        ({"q": "a\x00b"}, "Search: Null characters are not allowed."),
        ({"agent": "\x00"}, "Agent: Null characters are not allowed."),
        ({"started_to": "9999-12-31"}, "To date: must be between 1900-01-01 and 9998-12-31."),
        ({"started_from": "0001-01-01"}, "From date: must be between 1900-01-01 and 9998-12-31."),
        ({"after": "0001-01-01T00:00:00+14:00_1"}, "Page position: is not a page position"),
        ({"after": f"2026-03-01T10:00:00+00:00_{2**63}"}, "Page position: is not a page position"),
    ],
)
def test_bad_input_names_the_field_and_shows_nothing(acme, viewer, params, message):
    InteractionFactory(tenant=acme)
    response = viewer.get(url(), params)
    assert response.status_code == 200
    assert guids(response) == []
    errors = response.context["query"].errors
    assert any(e.startswith(message) for e in errors), errors
    html = response.content.decode()
    assert 'id="filter-errors"' in html and "Nothing shown: fix the filters above." in html


def test_query_count_is_the_same_for_10_and_100_rows(acme, member):
    user = member(acme, ADMINISTRATOR)
    rows = _timeline(acme, 120)
    for interaction in rows[::4]:
        ArtifactFactory(interaction=interaction)
        ArtifactFactory(interaction=interaction, artifact_type=ArtifactType.SCRIPT, content_key=ContentKey.ATTACHMENT)
    management_request(acme, user, "add_lock", rows[:50:7], process=True)
    client = client_for(user)
    client.get(url())  # warm the session

    def count(per_page):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url(), {"per_page": per_page, "channel": "voice", "locked": "no"})
        assert response.status_code == 200 and len(guids(response)) == per_page
        return len(queries)

    assert count(10) == count(100)
    assert count(10) <= 8


def test_list_query_is_one_statement_for_the_rows(acme, member, django_assert_num_queries):
    """The page's rows, lock flags, types and deletion dates come from one SELECT (plus the policies)."""
    user = member(acme, VIEWER)
    for interaction in _timeline(acme, 30):
        ArtifactFactory(interaction=interaction)
    with django_assert_num_queries(2):  # the tenant's policies, then the page
        rows, _ = list_query(Interaction.objects.restrict(user, VIEW_INTERACTIONS).filter(tenant=acme), acme, {}).page()
    assert len(rows) == 30 and all(r.artifact_badges for r in rows)


def test_bulk_actions_follow_the_request_permissions(acme, member):
    InteractionFactory(tenant=acme)
    create = reverse("management-request-create", args=["acme"])
    for role, protect, release in (
        (VIEWER, False, False),
        (SUPERVISOR, True, False),
        (COMPLIANCE_OFFICER, True, True),
        (ADMINISTRATOR, True, True),
    ):
        html = client_for(member(acme, role)).get(url()).content.decode()
        assert ('id="protect"' in html) is protect, role
        assert ('id="release"' in html) is release, role
        assert ('class="row-select"' in html) is protect, role
        if protect:
            assert f'action="{create}"' in html and 'name="artifact_type" value="any"' in html
            assert 'name="request_type" value="add_lock"' in html


def test_export_and_saved_view_links_keep_the_filters_but_not_the_position(acme, viewer):
    _timeline(acme, 3)
    html = viewer.get(url(), {"channel": "voice", "per_page": 10, "after": "2026-01-01T00:00:00+00:00_1"})
    html = html.content.decode()
    export = reverse("interaction-export", args=["acme"])
    assert f'href="{export}?channel=voice&amp;per_page=10"' in html
    assert 'name="query_string" value="channel=voice&amp;per_page=10"' in html


#: Every offset Python's ``datetime`` can carry (strictly within ±24 h, to the microsecond);
#: PostgreSQL takes at most ±15:59:59, so a cursor must be normalised before it reaches the query.
OFFSETS = st.timedeltas(
    min_value=timedelta.resolution - timedelta(hours=24), max_value=timedelta(hours=24) - timedelta.resolution
)
CURSOR_TIMES = st.datetimes(timezones=OFFSETS.map(dt_timezone))
CURSOR_IDS = st.one_of(st.integers(min_value=1, max_value=2**63 - 1), st.integers(min_value=-(2**70), max_value=2**70))


def _before(interaction, cursor_time, cursor_id, ascending):
    """Whether the keyset page after (``cursor_time``, ``cursor_id``) includes ``interaction``."""
    key, position = (interaction.started_at, interaction.pk), (cursor_time, cursor_id)
    return key > position if ascending else key < position


def test_any_cursor_with_any_offset_is_a_page_or_a_message(acme, viewer):
    """A cursor with any time-zone offset (±16:00 used to answer 500: PostgreSQL refuses it) and any
    id is either the page after that position, exactly, or a message naming the page position."""
    rows = _timeline(acme, 4, same_instant=2)

    @settings(max_examples=15, deadline=None)
    @example(datetime(2026, 1, 1, tzinfo=dt_timezone(timedelta(hours=16))), 1, "-started_at")
    @example(datetime(2026, 1, 1, tzinfo=dt_timezone(-timedelta(hours=23, minutes=59))), 1, "started_at")
    @example(datetime(9999, 12, 31, 23, tzinfo=dt_timezone(-timedelta(hours=16))), 1, "-started_at")
    @example(datetime(1, 1, 1, tzinfo=dt_timezone(timedelta(hours=16))), 1, "started_at")
    @example(rows[0].started_at, rows[0].pk, "-started_at")
    @given(CURSOR_TIMES, CURSOR_IDS, st.sampled_from(["-started_at", "started_at"]))
    def check(cursor_time, cursor_id, sort):
        response = viewer.get(url(), {"after": f"{cursor_time.isoformat()}_{cursor_id}", "sort": sort})
        assert response.status_code == 200
        errors = response.context["query"].errors
        try:
            cursor_time.astimezone(UTC)  # near years 1 and 9999 an offset can leave the calendar
        except OverflowError:
            in_range = False
        else:
            in_range = 0 < cursor_id < 2**63
        if not in_range:
            assert errors and all(e.startswith("Page position: ") for e in errors), errors
            return
        assert not errors, errors
        ascending = sort == "started_at"
        expected = sorted(
            (i for i in rows if _before(i, cursor_time, cursor_id, ascending)),
            key=lambda i: (i.started_at, i.pk),
            reverse=not ascending,
        )
        assert guids(response) == [str(i.guid) for i in expected]

    check()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example("2026-01-01T00:00:00+16:00_1")
@example("2026-01-01T00:00:00-23:59:59.999999_9223372036854775807")
@example("9" * 5000)
@example("2026-01-01T00:00:00+00:00_" + "9" * 5000)
@given(
    st.one_of(
        st.text(st.characters(blacklist_categories=("Cs",))),
        # Text that looks like a cursor: digits, date and time separators, signs, an id.
        st.from_regex(r"\A[0-9T:+\-.Z ]{0,40}_-?[0-9]{0,25}\Z"),
    )
)
def test_any_text_cursor_is_a_page_or_a_message(acme, viewer, cursor):
    response = viewer.get(url(), {"after": cursor})
    assert response.status_code == 200
    errors = response.context["query"].errors
    assert all(e.startswith("Page position: ") for e in errors), errors
