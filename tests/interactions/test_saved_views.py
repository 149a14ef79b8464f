"""Saved views of the interactions list: create, choose, replace, delete; private to their owner."""

from urllib.parse import urlencode

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from hypothesis import example, given, settings
from hypothesis import strategies as st

from accounts.actors import user_actor
from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, SUPERVISOR, VIEWER
from interactions.models import SavedView
from tests.factories import InteractionFactory
from tests.matrix import assert_role_matrix, client_for
from workspace import services
from workspace.filters import VIEW_PARAMS

pytestmark = pytest.mark.django_db
EVERYONE = {VIEWER, SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR}
LIST = "/t/acme/interactions/"


def create_url(slug="acme"):
    return reverse("saved-view-create", args=[slug])


def delete_url(view, slug="acme"):
    return reverse("saved-view-delete", args=[slug, view.pk])


def test_role_matrix_of_save_and_delete(acme, member):
    assert_role_matrix(create_url(), acme, EVERYONE, method="post", data={"name": "Calls"}, ok_status=302)

    # Delete: only the owner may. Every user the matrix makes is someone else than the owner, so a
    # granted role gets 404 (the view is not revealed) and a missing grant still 403 / 404 / login.
    view = SavedView.objects.create(user=member(acme), tenant=acme, name="theirs")
    assert_role_matrix(delete_url(view), acme, EVERYONE, method="post", ok_status=404)
    assert SavedView.objects.filter(pk=view.pk).exists()
    for role in (VIEWER, ADMINISTRATOR):
        user = member(acme, role)
        own = SavedView.objects.create(user=user, tenant=acme, name="mine")
        assert client_for(user).post(delete_url(own)).status_code == 302
        assert not SavedView.objects.filter(pk=own.pk).exists()


def test_save_choose_and_delete_through_the_list(acme, member):
    user = member(acme, SUPERVISOR)
    client = client_for(user)
    chat = InteractionFactory(tenant=acme, channel="chat")
    InteractionFactory(tenant=acme)
    response = client.post(
        create_url(), {"name": "  Chats, oldest first ", "query_string": "channel=chat&sort=started_at&after=x_1"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}?channel=chat&sort=started_at"  # the position is not kept
    view = SavedView.objects.get()
    assert (view.user, view.tenant, view.name, view.query_string) == (
        user,
        acme,
        "Chats, oldest first",
        "channel=chat&sort=started_at",
    )

    page = client.get(LIST)
    html = page.content.decode()
    assert f'href="{LIST}?channel=chat&amp;sort=started_at">Chats, oldest first</a>' in html
    assert delete_url(view) in html
    chosen = client.get(f"{LIST}?{view.query_string}")
    assert [r.guid for r in chosen.context["interactions"]] == [chat.guid]

    response = client.post(delete_url(view), {"query_string": "channel=chat"})
    assert response.status_code == 302 and response["Location"] == f"{LIST}?channel=chat"
    assert not SavedView.objects.exists()
    assert "View “Chats, oldest first” deleted." in client.get(LIST).content.decode()


def test_saving_a_taken_name_replaces_its_filters(acme, member):
    user = member(acme)
    first, created = services.save_view(acme.pk, user_actor(user), "Mine", "channel=chat")
    again, created_again = services.save_view(acme.pk, user_actor(user), "Mine", "channel=email&locked=yes")
    assert created and not created_again and first.pk == again.pk
    assert SavedView.objects.get().query_string == "channel=email&locked=yes"
    response = client_for(user).post(create_url(), {"name": "Mine", "query_string": "direction=inbound"}, follow=True)
    assert "View “Mine” replaced with the current filters." in response.content.decode()
    assert SavedView.objects.get().query_string == "direction=inbound"


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "Name: enter a name for the view."), ("   ", "Name: enter a name for the view."),
     ("x" * 101, "Name: at most 100 characters (it has 101)."), ("a\x00", "Name: null characters are not allowed.")],
)  # fmt: skip
def test_bad_names_are_refused_with_a_message(acme, member, name, message):
    user = member(acme)
    with pytest.raises(ValidationError) as raised:
        services.save_view(acme.pk, user_actor(user), name, "channel=chat")
    assert raised.value.messages == [message]
    response = client_for(user).post(create_url(), {"name": name, "query_string": "channel=chat"}, follow=True)
    assert response.status_code == 200 and message in response.content.decode()
    assert response.redirect_chain[-1][0] == f"{LIST}?channel=chat"
    assert not SavedView.objects.exists()


def test_only_known_parameters_are_kept(acme, member):
    view, _ = services.save_view(
        acme.pk, user_actor(member(acme)), "x", "q=%2B1555&csrfmiddlewaretoken=t&evil=1&per_page=20&channel=&after=a_1"
    )
    assert view.query_string == "q=%2B1555&per_page=20"


def test_views_are_private_to_their_owner_and_tenant(acme, globex, member):
    alice, bob = member(acme), member(acme)
    alice = member(globex, VIEWER, username=alice.username)  # alice is in globex too (same user)
    services.save_view(acme.pk, user_actor(alice), "Alice's acme view", "channel=chat")
    globex_view, _ = services.save_view(globex.pk, user_actor(alice), "Alice's globex view", "channel=sms")
    bobs, _ = services.save_view(acme.pk, user_actor(bob), "Bob's view", "channel=email")

    response = client_for(alice).get(LIST)
    assert response.status_code == 200, response
    alice_page = response.content.decode()
    assert "Alice&#x27;s acme view" in alice_page
    assert "Bob&#x27;s view" not in alice_page and "globex view" not in alice_page
    assert [v.name for v in client_for(alice).get(LIST).context["saved_views"]] == ["Alice's acme view"]

    # Alice cannot delete Bob's view, nor her globex view through the acme URL.
    assert client_for(alice).post(delete_url(bobs)).status_code == 404
    assert client_for(alice).post(delete_url(globex_view)).status_code == 404
    with pytest.raises(SavedView.DoesNotExist):
        services.delete_saved_view(bobs.pk, user_actor(alice))
    assert SavedView.objects.count() == 3
    assert services.delete_saved_view(globex_view.pk, user_actor(alice)) == "Alice's globex view"


def test_same_name_for_two_users_is_two_views(acme, member):
    services.save_view(acme.pk, user_actor(member(acme)), "Calls", "channel=voice")
    services.save_view(acme.pk, user_actor(member(acme)), "Calls", "channel=voice")
    assert SavedView.objects.count() == 2


def test_get_is_not_allowed_on_the_post_views(acme, member):
    client = client_for(member(acme))
    assert client.get(create_url()).status_code == 405


#: Text a browser can send in a form field (no lone surrogates).
_TEXT = st.characters(blacklist_categories=("Cs",))
#: Parameter names: the list's own, the ones a saved view drops, and junk.
_NAMES = st.sampled_from([*VIEW_PARAMS, "after", "csrfmiddlewaretoken", "evil", ""])
#: Query strings of every size: a few parameters, or a few repeated past 1,000 parameters and far
#: past what a saved view keeps, or plain text.
QUERY_STRINGS = st.one_of(
    st.builds(
        lambda pairs, times: urlencode(pairs * times),
        st.lists(st.tuples(_NAMES, st.text(_TEXT, max_size=20)), min_size=1, max_size=4),
        st.one_of(st.integers(1, 3), st.integers(1, 300)),
    ),
    st.text(_TEXT, max_size=200),
)
VIEW_NAMES = st.one_of(st.just("Calls"), st.text(_TEXT, max_size=110))


def test_any_name_and_filters_redirect_to_a_bounded_address_with_a_message(acme, member):
    """Saving (and deleting) a view with any filters answers a redirect no longer than the list's
    address plus what a saved view keeps, and the list then says what happened, naming the field."""
    client = client_for(member(acme))
    longest = len(LIST) + 1 + services.MAX_QUERY_STRING

    @settings(max_examples=10, deadline=None)
    @example("Calls", "q=" + "x" * 3000)  # one long filter
    @example("Calls", "channel=voice&" * 1500)  # more parameters than Django parses (1,000)
    @example("", "q=" + "x" * 3000)  # two problems: both named
    @given(VIEW_NAMES, QUERY_STRINGS)
    def check(name, query_string):
        SavedView.objects.all().delete()
        response = client.post(create_url(), {"name": name, "query_string": query_string})
        assert response.status_code == 302 and len(response["Location"]) <= longest
        page = client.get(response["Location"])
        assert page.status_code == 200
        shown = [str(m) for m in page.context["messages"]]
        saved = SavedView.objects.first()
        if saved:
            assert any(m.startswith(f"View “{saved.name}” ") for m in shown), shown
            assert len(saved.query_string) <= services.MAX_QUERY_STRING
            deleted = client.post(delete_url(saved), {"query_string": query_string})
            assert deleted.status_code == 302 and len(deleted["Location"]) <= longest
            after = client.get(deleted["Location"])
            assert f"View “{saved.name}” deleted." in [str(m) for m in after.context["messages"]]
        else:
            assert shown and all(m.startswith(("Name: ", "Filters: ")) for m in shown), shown
        if len(services.clean_query_string(query_string)) > services.MAX_QUERY_STRING:
            assert not saved and any(m.startswith("Filters: too long to save") for m in shown), shown

    check()
