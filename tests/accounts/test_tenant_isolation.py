"""Tenant isolation through ``restrict``: nobody sees another tenant's data unless granted."""

import pytest
from django.urls import reverse

from accounts.models import Tenant
from accounts.permissions import ACCESS_CONTENT, VIEW_INTERACTIONS
from artifacts.models import Artifact
from interactions.models import Interaction
from tests.factories import ArtifactFactory, InteractionFactory, UserFactory
from tests.matrix import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_tenants(acme, globex):
    acme_calls = [InteractionFactory(tenant=acme) for _ in range(3)]
    globex_calls = [InteractionFactory(tenant=globex) for _ in range(2)]
    return acme_calls, globex_calls


def test_restrict_returns_only_granted_tenants_rows(acme, globex, member, two_tenants):
    user = member(acme, "Supervisor")
    assert set(Interaction.objects.restrict(user, VIEW_INTERACTIONS)) == set(two_tenants[0])
    assert Interaction.objects.restrict(user, VIEW_INTERACTIONS).filter(tenant=globex).count() == 0
    assert list(Tenant.objects.restrict(user, VIEW_INTERACTIONS)) == [acme]


def test_restrict_is_per_permission(acme, member, two_tenants):
    """A Viewer may see interactions but holds no management-request permission there."""
    viewer = member(acme, "Viewer")
    assert Interaction.objects.restrict(viewer, VIEW_INTERACTIONS).count() == 3
    assert Interaction.objects.restrict(viewer, "artifacts_management_requests_read").count() == 0


def test_restrict_gives_nothing_to_anonymous_inactive_or_unaffiliated_users(acme, member, two_tenants):
    from django.contrib.auth.models import AnonymousUser

    assert Interaction.objects.restrict(AnonymousUser(), VIEW_INTERACTIONS).count() == 0
    assert Interaction.objects.restrict(UserFactory(), VIEW_INTERACTIONS).count() == 0
    user = member(acme, "Administrator")
    user.is_active = False
    user.save()
    assert Interaction.objects.restrict(user, VIEW_INTERACTIONS).count() == 0


def test_restrict_is_one_query(acme, member, two_tenants, django_assert_num_queries):
    user = member(acme, "Viewer")
    with django_assert_num_queries(1):
        list(Artifact.objects.restrict(user, ACCESS_CONTENT))


def test_acme_user_sees_only_acme_interactions_in_the_list(acme, globex, member, two_tenants):
    client = client_for(member(acme, "Supervisor"))
    response = client.get(reverse("interaction-list", args=["acme"]))
    assert response.status_code == 200
    shown = {i.guid for i in response.context["interactions"]}
    assert shown == {i.guid for i in two_tenants[0]}
    body = response.content.decode()
    for other in two_tenants[1]:
        assert str(other.guid) not in body


def test_other_tenants_pages_detail_and_download_are_404(acme, globex, member):
    theirs = ArtifactFactory(interaction=InteractionFactory(tenant=globex))
    client = client_for(member(acme, "Administrator"))
    assert client.get(reverse("interaction-list", args=["globex"])).status_code == 404
    # Even through acme's URL, a globex object is not found.
    assert client.get(reverse("interaction-detail", args=["acme", theirs.interaction.guid])).status_code == 404
    assert client.get(reverse("interaction-detail", args=["globex", theirs.interaction.guid])).status_code == 404
    assert client.get(reverse("artifact-download", args=["acme", theirs.pk])).status_code == 404
    assert client.get(reverse("artifact-play", args=["globex", theirs.pk])).status_code == 404


def test_member_of_both_tenants_sees_each_under_its_own_url(acme, globex, member, two_tenants):
    from tests.factories import MembershipFactory

    user = member(acme, "Viewer")
    MembershipFactory(user=user, tenant=globex, role_name="Viewer")
    client = client_for(user)
    globex_page = client.get(reverse("interaction-list", args=["globex"]))
    assert {i.guid for i in globex_page.context["interactions"]} == {i.guid for i in two_tenants[1]}
    # Two tenants: "/" offers the chooser, with both.
    assert client.get("/").url == reverse("tenant-chooser")
    chooser = client.get(reverse("tenant-chooser")).content.decode()
    assert "Acme" in chooser and "Globex" in chooser


def test_root_sends_single_tenant_user_to_their_interactions(acme, member):
    client = client_for(member(acme, "Viewer"))
    assert client.get("/").url == reverse("interaction-list", args=["acme"])
