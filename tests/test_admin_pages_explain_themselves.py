"""The chrome and the administration pages say what they mean: a skip link, Configuration as a menu,
a 403 naming the missing permission in plain words, Users & Roles with last sign-in, a "you" marker
and permissions in plain words, and the policy form's "Any" and field-naming messages."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounts.permissions import ADMINISTRATOR, SUPERVISOR, VIEWER
from tests.matrix import client_for

pytestmark = pytest.mark.django_db


def test_skip_link_and_configuration_menu(acme, member):
    html = client_for(member(acme, ADMINISTRATOR)).get(reverse("users-and-roles", args=["acme"])).content.decode()
    assert html.index('<a class="skip-link" href="#main">Skip to content</a>') < html.index("<header")
    assert '<main id="main" tabindex="-1">' in html
    menu = html[html.index('<details class="menu" id="configuration-menu">') :].split("</details>")[0]
    assert '<summary class="current">Configuration</summary>' in menu
    assert re.search(r'href="/t/acme/configuration/users-and-roles/" aria-current="page">Users &amp; Roles<', menu)
    # A viewer's menu lists only what they may open.
    viewer = client_for(member(acme, VIEWER)).get(reverse("interaction-list", args=["acme"])).content.decode()
    menu = viewer[viewer.index('id="configuration-menu"') :].split("</details>")[0]
    assert "Artifacts Lifecycle Policies" in menu and "Users &amp; Roles" not in menu and "Audit Trail" not in menu
    assert "<summary>Configuration</summary>" in menu


def test_403_names_the_permission_in_plain_words(acme, member):
    response = client_for(member(acme, SUPERVISOR)).get(reverse("audit-trail", args=["acme"]))
    assert response.status_code == 403
    assert "it needs the permission “View and export the audit trail” (VIEW_AUDIT)." in response.content.decode()


def test_users_and_roles_rows(acme, member):
    me = member(acme, ADMINISTRATOR, username="ada")
    other = member(acme, VIEWER, username="bob")
    other.last_login = datetime(2026, 3, 1, 14, 30, tzinfo=UTC)
    other.save()
    client = client_for(me)  # force_login sets my last_login
    html = client.get(reverse("users-and-roles", args=["acme"])).content.decode()
    mine = html[html.index('class="me"') :].split("</tr>")[0]
    assert 'ada <span class="badge you">you</span>' in mine
    theirs = html[html.index(f'id="member-{other.memberships.get().pk}"') :].split("</tr>")[0]
    assert "you</span>" not in theirs
    assert "2026-03-01 15:30:00 CET" in theirs  # acme is in Europe/Paris
    # Role and Save on one row (one form), and a role change is said to apply at once.
    assert re.search(
        r'<form [^>]*class="inline role-row">.*?<select name="role".*?<button type="submit">Save</button>', theirs, re.S
    )
    assert "A role change takes effect at once" in html
    # Permissions in plain words, the codename as secondary text.
    assert (
        '<td>Delete content (Delete requests)<br><small class="muted">'
        "<code>ARTIFACTS_MANAGEMENT_DELETE_REQUESTS</code></small></td>" in html
    )


def test_policy_form_says_any_and_what_it_includes(acme, member):
    html = (
        client_for(member(acme, ADMINISTRATOR))
        .get("/t/acme/configuration/artifacts-lifecycle-policies/new/")
        .content.decode()
    )
    for name in ("artifact_type", "audio_recording_type", "channel", "direction", "origin"):
        select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
        assert '<option value="" selected>Any</option>' in select, name
    assert "---------" not in html
    assert "Script and Voicemail included" in html
    assert '<label for="id_delete_after_days">Delete After (days)</label>' in html
