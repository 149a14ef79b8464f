"""CSV export of the interactions list: same filters and scope as the page, streamed."""

import csv
import io
import operator
import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, SUPERVISOR, VIEW_INTERACTIONS, VIEWER
from core.vocabulary import ArtifactType, Channel, ContentKey
from interactions.models import Interaction
from tests.factories import ArtifactFactory, InteractionFactory, management_request
from tests.matrix import assert_role_matrix, client_for
from workspace.export import HEADER, safe_cell
from workspace.filters import list_query

pytestmark = pytest.mark.django_db
EVERYONE = {VIEWER, SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR}
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def url(slug="acme"):
    return reverse("interaction-export", args=[slug])


def read(response):
    assert response.status_code == 200, response
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_role_matrix(acme):
    InteractionFactory(tenant=acme)
    assert_role_matrix(url(), acme, EVERYONE)


def test_rows_columns_and_file_name(acme, member):
    user = member(acme, ADMINISTRATOR)
    started = datetime(2026, 3, 1, 23, 30, tzinfo=zoneinfo.ZoneInfo("UTC"))
    call = InteractionFactory(
        tenant=acme, started_at=started, ended_at=started + timedelta(seconds=90), agent_name="=HYPERLINK(1)"
    )
    ArtifactFactory(interaction=call)
    ArtifactFactory(interaction=call, artifact_type=ArtifactType.SCRIPT, content_key=ContentKey.ATTACHMENT)
    chat = InteractionFactory(tenant=acme, channel=Channel.CHAT, from_address="web:maria-1234")
    management_request(acme, user, "add_lock", [call], process=True)

    response = client_for(user).get(url())
    today = timezone.localtime(timezone.now(), PARIS).strftime("%Y-%m-%d")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="interactions-acme-{today}.csv"'
    rows = read(response)
    assert list(rows[0]) == list(HEADER)
    by_guid = {r["GUID"]: r for r in rows}
    assert list(by_guid) == [str(chat.guid), str(call.guid)]  # newest first, as the list
    row = by_guid[str(call.guid)]
    assert row["Start time"] == "2026-03-02T00:30:00+01:00"  # tenant time
    assert row["Artifact types"] == "Script; Audio Recording"
    assert row["Locked"] == "yes" and by_guid[str(chat.guid)]["Locked"] == "no"
    assert row["From"] == "'" + call.from_address  # "+1555…" would be read as a formula: neutralised too
    assert row["Agent"] == "'=HYPERLINK(1)"  # a formula does not
    assert row["Channel"] == "Voice" and row["Origin"] == "Queue" and row["Duration (s)"] == "90"
    assert row["Source call id"] == call.source_call_id
    # The deletion date is the list's (the lifecycle policies' earliest date, tenant time).
    listed = {
        r.guid: r
        for r in list_query(Interaction.objects.restrict(user, VIEW_INTERACTIONS).filter(tenant=acme), acme, {}).page()[
            0
        ]
    }
    assert row["Deletion date"] == timezone.localtime(listed[call.guid].earliest_deletion, PARIS).isoformat()
    assert by_guid[str(chat.guid)]["Channel"] == "Chat" and by_guid[str(chat.guid)]["Artifact types"] == ""


def test_filters_sort_and_scope_are_the_lists(acme, globex, member):
    viewer = client_for(member(acme))
    chats = [InteractionFactory(tenant=acme, channel=Channel.CHAT) for _ in range(3)]
    InteractionFactory(tenant=acme)
    InteractionFactory(tenant=globex, channel=Channel.CHAT)
    rows = read(viewer.get(url(), {"channel": "chat", "sort": "started_at", "per_page": 10}))
    assert [r["GUID"] for r in rows] == [str(c.guid) for c in reversed(chats)]
    # Every matching row, not one page; page position and page size do not apply.
    assert len(read(viewer.get(url(), {"per_page": 10, "after": "2000-01-01T00:00:00+00:00_1"}))) == 4


def test_no_rows_of_other_tenants(acme, globex, member):
    InteractionFactory(tenant=globex)
    theirs = InteractionFactory(tenant=globex)
    rows = read(client_for(member(acme)).get(url(), {"q": str(theirs.guid)}))
    assert rows == []
    # A member of both sees each tenant's rows under its own URL only.
    both = member(acme, username="both")
    both = member(globex, username="both")
    assert [r["GUID"] for r in read(client_for(both).get(url("acme")))] == []
    assert len(read(client_for(both).get(url("globex")))) == 2


def test_bad_filters_answer_400_naming_the_field(acme, member):
    response = client_for(member(acme)).get(url(), {"channel": "fax", "started_from": "soon"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "From date: Enter a valid date." in text and "Channel: Select a valid choice." in text


def test_artifact_types_without_a_query_per_row(acme, member):
    viewer = client_for(member(acme))
    for _ in range(3):
        ArtifactFactory(interaction=InteractionFactory(tenant=acme))
    viewer.get(url())

    def count():
        with CaptureQueriesContext(connection) as queries:
            rows = read(viewer.get(url()))
        assert all(r["Artifact types"] == "Audio Recording" for r in rows)
        return len(queries)

    few = count()
    for _ in range(20):
        ArtifactFactory(interaction=InteractionFactory(tenant=acme))
    assert count() == few


def test_safe_cell():
    # Every text cell starting with a formula character, phone numbers included (OWASP).
    assert safe_cell("+15550100") == "'+15550100"
    assert safe_cell("+1+cmd|' /C calc'!A0") == "'+1+cmd|' /C calc'!A0"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("-2+3") == "'-2+3"
    assert safe_cell("\t=1") == "'\t=1" and safe_cell("\r=1") == "'\r=1"
    assert safe_cell("\uff1dHYPERLINK(1)") == "'\uff1dHYPERLINK(1)"  # full-width "=" (CJK spreadsheet locales)
    assert safe_cell("maria@example.com") == "maria@example.com"
    assert safe_cell("") == "" and safe_cell(90) == 90  # numbers stay numbers


#: What OWASP lists as the start of a spreadsheet formula.
FORMULA_STARTS = "=+-@\t\r"
#: Text PostgreSQL stores: no NUL, no lone surrogates.
_CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


def formula_text(max_size):
    """Text of at most ``max_size`` characters that starts with a formula character."""
    return st.builds(operator.add, st.sampled_from(FORMULA_STARTS), st.text(_CHARACTERS, max_size=max_size - 1))


#: Every text field of an interaction, each starting a formula (lengths within the model's limits).
HOSTILE_INTERACTION = st.fixed_dictionaries(
    {
        "from_address": formula_text(320),
        "to_address": formula_text(320),
        "agent_id": formula_text(120),
        "agent_name": formula_text(200),
        "source_system": formula_text(60),
        "source_call_id": formula_text(64),
        "source_task_id": formula_text(64),
        "metadata": st.dictionaries(st.text("abcxyz", min_size=1, max_size=5), formula_text(40), max_size=3),
    }
)


def test_no_cell_of_the_export_starts_a_formula(acme, member):
    """Whatever text the source system sent, no cell of the CSV is read as a formula, and each
    neutralised cell still says exactly what was sent (after the apostrophe)."""
    client = client_for(member(acme))

    @settings(max_examples=20, deadline=None)
    # Source ids are unique per tenant and source system (ingestion is idempotent on them).
    @given(
        st.lists(
            HOSTILE_INTERACTION,
            min_size=1,
            max_size=3,
            unique_by=(lambda i: i["source_call_id"], lambda i: i["source_task_id"]),
        )
    )
    def check(hostile):
        Interaction.objects.filter(tenant=acme).delete()
        created = [InteractionFactory(tenant=acme, **fields) for fields in hostile]
        body = b"".join(client.get(url()).streaming_content).decode()
        lines = list(csv.reader(io.StringIO(body, newline="")))
        assert len(lines) == 1 + len(created)
        for cell in (cell for line in lines for cell in line):
            assert not cell.startswith(tuple(FORMULA_STARTS)), cell
        by_guid = {line[0]: dict(zip(HEADER, line, strict=True)) for line in lines[1:]}
        for interaction in created:
            row = by_guid[str(interaction.guid)]
            for column, attribute in EXPORTED_TEXT.items():
                assert row[column] == "'" + getattr(interaction, attribute)

    check()


#: The export's columns that carry an interaction's text as the source sent it.
EXPORTED_TEXT = {
    "From": "from_address",
    "To": "to_address",
    "Agent id": "agent_id",
    "Agent": "agent_name",
    "Source call id": "source_call_id",
    "Source task id": "source_task_id",
}
