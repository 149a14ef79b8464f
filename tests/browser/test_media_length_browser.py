"""In Chromium: the interaction page shows a recording's length before anything is fetched, and the
demo data's recordings (FLAC, as long as their call) play with exactly that length."""

import pytest

from tests.browser.waiting import wait_until
from tests.factories import ArtifactFactory, InteractionFactory
from workspace import demo_content

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_length_is_shown_before_play_and_is_the_players(acme, member, login, live_server):
    member(acme, "Supervisor", username="supervisor-acme")
    call = InteractionFactory(tenant=acme, duration_seconds=205)
    recording = ArtifactFactory(
        interaction=call,
        content=demo_content.flac_recording(demo_content.tone_wav("browser"), 205),
        filename="call.flac",
        content_type="audio/flac",
    )
    assert recording.duration_seconds == 205

    page = login("supervisor-acme")
    fetched = []
    page.on("request", lambda r: fetched.append(r.url) if "/play/" in r.url else None)
    page.goto(f"{live_server.url}/t/acme/interactions/{call.guid}/")
    length = page.locator(f"#length-{recording.pk}")
    assert length.inner_text() == "Length 3:25" and length.is_visible()
    assert page.evaluate("document.querySelector('audio').getAttribute('aria-describedby')") == length.get_attribute(
        "id"
    )
    page.wait_for_timeout(300)
    assert fetched == [], "opening the page fetches no media"

    page.evaluate("document.querySelector('audio').play()")
    wait_until(page, "document.querySelector('audio').readyState >= 1")
    assert page.evaluate("document.querySelector('audio').duration") == pytest.approx(205, abs=0.01)
    wait_until(page, "document.querySelector('audio').currentTime > 0.3")
    assert page.evaluate("document.querySelector('audio').error") is None
    page.evaluate("document.querySelector('audio').pause()")
    assert len(fetched) >= 1
