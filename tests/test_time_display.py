"""Every time on the pages is shown one way: in the tenant's time zone with its abbreviation
(``2026-03-01 20:00:00 IST``), with ISO 8601 UTC in the ``<time>`` element; transcript times and an
email's Date header converted (the original on hover); lock expiries as "through <day>"; date inputs
take ISO dates. Two tenants far apart: Asia/Kolkata (+05:30) and America/Los_Angeles (-08:00)."""

import json
import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import AuditEvent
from accounts.permissions import ADMINISTRATOR
from core.templatetags.holdfast import format_when
from core.vocabulary import ArtifactType, Channel, ContentKey
from tests.factories import ArtifactFactory, InteractionFactory, TenantFactory, management_request
from tests.matrix import client_for

pytestmark = pytest.mark.django_db

STARTED = datetime(2026, 3, 1, 14, 30, tzinfo=UTC)
#: tenant zone → (the start as shown, a chat message at 14:31:05 UTC, an email sent 14:32 UTC)
ZONES = {
    "Asia/Kolkata": ("2026-03-01 20:00:00 IST", "2026-03-01 20:01:05 IST", "2026-03-01 20:02:00 IST"),
    "America/Los_Angeles": ("2026-03-01 06:30:00 PST", "2026-03-01 06:31:05 PST", "2026-03-01 06:32:00 PST"),
}


@pytest.fixture(params=sorted(ZONES))
def zoned(request, member):
    """``(tenant, admin client, expected texts)`` for a tenant in each zone."""
    tenant = TenantFactory(time_zone=request.param)
    return tenant, client_for(member(tenant, ADMINISTRATOR)), ZONES[request.param]


def get(client, name, *args, **query):
    response = client.get(reverse(name, args=args), query)
    assert response.status_code == 200, response
    return response.content.decode()


def test_list_and_detail_show_the_tenant_time_with_its_abbreviation(zoned):
    tenant, client, (start, _, _) = zoned
    interaction = InteractionFactory(tenant=tenant, started_at=STARTED)
    listing = get(client, "interaction-list", tenant.slug)
    row = listing[listing.index(f'data-guid="{interaction.guid}"') :]
    assert f'<time datetime="2026-03-01T14:30:00Z" title="2026-03-01 14:30:00 UTC">{start}</time>' in row
    detail = get(client, "interaction-detail", tenant.slug, interaction.guid)
    assert start in detail and "14:30:00 UTC" in detail  # shown local, UTC on hover
    assert "2026-03-01 14:30:00<" not in detail  # never the UTC time as if it were local


def test_transcript_message_times_are_converted_with_the_original_on_hover(zoned):
    tenant, client, (_, message_time, _) = zoned
    interaction = InteractionFactory(tenant=tenant, channel=Channel.CHAT, started_at=STARTED)
    document = {"messages": [{"at": "2026-03-01T14:31:05Z", "author": "Carla", "from": "customer", "text": "Hi"}]}
    ArtifactFactory(
        interaction=interaction,
        artifact_type=ArtifactType.MESSAGING_TRANSCRIPT,
        content_key=ContentKey.CHAT_TRANSCRIPT,
        content=json.dumps(document).encode(),
        filename="chat.json",
        content_type="application/json",
    )
    html = get(client, "interaction-detail", tenant.slug, interaction.guid)
    conversation = html[html.index('<ol class="conversation">') :]
    assert f'title="Original: 2026-03-01T14:31:05Z">{message_time}</time>' in conversation


def test_email_date_header_is_converted_with_the_original_on_hover(zoned):
    tenant, client, (_, _, sent) = zoned
    interaction = InteractionFactory(tenant=tenant, channel=Channel.EMAIL, started_at=STARTED)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "carla@example.com", "help@acme.test", "Parcel"
    message["Date"] = "Sun, 01 Mar 2026 09:32:00 -0500"  # 14:32 UTC
    message.set_content("Where is it?")
    ArtifactFactory(
        interaction=interaction,
        artifact_type=ArtifactType.EMAIL,
        content_key="6f1c0b5e-4a57-4a32-9d7e-3b9f7e0f1a11",
        content=message.as_bytes(),
        filename="message.eml",
        content_type="message/rfc822",
    )
    html = get(client, "interaction-detail", tenant.slug, interaction.guid)
    headers = html[html.index('class="facts email-headers"') :]
    assert f'title="Original: Sun, 01 Mar 2026 09:32:00 -0500">{sent}</time>' in headers


def test_audit_times_on_the_trail_and_the_interaction_page(zoned):
    tenant, client, _ = zoned
    interaction = InteractionFactory(tenant=tenant, started_at=STARTED)
    ArtifactFactory(interaction=interaction)  # audited: "artifact stored"
    event = AuditEvent.objects.filter(tenant=tenant, interaction_guid=interaction.guid).latest("seq")
    local = event.occurred_at.astimezone(zoneinfo.ZoneInfo(tenant.time_zone))
    expected = f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"
    assert local.tzname() in ("IST", "PST", "PDT")
    assert expected in get(client, "audit-trail", tenant.slug)
    assert expected in get(client, "interaction-detail", tenant.slug, interaction.guid)


def test_lock_expiry_is_through_the_day_everywhere(zoned, member):
    tenant, client, _ = zoned
    interaction = InteractionFactory(tenant=tenant, started_at=STARTED)
    ArtifactFactory(interaction=interaction)
    last_day = timezone.localdate(timezone.now(), zoneinfo.ZoneInfo(tenant.time_zone)) + timedelta(days=30)
    admin = member(tenant, ADMINISTRATOR)
    req = management_request(
        tenant, admin, "add_lock", [interaction], process=True, lock_expires=True, lock_expires_on=last_day
    )
    through = f'through <time datetime="{last_day:%Y-%m-%d}">{last_day:%Y-%m-%d}</time>'
    next_day = f"{last_day + timedelta(days=1):%Y-%m-%d}"
    for html in (
        get(client, "interaction-detail", tenant.slug, interaction.guid),
        get(client, "management-request-detail", tenant.slug, req.pk),
    ):
        assert through in html
        assert next_day not in html  # never "until <next day> 00:00"


def test_date_inputs_take_and_show_iso_dates(zoned):
    tenant, client, _ = zoned
    html = get(client, "interaction-list", tenant.slug, started_from="2026-03-01")
    field = re.search(r'<input[^>]*name="started_from"[^>]*>', html).group(0)
    assert 'type="text"' in field and 'value="2026-03-01"' in field and 'placeholder="YYYY-MM-DD"' in field
    refused = get(client, "interaction-list", tenant.slug, started_from="03/01/2026")
    assert "From date" in refused[refused.index('id="filter-errors"') :]
    trail = get(client, "audit-trail", tenant.slug, start="2026-03-01")
    assert re.search(r'<input[^>]*name="start"[^>]*value="2026-03-01"', trail)


def test_a_deletion_date_already_passed_shows_as_due_at_the_next_sweep(zoned):
    tenant, client, _ = zoned
    overdue = InteractionFactory(tenant=tenant, started_at=STARTED)
    ArtifactFactory(interaction=overdue, created_at=timezone.now() - timedelta(days=400))  # default: 365 days
    later = InteractionFactory(tenant=tenant, started_at=STARTED)
    ArtifactFactory(interaction=later)
    html = get(client, "interaction-list", tenant.slug)
    rows = {guid: html[html.index(f'data-guid="{guid}"') :].split("</tr>")[0] for guid in (overdue.guid, later.guid)}
    assert "Overdue — next sweep" in rows[overdue.guid]
    assert "Overdue" not in rows[later.guid]
    due = timezone.localdate(timezone.now() + timedelta(days=365), zoneinfo.ZoneInfo(tenant.time_zone))
    assert f"{due:%Y-%m-%d}" in rows[later.guid] or f"{due - timedelta(days=1):%Y-%m-%d}" in rows[later.guid]


ZONE_NAMES = ["Asia/Kolkata", "America/Los_Angeles", "Europe/Berlin", "Australia/Lord_Howe", "UTC", "Pacific/Chatham"]


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(ZONE_NAMES),
)
def test_the_shown_time_is_the_instant_in_the_active_zone(moment, zone):
    """Read back with the zone, the shown wall time is the instant (to the second), whatever the zone."""
    tz = zoneinfo.ZoneInfo(zone)
    with timezone.override(tz):
        shown = format_when(moment)
        html = Template("{{ t|when }}").render(Context({"t": moment}))
    wall, abbreviation = shown.rsplit(" ", 1)
    candidates = [datetime.strptime(wall, "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz, fold=f) for f in (0, 1)]
    assert moment.replace(microsecond=0) in [c.astimezone(UTC) for c in candidates if c.tzname() == abbreviation]
    assert f'datetime="{moment:%Y-%m-%dT%H:%M:%S}Z"' in html and f">{shown}</time>" in html
