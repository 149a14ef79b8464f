"""In Chromium: a supervisor logs in, sees only their tenant's interactions and plays a recording,
seeking in it; the play is one audit event however many ranges the element fetched."""

import io
import math
import struct
import wave

import pytest

from accounts.models import AuditEvent
from tests.browser.waiting import wait_until
from tests.factories import ArtifactFactory, InteractionFactory

pytestmark = pytest.mark.django_db(transaction=True)
SECONDS = 300.0
RATE = 48_000


def wav_bytes(seconds=2.0, rate=8000):
    """A real PCM WAV: a 440 Hz tone (one second computed, then repeated)."""
    second = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(rate))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(second * int(seconds))
    return buffer.getvalue()


def test_supervisor_plays_a_call_recording(acme, globex, member, login, live_server):
    member(acme, "Supervisor", username="supervisor-acme")
    ours = InteractionFactory(tenant=acme, agent_name="Ada Agent")
    # Five minutes at 48 kHz (28.8 MB), through a throttled network: a far seek needs a Range of its own.
    recording = ArtifactFactory(
        interaction=ours, content=wav_bytes(SECONDS, RATE), filename="call.wav", content_type="audio/wav"
    )
    theirs = InteractionFactory(tenant=globex, agent_name="Gus Globex")

    page = login("supervisor-acme")
    assert page.url.endswith("/t/acme/interactions/")
    body = page.content()
    assert "Ada Agent" in body and "Gus Globex" not in body and str(theirs.guid) not in body

    requests = []
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 5, "downloadThroughput": 200_000, "uploadThroughput": -1},
    )
    page.on("request", lambda r: requests.append(r.headers.get("range")) if "/play/" in r.url else None)
    page.click(f"a[href='/t/acme/interactions/{ours.guid}/']")
    audio = page.locator("audio")
    audio.wait_for()
    # preload="none": opening the page fetches no content, so it records no play.
    assert page.evaluate("document.querySelector('audio').preload") == "none" and requests == []
    page.evaluate(
        "(() => { const a = document.querySelector('audio');"
        " a.addEventListener('loadedmetadata', () => { a.currentTime = 280; }, {once: true}); return a.play(); })()"
    )
    wait_until(page, "document.querySelector('audio').readyState >= 1")
    duration = page.evaluate("document.querySelector('audio').duration")
    assert duration == pytest.approx(SECONDS, abs=0.05)
    # Seeks (to 280 s on load, then back to 25 s and 12 s): playback continues from each position.
    page.evaluate("(() => { const a = document.querySelector('audio'); a.currentTime = 25; return a.play(); })()")
    wait_until(page, "document.querySelector('audio').currentTime > 25.2")
    page.evaluate("document.querySelector('audio').currentTime = 12")
    wait_until(
        page,
        "(() => { const a = document.querySelector('audio'); return a.currentTime > 12.2 && a.currentTime < 20; })()",
    )
    assert page.evaluate("document.querySelector('audio').error") is None
    page.evaluate("document.querySelector('audio').pause()")
    # The far seeks were fetched as ranges of their own; however many, that was one play.
    assert requests[0] in (None, "bytes=0-") and len(requests) > 1, requests
    assert all(r and r.startswith("bytes=") and not r.startswith("bytes=0-") for r in requests[1:]), requests
    played = AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_PLAYED)
    assert [(e.artifact_id, e.actor_label) for e in played] == [(recording.pk, "supervisor-acme")]
