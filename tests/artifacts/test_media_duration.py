"""Recording durations read from headers while content is stored (WAV, WebM, FLAC), never by
fetching the media: the parsers, the store path, the backfill command, the page and the API."""

import io
import struct
import wave
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.permissions import SUPERVISOR
from artifacts import media, storage
from artifacts.models import Artifact
from artifacts.storage import ArtifactStorage
from tests.factories import ArtifactFactory, InteractionFactory
from tests.matrix import client_for
from workspace import demo_content

#: A real WebM (VP8, 4 s) made by a real encoder: the demo's screen recording.
REAL_WEBM = Path(demo_content.__file__).resolve().parent / "demo_media" / "screen-recording.webm"


def pcm_wav(seconds, rate=8000, channels=1, width=2):
    """A PCM WAV written by the standard library: silence of ``seconds``."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(b"\0" * int(seconds * rate) * channels * width)
    return buffer.getvalue()


def extensible_wav(seconds, rate=48_000, channels=2, bits=24, data_size=None, extra_chunk=b""):
    """A WAVE_FORMAT_EXTENSIBLE file (as multi-channel / 24-bit writers produce), optionally with a
    chunk before ``data`` and a ``data`` size as a streaming writer leaves it."""
    block = channels * bits // 8
    data = b"\0" * int(seconds * rate) * block
    subformat = struct.pack("<H", 1) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, bits, 22, bits, 0) + subformat
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunk
    chunks += b"data" + struct.pack("<I", len(data) if data_size is None else data_size) + data
    riff_size = 0xFFFFFFFF if data_size == 0xFFFFFFFF else 4 + len(chunks)
    return b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + chunks


# --- A minimal EBML writer: WebM files with a known duration ------------------------------------
def ebml_id(value):
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def ebml_size(n, unknown=False):
    if unknown:
        return b"\x01\xff\xff\xff\xff\xff\xff\xff"
    return (n | (1 << 56)).to_bytes(8, "big")  # 8-byte size: valid for any length


def element(element_id, body, unknown=False):
    return ebml_id(element_id) + ebml_size(len(body), unknown) + body


def webm(duration=None, scale=None, float32=False, unknown_segment=False, void=0):
    """A WebM with an EBML header, a Segment (SeekHead-like Void, Info, Tracks, one Cluster)."""
    header = element(0x1A45DFA3, element(0x4282, b"webm") + element(0x4287, b"\x04"))
    info = element(0x2AD7B1, scale.to_bytes(4, "big")) if scale else b""
    info += element(0x4D80, b"holdfast-test")
    if duration is not None:
        info += element(0x4489, struct.pack(">f" if float32 else ">d", duration))
    tracks = element(0x1654AE6B, element(0xAE, element(0xD7, b"\x01") + element(0x86, b"A_OPUS")))
    cluster = element(0x1F43B675, element(0xE7, b"\x00") + element(0xA3, b"\x81\x00\x00\x80" + b"\0" * 40))
    body = (element(0xEC, b"\0" * void) if void else b"") + element(0x1549A966, info) + tracks + cluster
    return header + element(0x18538067, body, unknown=unknown_segment)


def duration(data):
    probe = media.DurationProbe(io.BytesIO(data))
    while probe.read(7919):  # an odd chunk size: headers are split across reads
        pass
    assert probe.size == len(data)
    return probe.duration()


# --- Parsers ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "rate", "channels", "width"),
    [(3.5, 8000, 1, 2), (205, 8000, 1, 1), (1.25, 44_100, 2, 2), (0, 8000, 1, 2)],
)
def test_pcm_wav(seconds, rate, channels, width):
    assert duration(pcm_wav(seconds, rate, channels, width)) == pytest.approx(seconds, abs=0.001)


def test_extensible_wav_and_chunks_before_data():
    assert duration(extensible_wav(2.5)) == pytest.approx(2.5)
    # A LIST chunk of odd size (padded) between fmt and data is skipped.
    listing = b"LIST" + struct.pack("<I", 5) + b"INFOx\0"
    assert duration(extensible_wav(1.5, extra_chunk=listing)) == pytest.approx(1.5)


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_streaming_writer_sizes_use_the_file_size(size):
    # A writer that could not seek back leaves 0 or 0xFFFFFFFF: the data runs to the end of the file.
    assert duration(extensible_wav(3.0, rate=8000, channels=1, bits=16, data_size=size)) == pytest.approx(3.0)


def test_a_truncated_wav_counts_what_arrived():
    whole = pcm_wav(10)
    assert duration(whole[: len(whole) // 2]) == pytest.approx(5.0, abs=0.01)


def test_real_webm():
    assert duration(REAL_WEBM.read_bytes()) == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"duration": 205_000.0}, 205.0),  # default TimecodeScale: milliseconds
        ({"duration": 205_000.0, "float32": True}, 205.0),
        ({"duration": 4_100.0, "scale": 50_000_000}, 205.0),  # 50 ms ticks
        ({"duration": 1234.0, "unknown_segment": True}, 1.234),  # a live writer's Segment
        ({"duration": 65_000.0, "void": 3000}, 65.0),  # a reserved SeekHead space before Info
        ({"duration": None}, None),  # MediaRecorder writes no Duration: unknown
        ({"duration": None, "unknown_segment": True}, None),
    ],
)
def test_webm(kwargs, expected):
    found = duration(webm(**kwargs))
    assert found == (None if expected is None else pytest.approx(expected))


def test_flac_of_the_demo_data():
    clip = demo_content.tone_wav("test")
    for seconds in (1, 255, 3600):
        assert duration(demo_content.flac_recording(clip, seconds)) == seconds


def test_info_after_the_head_is_unknown():
    # The head kept is bounded: a Duration beyond it is not read (and nothing else is).
    assert media.duration_of(webm(duration=5000.0, void=media.HEAD_BYTES)[: media.HEAD_BYTES], 10**9) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"RIFF",
        b"RIFF\x10\0\0\0WAVEfmt \x10\0\0\0",  # cut inside fmt
        b"RIFF\x10\0\0\0WAVEdata\x10\0\0\0abcd",  # no fmt
        pcm_wav(1).replace(b"\x40\x1f\0\0", b"\0\0\0\0"),  # rate 0
        b"\x1a\x45\xdf\xa3\x00",  # an EBML length of more than 8 bytes
        b"\x1a\x45\xdf\xa3\x84",  # cut
        b"fLaC\x00\x00\x00\x22",  # STREAMINFO cut
        b"ID3\x04\0\0\0\0\0\0",  # MP3: not read here
        b"hello, world",
    ],
)
def test_garbage_and_truncated_input_is_unknown(data):
    assert duration(data) is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prefix=st.sampled_from(
        [b"", b"RIFF\x00\x00\x00\x00WAVE", b"RF64\xff\xff\xff\xffWAVE", b"\x1a\x45\xdf\xa3", b"fLaC"]
    ),
    body=st.binary(max_size=600),
    size=st.integers(min_value=0, max_value=2**40),
)
def test_random_bytes_never_raise(prefix, body, size):
    found = media.duration_of(prefix + body, size)
    assert found is None or 0 <= found <= media.MAX_SECONDS


@settings(max_examples=200, deadline=None)
@given(cut=st.integers(min_value=0, max_value=400), flip=st.integers(min_value=0, max_value=399))
def test_damaged_real_headers_never_raise(cut, flip):
    for data in (REAL_WEBM.read_bytes()[:400], extensible_wav(0.01), webm(duration=5.0)):
        damaged = bytearray(data[:cut])
        if flip < len(damaged):
            damaged[flip] ^= 0xFF
        found = media.duration_of(bytes(damaged), cut)
        assert found is None or 0 <= found <= media.MAX_SECONDS


# --- Store path, backfill, page, API ----------------------------------------------------------------
@pytest.mark.django_db
def test_storing_records_the_duration(acme):
    call = InteractionFactory(tenant=acme)
    wav = ArtifactFactory(interaction=call, content=pcm_wav(205), filename="call.wav", content_type="audio/wav")
    video = ArtifactFactory(interaction=call, content=REAL_WEBM.read_bytes(), filename="screen.webm")
    text = ArtifactFactory(interaction=call, content=b"RIFF" + b"\0" * 40, filename="notes.txt")
    assert (wav.duration_seconds, video.duration_seconds, text.duration_seconds) == (205.0, 4.0, None)
    wav.refresh_from_db()
    assert wav.duration_seconds == 205.0 and wav.size == len(pcm_wav(205))


@pytest.mark.django_db
def test_backfill_reads_only_headers(acme, monkeypatch):
    call = InteractionFactory(tenant=acme)
    long_call = ArtifactFactory(interaction=call, content=pcm_wav(600), filename="a.wav")
    flac = ArtifactFactory(
        interaction=call, content=demo_content.flac_recording(demo_content.tone_wav(1), 90), filename="b.flac"
    )
    junk = ArtifactFactory(interaction=call, content=b"not audio" * 10, filename="c.wav")
    Artifact.objects.update(duration_seconds=None)  # stored before durations were kept
    reads = []
    real = ArtifactStorage.iter_bytes

    def counting(self, key, start=0, end=None, version=""):
        for chunk in real(self, key, start, end, version):
            reads.append(len(chunk))
            yield chunk

    monkeypatch.setattr(ArtifactStorage, "iter_bytes", counting)
    out = io.StringIO()
    call_command("artifact_durations", "--batch", "2", stdout=out)
    assert "2 durations recorded; 1 recordings whose header gives none" in out.getvalue()
    durations = dict(Artifact.objects.values_list("pk", "duration_seconds"))
    assert durations == {long_call.pk: 600.0, flac.pk: 90.0, junk.pk: None}
    assert sum(reads) <= 3 * media.HEAD_BYTES < long_call.size, "only the heads were read"


@pytest.mark.django_db
def test_page_shows_the_length_without_fetching_the_media(acme, member):
    user = member(acme, SUPERVISOR)
    call = InteractionFactory(tenant=acme, duration_seconds=205)
    ArtifactFactory(interaction=call, content=pcm_wav(205), filename="call.wav", content_type="audio/wav")
    ArtifactFactory(interaction=call, content=pcm_wav(3725), filename="long.wav", content_type="audio/wav")
    reads_before = storage.calls["read"]
    response = client_for(user).get(reverse("interaction-detail", args=[acme.slug, call.guid]))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<time class="media-length" datetime="PT205S">3:25</time>' in html
    assert '<time class="media-length" datetime="PT3725S">1:02:05</time>' in html
    assert html.count('preload="none"') == 2
    # Beside each player, and what a screen reader announces with it.
    assert html.count('<span class="player-length" id="length-') == 2 and html.count("aria-describedby") == 2
    assert storage.calls["read"] == reads_before, "opening the page reads no content"


# --- MP3 ------------------------------------------------------------------------------------------
def mp3(seconds, bitrate_index=9, xing=False, id3=False, mpeg1=True):
    """Silent Layer III frames (a valid stream: header, zero side info, zero main data).

    MPEG-1 44.1 kHz 128 kbit/s (index 9): 1152 samples, 417 bytes a frame (418 padded); MPEG-2
    22.05 kHz (index 9: 80 kbit/s): 576 samples, 261 bytes.
    """
    rate, samples = (44_100, 1152) if mpeg1 else (22_050, 576)
    bitrate = (
        (32, 40, 48, 56, 64, 80, 96, 112, 128)[bitrate_index - 1]
        if mpeg1
        else (8, 16, 24, 32, 40, 48, 56, 64, 80)[bitrate_index - 1]
    )
    length = samples // 8 * bitrate * 1000 // rate
    header = bytes([0xFF, 0xFB if mpeg1 else 0xF3, bitrate_index << 4, 0xC4])  # mono
    frames = round(seconds * rate / samples)
    body = [header + b"\0" * (length - 4)] * frames
    if xing:  # a first frame that carries the count (VBR files)
        info = bytearray(header + b"\0" * (length - 4))
        at = 4 + (17 if mpeg1 else 9)
        info[at : at + 12] = b"Xing" + struct.pack(">II", 1, frames)
        body = [bytes(info), *body]
    tag = b"ID3\x04\x00\x00\x00\x00\x02\x00" + b"\0" * 256 if id3 else b""
    return tag + b"".join(body)


@pytest.mark.parametrize("kwargs", [{}, {"id3": True}, {"xing": True, "id3": True}, {"mpeg1": False}])
def test_mp3(kwargs):
    # CBR: the size over the nominal bit rate. These frames are never padded (a real encoder pads some
    # to hold the rate exactly), so the estimate is a little short: within 0.5 %.
    assert duration(mp3(30, **kwargs)) == pytest.approx(30, rel=0.005)


def test_mp3_xing_count_is_exact_whatever_the_size():
    data = mp3(12, xing=True)
    assert media.duration_of(data[: media.HEAD_BYTES], 10**9) == pytest.approx(12, abs=0.03)


def test_a_lone_frame_sync_in_garbage_is_not_an_mp3():
    assert duration(b"\xff\xfb\x90\xc4" + b"\x17" * 1000) is None
