"""The official twilio library pointed at the fake Twilio by ``TWILIO_API_BASE_URL``: every domain
re-based, 429 / 5xx retried honouring Retry-After, and Test Connection's exact messages."""

import socket

import pytest
from twilio.base.exceptions import TwilioRestException

from ingestion import probe
from ingestion.twilio_client import HoldfastHttpClient, TwilioUnreachable, client_for, rebase
from tests.fake_twilio import sid


def test_rebase_keeps_each_domains_path():
    base = "http://127.0.0.1:9999"
    assert rebase("https://api.twilio.com/2010-04-01/Accounts/AC1.json", base) == (
        "http://127.0.0.1:9999/2010-04-01/Accounts/AC1.json"
    )
    assert rebase("https://taskrouter.twilio.com/v1/Workspaces/WS1/Events?PageSize=5", base + "/twilio/") == (
        "http://127.0.0.1:9999/twilio/v1/Workspaces/WS1/Events?PageSize=5"
    )
    assert rebase("https://conversations.twilio.com/v1/Conversations/CH1", "") == (
        "https://conversations.twilio.com/v1/Conversations/CH1"
    )


def test_every_domain_reaches_the_base_url_through_the_library(twilio):
    twilio.add_voice_task()
    chat = twilio.add_chat_task()
    client = client_for(twilio.account_sid, twilio.auth_token)
    assert client.api.v2010.accounts(twilio.account_sid).fetch().friendly_name == "Fake Flex account"
    workspace = client.taskrouter.v1.workspaces(twilio.workspace_sid)
    assert workspace.fetch().friendly_name == "Flex Task Assignment"
    # Paged through meta.next_page_url (Twilio's own host in the page, re-based by the client).
    events = list(workspace.events.stream(page_size=1))
    assert len(events) == 4 and {e.event_type for e in events} == {"task.completed", "reservation.accepted"}
    assert len(list(client.api.v2010.account.recordings.stream(page_size=2))) == 3  # next_page_uri paging
    messages = list(client.conversations.v1.conversations(chat["conversation"]).messages.stream())
    assert [m.author for m in messages][:2] == ["Carla", "bob"]
    paths = {r["path"].split("/")[1] for r in twilio.log}
    assert paths == {"2010-04-01", "v1"}


def test_429_then_success_honours_retry_after(twilio):
    twilio.fail_next("/Workspaces/", status=429, times=1, retry_after=1)
    http = HoldfastHttpClient()
    client = client_for(twilio.account_sid, twilio.auth_token, http_client=http)
    assert client.taskrouter.v1.workspaces(twilio.workspace_sid).fetch().sid == twilio.workspace_sid
    tries = twilio.requests_to("/Workspaces/")
    assert len(tries) == 2 and http.retries == 1
    assert tries[1]["at"] - tries[0]["at"] >= 1.0  # not before Twilio's Retry-After


def test_5xx_retried_then_given_up(twilio):
    twilio.fail_next(".json", status=503, times=10)
    http = HoldfastHttpClient(max_retries=2)
    client = client_for(twilio.account_sid, twilio.auth_token, http_client=http)
    with pytest.raises(TwilioRestException) as caught:
        client.api.v2010.accounts(twilio.account_sid).fetch()
    assert caught.value.status == 503 and len(twilio.requests_to(r"\.json$")) == 3


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_is_said_as_such(settings):
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{_closed_port()}"
    http = HoldfastHttpClient(max_retries=1, sleep=lambda s: None)
    with pytest.raises(TwilioUnreachable):
        client_for("AC" + "0" * 32, "t", http_client=http).api.v2010.accounts("AC" + "0" * 32).fetch()


def test_test_connection_messages(twilio, settings):
    ok = probe.test_connection(twilio.account_sid, twilio.auth_token, twilio.workspace_sid)
    assert ok.ok and ok.message == (
        f"Connected: account “Fake Flex account” ({twilio.account_sid}), workspace “Flex Task Assignment”."
    )
    bad_sid = probe.test_connection("AC12", twilio.auth_token, twilio.workspace_sid)
    assert not bad_sid.ok and bad_sid.message.startswith("Twilio Account SID: “AC12” is not a SID")
    bad_ws = probe.test_connection(twilio.account_sid, twilio.auth_token, "WS")
    assert bad_ws.message.startswith("Twilio Flex Workspace SID: “WS” is not a SID")
    refused = probe.test_connection(twilio.account_sid, "wrong-token", twilio.workspace_sid)
    assert refused.message == (
        "Twilio refused the credentials (401 Unauthorized): check the Account SID and the Auth Token."
    )
    unknown = sid("WS")
    missing = probe.test_connection(twilio.account_sid, twilio.auth_token, unknown)
    assert missing.message == (
        f"Unknown workspace: account {twilio.account_sid} has no TaskRouter workspace {unknown} (404)."
    )
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{_closed_port()}"
    down = probe.test_connection(twilio.account_sid, twilio.auth_token, twilio.workspace_sid)
    assert down.message.startswith(f"Twilio is unreachable: no answer from {settings.TWILIO_API_BASE_URL}")


@pytest.mark.django_db(transaction=True)
def test_at_most_n_downloads_at_once_per_account(settings):
    """With TWILIO_MEDIA_CONCURRENCY=1, a second download of the same account waits for the first's
    slot (another account's does not)."""
    import threading

    from django.db import connections

    from ingestion.twilio_client import download_slot

    settings.TWILIO_MEDIA_CONCURRENCY = 1
    account, other = "AC" + "a" * 32, "AC" + "b" * 32
    holding, release, entered = threading.Event(), threading.Event(), threading.Event()

    def first():
        try:
            with download_slot(account):
                holding.set()
                release.wait(20)
        finally:
            connections.close_all()

    def second():
        try:
            with download_slot(account, poll=0.05):
                entered.set()
        finally:
            connections.close_all()

    holder = threading.Thread(target=first)
    holder.start()
    assert holding.wait(10)
    waiter = threading.Thread(target=second)
    waiter.start()
    with download_slot(other):
        pass  # another account is not held up
    assert not entered.wait(0.5), "the second download of the account started while the first held the slot"
    release.set()
    assert entered.wait(10), "the second download starts once the slot is free"
    holder.join(10)
    waiter.join(10)
