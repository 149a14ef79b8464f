"""In Chromium: a supervisor logs in, sees only their tenant's interactions and plays a recording."""

import io
import math
import struct
import wave

import pytest

from tests.factories import ArtifactFactory, InteractionFactory

pytestmark = pytest.mark.django_db(transaction=True)


def wav_bytes(seconds=2.0, rate=8000):
    """A real PCM WAV: a 440 Hz tone."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                for i in range(int(seconds * rate))
            )
        )
    return buffer.getvalue()


def test_supervisor_plays_a_call_recording(acme, globex, member, login, live_server):
    member(acme, "Supervisor", username="supervisor-acme")
    ours = InteractionFactory(tenant=acme, agent_name="Ada Agent")
    ArtifactFactory(interaction=ours, content=wav_bytes(), filename="call.wav", content_type="audio/wav")
    theirs = InteractionFactory(tenant=globex, agent_name="Gus Globex")

    page = login("supervisor-acme")
    assert page.url.endswith("/t/acme/interactions/")
    body = page.content()
    assert "Ada Agent" in body and "Gus Globex" not in body and str(theirs.guid) not in body

    page.click(f"a[href='/t/acme/interactions/{ours.guid}/']")
    audio = page.locator("audio")
    audio.wait_for()
    page.wait_for_function("document.querySelector('audio').readyState >= 1")
    duration = page.evaluate("document.querySelector('audio').duration")
    assert duration == pytest.approx(2.0, abs=0.05)
    # Seek past the start: the browser issues a Range request and playback continues from there.
    page.evaluate("(() => { const a = document.querySelector('audio'); a.currentTime = 1.5; return a.play(); })()")
    page.wait_for_function("document.querySelector('audio').currentTime > 1.5")
    assert page.evaluate("document.querySelector('audio').error") is None
