"""What makes the interactions list near the framework's floor (bench/lists.py) changes nothing it
shows: rows formatted in Python are the template's rows, the filter fields kept per set of values
are those values' fields, the rows of one tenant come without grant subqueries, and the deletion
date's compiled SQL follows policy edits and the current time."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.actors import system_actor, user_actor
from accounts.permissions import ADMINISTRATOR, VIEW_INTERACTIONS, VIEWER
from core.vocabulary import ArtifactType, ContentKey
from interactions.models import Interaction
from policies import retention
from policies.models import LifecyclePolicy
from tests.factories import ArtifactFactory, InteractionFactory, UserFactory, management_request
from tests.matrix import client_for
from workspace import views
from workspace.filters import list_query
from workspace.rows import row_html

pytestmark = pytest.mark.django_db

#: The list's row as the template wrote it before rows.py: the reference of what a row shows.
TEMPLATE_ROW = """{% load holdfast %}<tr data-guid="{{ i.guid }}">
      {% if can_protect or can_release %}<td class="select"><input type="checkbox" name="interaction_ids" value="{{ i.guid }}" form="bulk-form" class="row-select" aria-label="Select interaction {{ i.guid }}"></td>{% endif %}
      <td class="start"><a href="{{ list_url }}{{ i.guid }}/">{{ i.started_at|when }}</a></td>
      <td class="guid"><code title="{{ i.guid }}">{{ i.guid|stringformat:"s"|slice:":8" }}…</code> <button type="button" class="copy link" data-copy="{{ i.guid }}" aria-label="Copy interaction id {{ i.guid }}" hidden>Copy</button></td>
      <td>{{ i.get_channel_display }}</td>
      <td>{{ i.get_direction_display }}</td>
      <td>{{ i.from_address }}</td>
      <td>{{ i.to_address }}</td>
      <td>{{ i.agent_name }}</td>
      <td class="num">{{ i.duration_seconds }} s</td>
      <td class="artifact-types">{% for value, label, short in i.artifact_badges %}<span class="badge type-{{ value }}" title="{{ label }}"><span aria-hidden="true">{{ short }}</span><span class="visually-hidden">{{ label }}</span></span>{% endfor %}</td>
      <td class="lock">{% if i.is_locked %}<svg class="lock-icon" role="img" aria-label="Locked" width="14" height="16" viewBox="0 0 14 16"><title>Locked: an active lock protects content of this interaction</title><rect x="1" y="7" width="12" height="8" rx="1.5" fill="currentColor"/><path d="M4 7V4.5a3 3 0 0 1 6 0V7" fill="none" stroke="currentColor" stroke-width="2"/></svg>{% endif %}</td>
      <td class="deletion">{% if not i.earliest_deletion %}—{% elif i.earliest_deletion <= now %}<span class="overdue" title="Its policy date {{ i.earliest_deletion|day }} has passed: the next sweep deletes it">Overdue — next sweep</span>{% else %}{{ i.earliest_deletion|day }}{% endif %}</td>
    </tr>"""  # noqa: E501


def squeeze(html):
    return re.sub(r"\s+", " ", str(html)).strip()


def test_rows_in_python_are_the_template_rows(acme, member):
    admin = member(acme, ADMINISTRATOR)
    locked = InteractionFactory(tenant=acme, from_address="<script>&", agent_name='O\'Brien "Al"')
    ArtifactFactory(interaction=locked)
    ArtifactFactory(interaction=locked, artifact_type=ArtifactType.SCRIPT, content_key=ContentKey.ATTACHMENT)
    management_request(acme, admin, "add_lock", [locked], process=True)
    overdue = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=overdue, created_at=timezone.now() - timedelta(days=400))
    later = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=later)
    bare = InteractionFactory(tenant=acme)
    rows, _ = list_query(Interaction.objects.filter(tenant=acme), acme, {}).page()
    assert {r.pk for r in rows} == {locked.pk, overdue.pk, later.pk, bare.pk}
    now, list_url, template = timezone.now(), "/t/acme/interactions/", Template(TEMPLATE_ROW)
    with timezone.override(acme.time_zone):
        for row in rows:
            for selectable in (True, False):
                context = {"i": row, "list_url": list_url, "now": now, "can_protect": selectable}
                expected = squeeze(template.render(Context(context)))
                assert squeeze(row_html(row, list_url=list_url, now=now, selectable=selectable)) == expected
    shown = {r.pk: squeeze(row_html(r, list_url=list_url, now=now, selectable=True)) for r in rows}
    assert "&lt;script&gt;&amp;" in shown[locked.pk] and "O&#x27;Brien &quot;Al&quot;" in shown[locked.pk]
    assert 'class="lock-icon"' in shown[locked.pk] and "Overdue — next sweep" in shown[overdue.pk]
    assert '<td class="deletion">—</td>' in shown[bare.pk]


def test_filter_fields_are_those_of_the_values_asked(acme, member):
    client = client_for(member(acme, VIEWER))
    url = reverse("interaction-list", args=["acme"])
    views._filter_fields.clear()
    for _ in range(2):  # rendered, then kept
        sms = client.get(url, {"channel": "sms"}).content.decode()
        voice = client.get(url, {"channel": "voice", "per_page": "20"}).content.decode()
        bad = client.get(url, {"started_from": "03/01/2026"}).content.decode()
        assert '<option value="sms" selected>' in sms and '<option value="voice" selected>' not in sms
        assert '<option value="voice" selected>' in voice and 'value="20"' in voice
        assert 'aria-invalid="true"' in bad and 'value="03/01/2026"' in bad and "From date:" in bad
        assert 'aria-invalid="true"' not in sms
    assert len(views._filter_fields) == 3


def test_filter_fields_kept_are_bounded(acme, member, monkeypatch):
    monkeypatch.setattr(views, "FILTER_FIELDS_CACHE_SIZE", 2)
    views._filter_fields.clear()
    client = client_for(member(acme, VIEWER))
    url = reverse("interaction-list", args=["acme"])
    for agent in ("a", "b", "c"):
        assert f'value="{agent}"' in client.get(url, {"agent": agent}).content.decode()
    assert len(views._filter_fields) == 2


def test_rows_of_one_tenant_are_those_restrict_gives(acme, globex, member):
    calls = [InteractionFactory(tenant=acme) for _ in range(2)] + [InteractionFactory(tenant=globex)]
    viewer = member(acme, VIEWER)
    inactive = member(acme, VIEWER)
    inactive.is_active = False
    inactive.save()
    support = UserFactory(is_superuser=True)
    bound = system_actor("bench-test", "bound", {VIEW_INTERACTIONS}, tenant_id=globex.pk, register=False)
    for who in (viewer, user_actor(viewer), user_actor(inactive), user_actor(support), bound, UserFactory()):
        for tenant in (acme, globex):
            for perm in (VIEW_INTERACTIONS, "manage_members"):
                expected = set(Interaction.objects.restrict(who, perm).filter(tenant=tenant))
                assert set(Interaction.objects.restrict_to_tenant(who, perm, tenant)) == expected
    assert set(Interaction.objects.restrict_to_tenant(user_actor(viewer), VIEW_INTERACTIONS, acme)) == set(calls[:2])


def test_list_page_statement_reads_no_grants(acme, member):
    for _ in range(3):
        ArtifactFactory(interaction=InteractionFactory(tenant=acme))
    client = client_for(member(acme, VIEWER))
    client.get(reverse("interaction-list", args=["acme"]))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("interaction-list", args=["acme"]))
    assert len(response.context["interactions"]) == 3
    (page,) = [q["sql"] for q in queries.captured_queries if "LIMIT 51" in q["sql"]]
    assert "objectpermission" not in page.lower()
    # Grants are read once per request, for the page and the header's tenant switcher alike; never
    # in the page's statement.
    grants = [q for q in queries.captured_queries if "objectpermission" in q["sql"].lower()]
    assert len(grants) == 1 and "LIMIT 51" not in grants[0]["sql"]


def test_tenant_switcher_from_the_grants_read_for_the_page(acme, globex, member):
    from tests.factories import MembershipFactory

    user = member(acme, VIEWER)
    html = client_for(user).get(reverse("interaction-list", args=["acme"])).content.decode()
    assert 'class="tenant-name">Acme<' in html and "Globex" not in html  # one tenant: no switcher
    MembershipFactory(user=user, tenant=globex, role_name=VIEWER)
    html = client_for(user).get(reverse("interaction-list", args=["acme"])).content.decode()
    assert '<a href="/t/acme/interactions/">Acme</a>' in html and '<a href="/t/globex/interactions/">Globex</a>' in html


def test_deletion_date_sql_is_compiled_once_per_set_of_rules_and_binds_now(acme):
    call = InteractionFactory(tenant=acme)
    recording = ArtifactFactory(interaction=call, created_at=timezone.now() - timedelta(days=1))

    def first(now=None):
        return Interaction.objects.annotate(first=retention.earliest_deletion(acme, now)).get(pk=call.pk).first

    retention._compiled_earliest_deletion.cache_clear()
    assert first() == recording.created_at + timedelta(days=365)
    assert first() == recording.created_at + timedelta(days=365)
    info = retention._compiled_earliest_deletion.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    # A policy edit is new rules: compiled again, never the old date.
    LifecyclePolicy.objects.create(
        tenant=acme, name="Recordings 30 days", artifact_type=ArtifactType.AUDIO_RECORDING, delete_after_days=30
    )
    assert first() == recording.created_at + timedelta(days=30)
    assert retention._compiled_earliest_deletion.cache_info().misses == 2
    # "Now" is bound on each use: a lock that expires tomorrow protects today, not the day after.
    management_request(
        acme, user_actor(UserFactory(is_superuser=True)), "add_lock", [call], process=True,
        lock_expires=True, lock_expires_on=timezone.localdate() + timedelta(days=1),
    )  # fmt: skip
    assert first() is None
    assert first(timezone.now() + timedelta(days=3)) == recording.created_at + timedelta(days=30)


def test_policy_grant_tenant_and_saved_view_changes_show_on_the_next_request(acme, member):
    """Nothing the page reads is kept between requests: the tenant comes with the grants (one
    statement), the lock flag and counts are compiled once but bind the current time, and the
    deletion date's SQL follows the policies. Each change shows on the very next request."""
    call = InteractionFactory(tenant=acme)
    recording = ArtifactFactory(interaction=call, created_at=timezone.now() - timedelta(days=1))
    user = member(acme, VIEWER)
    client = client_for(user)
    url = reverse("interaction-list", args=["acme"])

    def page():
        response = client.get(url)
        return response.status_code, response.content.decode()

    status, html = page()
    first_date = f"{(recording.created_at + timedelta(days=365)).date():%Y-%m-%d}"
    assert status == 200 and first_date in html and "Saved views (1)" not in html
    # A policy edit: the next page shows the new deletion date.
    LifecyclePolicy.objects.create(
        tenant=acme, name="Recordings 30 days", artifact_type=ArtifactType.AUDIO_RECORDING, delete_after_days=30
    )
    status, html = page()
    assert f"{(recording.created_at + timedelta(days=30)).date():%Y-%m-%d}" in html and first_date not in html
    # A saved view, then a tenant edit (its name in the header).
    from interactions.models import SavedView

    SavedView.objects.create(user=user, tenant=acme, name="Inbound calls", query_string="direction=inbound")
    type(acme).objects.filter(pk=acme.pk).update(name="Acme Renamed")
    status, html = page()
    assert "Saved views (1)" in html and "Inbound calls" in html and "Acme Renamed" in html
    # The user's grants taken away (removed from the tenant): the next request is refused.
    from accounts import services as account_services
    from accounts.models import Membership

    membership = Membership.objects.get(user=user, tenant=acme)
    account_services.remove_member(membership.pk, system_actor("test", "Test", {"manage_members"}, register=False))
    status, _ = page()
    assert status == 404


def test_lock_flag_and_lock_count_compiled_once_bind_now(acme, member):
    """The list's lock flag and the tenant's locked count are SQL compiled once per database
    (core.sql.CompiledExpression): a lock that expires tomorrow shows today and not after."""
    from workspace.filters import IS_LOCKED, with_columns

    admin = member(acme, ADMINISTRATOR)
    call = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=call)
    management_request(
        acme, user_actor(admin), "add_lock", [call], process=True,
        lock_expires=True, lock_expires_on=timezone.localdate() + timedelta(days=1),
    )  # fmt: skip

    def row(now):
        scoped = Interaction.objects.filter(tenant=acme)
        scoped = scoped.annotate(tenant_locked=views.LOCKED_COUNT(tenant_id=acme.pk, now=now))
        return with_columns(scoped, acme, now).get(pk=call.pk)

    today, later = row(timezone.now()), row(timezone.now() + timedelta(days=3))
    assert (today.is_locked, today.tenant_locked) == (True, 1)
    assert (later.is_locked, later.tenant_locked) == (False, 0)
    assert len(IS_LOCKED._compiled) == 1  # one database, one compilation


def test_main_menu_follows_grants_and_the_current_page(acme, member):
    """The main menu is rendered once per tenant, set of grants and page, and kept: a role's new
    permission shows in the very next page's menu, and each page marks itself current."""
    from accounts import services as account_services
    from accounts.models import Role

    user = member(acme, VIEWER)
    client = client_for(user)
    list_url, policies_url = reverse("interaction-list", args=["acme"]), reverse("policy-list", args=["acme"])

    def menu(url):
        html = client.get(url).content.decode()
        return html[html.index('<nav class="mainnav"') : html.index("</nav>")]

    before = menu(list_url)
    assert ">Audit Trail</a>" not in before and 'aria-current="page">Interactions</a>' in before
    role = Role.objects.get(tenant=acme, name=VIEWER)
    support = system_actor("test", "Test", {"manage_members", "view_audit", *role.permission_codenames}, register=False)
    account_services.set_role_permissions(role.pk, {*role.permission_codenames, "view_audit"}, support)
    after = menu(list_url)
    assert ">Audit Trail</a>" in after and 'aria-current="page">Interactions</a>' in after
    other_page = menu(policies_url)
    assert 'aria-current="page">Artifacts Lifecycle Policies</a>' in other_page
    assert 'aria-current="page">Interactions</a>' not in other_page
