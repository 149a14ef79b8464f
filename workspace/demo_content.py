"""Real, small content for the demo data of ``manage.py seed_demo``.

Everything here returns bytes a user can open: recordings as long as their call (FLAC, 8 kHz mono
16-bit: a clip spoken by ``espeak-ng`` when it is installed, DTMF-like tones otherwise, then
silence), IVR snippets (the clip as a WAV), call transcripts and categorization results,
chat transcripts, ``.eml`` emails with an HTML alternative and an attachment, PNG images, call
scripts and a short WebM screen recording (``demo_media/``). Generators take a ``random.Random``
so the same interaction always gets the same content.
"""

import contextlib
import functools
import io
import json
import math
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import wave
import zlib
from array import array
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from core.vocabulary import ArtifactType, AudioRecordingType

RATE = 8000
MIN_SECONDS, MAX_SECONDS = 2.0, 4.0
VIDEO_PATH = Path(__file__).resolve().parent / "demo_media" / "screen-recording.webm"


@dataclass(frozen=True)
class Content:
    """One file to store: the name offered on download, its media type and its bytes."""

    filename: str
    content_type: str
    data: bytes


# --- Audio -----------------------------------------------------------------------------------
#: What the pool's clips say, by purpose; the pool has one clip per line (12 in all).
PHRASES = {
    "call": (
        "Hi, I'm calling about my last invoice.",
        "My order still has not arrived.",
        "Can you help me reset my password?",
        "I would like to change my delivery address.",
        "The payment was taken twice this month.",
        "I want to cancel my subscription, please.",
    ),
    "agent": (
        "Thanks for calling, how can I help you today?",
        "Let me check that for you right away.",
    ),
    "voicemail": (
        "Hello, please call me back about my claim.",
        "Hi, this is a message about my refund.",
    ),
    "ivr": (
        "For billing, press one. For support, press two.",
        "Please enter your account number now.",
    ),
}
#: The clip that bulk (benchmark) mode stores once per tenant and audio kind, shared by its artifacts.
BULK_PHRASE = "This is shared benchmark audio."
DTMF_ROWS, DTMF_COLS = (697, 770, 852, 941), (1209, 1336, 1477)


def espeak_binary():
    """Path of ``espeak-ng``, or None: speech is optional and tones stand in for it."""
    return shutil.which("espeak-ng")


def wav_bytes(samples, rate=RATE):
    """A PCM WAV file (mono, 16-bit) holding ``samples``."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def _fit(samples, rate=RATE):
    """Pad with silence to at least 2 s and cut (with a short fade) to at most 4 s."""
    lo, hi = int(MIN_SECONDS * rate), int(MAX_SECONDS * rate)
    if len(samples) < lo:
        samples.extend([0] * (lo - len(samples)))
    if len(samples) > hi:
        del samples[hi:]
        fade = rate // 20
        for i in range(fade):
            samples[hi - fade + i] = int(samples[hi - fade + i] * (fade - i) / fade)
    return samples


def _resample(src, src_rate, rate=RATE):
    """Downsample by averaging a window two output samples wide around each output sample.

    The window is a box low-pass with its first null near the new Nyquist frequency: crude, but
    enough for telephone-band speech, and fast in pure Python (slices summed in C).
    """
    step = src_rate / rate
    out = array("h")
    for i in range(int(len(src) / step)):
        lo, hi = max(int((i - 1) * step), 0), max(int((i + 1) * step), 1)
        window = src[lo:hi]
        out.append(int(sum(window) / len(window)))
    return out


def tone_wav(seed):
    """A 2 to 4 s clip of DTMF-like dual-tone beeps, different for each ``seed`` (no speech needed)."""
    rng = random.Random(f"tones:{seed}")
    samples = array("h")
    total = int(rng.uniform(MIN_SECONDS + 0.2, MAX_SECONDS - 0.2) * RATE)
    while len(samples) < total:
        low, high = rng.choice(DTMF_ROWS), rng.choice(DTMF_COLS)
        for i in range(int(rng.uniform(0.12, 0.3) * RATE)):
            t = i / RATE
            samples.append(int(6000 * (math.sin(2 * math.pi * low * t) + math.sin(2 * math.pi * high * t))))
        samples.extend([0] * int(rng.uniform(0.05, 0.25) * RATE))
    return wav_bytes(_fit(samples))


def _speech_wavs(texts, binary):
    """Speak ``texts`` with espeak-ng (in parallel); None for any clip that failed."""
    with tempfile.TemporaryDirectory(prefix="holdfast-seed-") as tmp:
        jobs = []
        for i, text in enumerate(texts):
            path = Path(tmp) / f"{i}.wav"
            # Alternate voices and speeds so the clips do not all sound the same.
            voice = ("en-us", "en-us+f3", "en-gb", "en-gb+f2")[i % 4]
            cmd = [binary, "-v", voice, "-s", str(150 + 8 * (i % 3)), "-w", str(path), text]
            jobs.append((path, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
        clips = []
        for path, proc in jobs:
            try:
                ok = proc.wait(timeout=30) == 0
                with wave.open(str(path), "rb") as src:
                    if not ok or src.getsampwidth() != 2 or src.getnchannels() != 1:
                        raise wave.Error("unexpected espeak-ng output")
                    rate, raw = src.getframerate(), array("h", src.readframes(src.getnframes()))
                clips.append(wav_bytes(_fit(_resample(raw, rate))))
            except (OSError, EOFError, wave.Error, subprocess.TimeoutExpired):
                proc.kill()
                clips.append(None)
        return clips


def build_audio_pool():
    """The run's WAV clips by purpose (``call``, ``agent``, ``voicemail``, ``ivr``, ``bulk``)."""
    purposes = [(purpose, text) for purpose, lines in PHRASES.items() for text in lines]
    purposes.append(("bulk", BULK_PHRASE))
    binary, spoken = espeak_binary(), [None] * len(purposes)
    if binary:
        with contextlib.suppress(OSError):  # found but not runnable: tones will do
            spoken = _speech_wavs([text for _, text in purposes], binary)
    pool = {}
    for i, ((purpose, _), clip) in enumerate(zip(purposes, spoken, strict=True)):
        pool.setdefault(purpose, []).append(clip or tone_wav(f"{purpose}:{i}"))
    return pool


# --- Whole-call recordings (FLAC) ---------------------------------------------------------------
# A recording lasts as long as its call: the pool's clip, then silence to the interaction's end.
# As WAV that would be 16 kB a second (gigabytes for the demo's ~330 hours of calls); FLAC stores
# a block of silence as one CONSTANT sub-frame (about 10 bytes for 0.5 s), every browser plays it,
# and its STREAMINFO header carries the exact length. The encoder below writes only VERBATIM and
# CONSTANT sub-frames (no prediction): trivially correct, and the frames are cached, so a recording
# costs a ``bytes.join`` of cached frames and a 42-byte header.
FLAC_BLOCK = 4096  # samples per frame (0.512 s at 8 kHz)


def _crc8(data):
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def _crc16(data):
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


def _crc_table(bits, poly):
    top, mask, table = 1 << (bits - 1), (1 << bits) - 1, []
    for i in range(256):
        crc = i << (bits - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & mask if crc & top else (crc << 1) & mask
        table.append(crc)
    return table


_CRC8, _CRC16 = _crc_table(8, 0x07), _crc_table(16, 0x8005)


def _utf8_number(n):
    """FLAC's frame number: UTF-8's encoding extended to 36 bits."""
    if n < 0x80:
        return bytes([n])
    length = 2
    while n >= 1 << (5 * length + 1):
        length += 1
    out = [0x80 | ((n >> (6 * i)) & 0x3F) for i in range(length - 1)][::-1]
    return bytes([((0xFF00 >> length) & 0xFF) | (n >> (6 * (length - 1))), *out])


def _flac_frame(number, samples):
    """One mono 16-bit 8 kHz frame: CONSTANT when every sample is equal, else VERBATIM."""
    size = len(samples)
    size_code = 0b1100 if size == FLAC_BLOCK else 0b0111  # 4096, or 16 bits of (size - 1) follow
    header = bytes([0xFF, 0xF8, (size_code << 4) | 0b0100, 0b0000_1000]) + _utf8_number(number)
    if size_code == 0b0111:
        header += struct.pack(">H", size - 1)
    header += bytes([_crc8(header)])
    if all(s == samples[0] for s in samples):
        body = b"\x00" + struct.pack(">h", samples[0])  # CONSTANT sub-frame
    else:
        body = b"\x02" + _big_endian(samples)  # VERBATIM sub-frame
    frame = header + body
    return frame + struct.pack(">H", _crc16(frame))


def _big_endian(samples):
    data = array("h", samples)
    if sys.byteorder == "little":
        data.byteswap()
    return data.tobytes()


@functools.cache
def _clip_samples(clip):
    """The 16-bit samples of a pool clip (WAV bytes); none for ``b""``."""
    if not clip:
        return array("h")
    with wave.open(io.BytesIO(clip), "rb") as src:
        return array("h", src.readframes(src.getnframes()))


@functools.cache
def _frame(clip, number, size=FLAC_BLOCK):
    """Frame ``number`` of a recording that starts with ``clip``: its samples there, or silence after it."""
    block = list(_clip_samples(clip)[number * FLAC_BLOCK : number * FLAC_BLOCK + size])
    return _flac_frame(number, block + [0] * (size - len(block)))


def flac_recording(clip, seconds, rate=RATE):
    """A FLAC file (mono, 16-bit, 8 kHz) of exactly ``seconds`` seconds: ``clip`` (a pool WAV) then silence."""
    total = max(int(seconds * rate), 1)
    full, rest = divmod(total, FLAC_BLOCK)
    spoken = -(-len(_clip_samples(clip)) // FLAC_BLOCK)  # frames that hold some of the clip
    frames = [_frame(clip if n < spoken else b"", n) for n in range(full)]
    if rest:
        frames.append(_frame(clip if full < spoken else b"", full, rest))
    info = struct.pack(">HH", FLAC_BLOCK, FLAC_BLOCK) + b"\x00" * 6  # frame sizes: unknown
    info += ((rate << 44) | (15 << 36) | total).to_bytes(8, "big")  # mono (0 << 41), 16-bit (15 << 36)
    info += b"\x00" * 16  # no MD5 signature: allowed, and decoders then skip the check
    return b"fLaC" + bytes([0x80, 0, 0, len(info)]) + info + b"".join(frames)


# --- Images, video -----------------------------------------------------------------------------
def png_bytes(rng, width=64, height=40):
    """A small PNG: coloured bands like a thumbnail of a screenshot or a photo of a parcel."""
    colours = [tuple(rng.randrange(40, 256) for _ in range(3)) for _ in range(4)]
    rows = b"".join(
        b"\x00" + b"".join(bytes(colours[(x // 16 + y // 10) % 4]) for x in range(width)) for y in range(height)
    )

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@functools.cache
def screen_recording():
    """The committed WebM (VP8, 4 s) used for every screen and video recording."""
    return Content("screen-recording.webm", "video/webm", VIDEO_PATH.read_bytes())


def attachment(rng, stem):
    """A small attachment: a PNG image or a text note."""
    if rng.random() < 0.5:
        return Content(f"{stem}.png", "image/png", png_bytes(rng))
    number = rng.randrange(10_000, 99_999)
    text = f"Order {number}\nItems: 2\nTotal: {rng.randrange(20, 400)}.{rng.randrange(100):02d}\n"
    return Content(f"order-{number}.txt", "text/plain", text.encode())


# --- Text content -----------------------------------------------------------------------------
TOPICS = (
    ("Billing", "I have a question about my last invoice.", "I see the invoice, let me explain the charge."),
    ("Delivery", "My parcel has not arrived yet.", "I see it left the depot this morning."),
    ("Account", "I cannot log in to my account.", "I have sent you a reset link just now."),
    ("Cancellation", "I would like to cancel my plan.", "I can help, may I ask why you are leaving?"),
    ("Refund", "I am still waiting for my refund.", "The refund was approved and is on its way."),
)
CLOSINGS = (
    ("Great, thank you.", "You're welcome, have a nice day."),
    ("That solves it, thanks!", "Glad I could help."),
    ("OK, I'll wait then.", "Thanks for your patience."),
)


def _json(data):
    return json.dumps(data, indent=2, ensure_ascii=False).encode()


def _turns(interaction, rng):
    """A short conversation: (offset seconds, speaker, text) turns about one topic."""
    topic, question, answer = rng.choice(TOPICS)
    thanks, goodbye = rng.choice(CLOSINGS)
    lines = [
        ("agent", f"Hello, this is {interaction.agent_name.split()[0]}, how can I help?"),
        ("customer", question),
        ("agent", answer),
        ("customer", thanks),
        ("agent", goodbye),
    ]
    span = max(interaction.duration_seconds, len(lines) * 4)
    offsets = sorted(rng.uniform(0, span * 0.9) for _ in lines)
    offsets[0] = 0.0
    return topic, [(round(at, 1), who, text) for at, (who, text) in zip(offsets, lines, strict=True)]


def call_transcript(interaction, rng):
    """Speech-to-text of a call recording, as JSON segments per speaker."""
    _, turns = _turns(interaction, rng)
    segments = [
        {
            "start": at,
            "end": at + 2.5,
            "speaker": who,
            "text": text,
            "confidence": rng.randrange(80, 100) / 100,
        }
        for at, who, text in turns
    ]
    language = interaction.metadata.get("language", "en-US")
    body = {"language": language, "source": "callRecording", "segments": segments}
    return Content("transcript.json", "application/json", _json(body))


def categorization(interaction, rng):
    """Speech-analytics categories and sentiment of a call, as JSON."""
    topic, _ = _turns(interaction, rng)
    body = {
        "categories": [{"name": topic, "score": round(rng.uniform(0.7, 0.99), 2)}],
        "sentiment": {"customer": rng.choice(["positive", "neutral", "negative"]), "agent": "positive"},
        "silence_ratio": round(rng.uniform(0.02, 0.2), 2),
        "keywords": rng.sample(["invoice", "refund", "delivery", "password", "cancel", "upgrade"], 3),
    }
    return Content("categorization.json", "application/json", _json(body))


def chat_transcript(interaction, rng, customer_name):
    """A messaging conversation: ``{"messages": [{"at", "from", "author", "text"}, ...]}``."""
    _, turns = _turns(interaction, rng)
    messages = [
        {
            "at": (interaction.started_at + timedelta(seconds=at)).isoformat(timespec="seconds"),
            "from": who,
            "author": interaction.agent_name if who == "agent" else customer_name,
            "text": text,
        }
        for at, who, text in turns
    ]
    body = {"channel": interaction.channel, "messages": messages}
    return Content("chat-transcript.json", "application/json", _json(body))


def script(interaction, rng):
    """The script the agent followed: structured JSON for dialer campaigns, plain text otherwise."""
    campaign = interaction.metadata.get("campaign", "general")
    if rng.random() < 0.5:
        steps = ["Greet and confirm identity", f"Present the {campaign} offer", "Handle objections", "Close"]
        return Content("script.json", "application/json", _json({"campaign": campaign, "steps": steps}))
    text = (
        f"Script: {campaign}\n\n1. Greet the customer by name.\n2. Verify the account (postcode, date of "
        "birth).\n3. Ask how we can help and summarise the request.\n4. Close: anything else today?\n"
    )
    return Content("script.txt", "text/plain", text.encode())


def email_message(interaction, rng, customer_name, support_address):
    """A real ``.eml`` (text, HTML alternative, one attachment) and that attachment on its own."""
    topic, question, answer = rng.choice(TOPICS)
    inbound = interaction.direction == "inbound"
    customer = f"{customer_name} <{interaction.from_address if inbound else interaction.to_address}>"
    support = f"{support_address.split('@')[1].split('.')[0].title()} Support <{support_address}>"
    body = question if inbound else answer
    signature = customer_name if inbound else interaction.agent_name
    file = attachment(rng, "screenshot" if inbound else "statement")
    msg = EmailMessage()
    msg["From"], msg["To"] = (customer, support) if inbound else (support, customer)
    msg["Subject"] = f"{topic} #{rng.randrange(100_000, 999_999)}" if inbound else f"Re: {topic}"
    msg["Date"] = format_datetime(interaction.started_at)
    msg["Message-ID"] = f"<{rng.getrandbits(64):016x}@{support_address.split('@')[1]}>"
    msg.set_content(f"Hello,\n\n{body}\n\nBest regards,\n{signature}\n")
    msg.add_alternative(
        f"<html><body><p>Hello,</p><p>{body}</p><p>Best regards,<br>{signature}</p></body></html>",
        subtype="html",
    )
    maintype, subtype = file.content_type.split("/")
    msg.add_attachment(file.data, maintype=maintype, subtype=subtype, filename=file.filename)
    # Fixed boundaries instead of the random default, so the same interaction gives the same bytes.
    msg.set_boundary(f"=_holdfast_{rng.getrandbits(64):016x}")
    for part in msg.iter_parts():
        if part.is_multipart():
            part.set_boundary(f"=_holdfast_{rng.getrandbits(64):016x}")
    return Content("message.eml", "message/rfc822", msg.as_bytes()), file


@dataclass(frozen=True)
class Kind:
    """A sort of demo artifact: its artifact type, audio recording type and content key.

    ``content_key`` ``"uuid"`` means a fresh unique identifier per artifact, ``"legacy"`` a
    ``voicemail-<agentId>`` key; the others are the named keys of ``ContentKey``.
    """

    artifact_type: str
    audio_recording_type: str
    content_key: str
    audio: str = ""  # which pool of clips a recording draws from


_A, _T, _R = ArtifactType, AudioRecordingType.CONFERENCE_CUSTOMER, ArtifactType.AUDIO_RECORDING
KINDS = {
    "call_customer": Kind(_R, _T, "callRecording", "call"),
    "call_agent": Kind(_R, AudioRecordingType.CONFERENCE_AGENT, "callRecording", "agent"),
    # Transcript and categorization derive from the customer recording, so they carry its type.
    "transcript": Kind(_R, _T, "transcript"),
    "categorization": Kind(_R, _T, "categorizationResult"),
    "ivr": Kind(_R, AudioRecordingType.IVR_SNIPPET, "ivrAudioRecording", "ivr"),
    "partial": Kind(_A.PARTIAL_AUDIO_RECORDING, "", "callRecording", "call"),
    "voicemail": Kind(_A.VOICEMAIL, "", "uuid", "voicemail"),
    "voicemail_legacy": Kind(_A.VOICEMAIL, "", "legacy", "voicemail"),
    "qm_audio": Kind(_A.QM_AUDIO_RECORDING, "", "uuid", "call"),
    "qm_screen": Kind(_A.QM_SCREEN_RECORDING, "", "uuid"),
    "script": Kind(_A.SCRIPT, "", "uuid"),
    "email": Kind(_A.EMAIL, "", "uuid"),
    "email_attachment": Kind(_A.EMAIL, "", "attachment"),
    "chat_transcript": Kind(_A.MESSAGING_TRANSCRIPT, "", "chatTranscript"),
    "chat_attachment": Kind(_A.MESSAGING_TRANSCRIPT, "", "attachment"),
}


def content_for(kind, interaction, rng, customer, audio, cache):
    """The :class:`Content` of one artifact of a :data:`KINDS` kind.

    ``audio(pool, rng)`` returns a WAV of that pool; ``cache`` carries an email's attachment from
    the ``email`` kind to the ``email_attachment`` kind, which must be the same bytes.
    """
    if KINDS[kind].audio:
        suffix = {"call_customer": "customer", "call_agent": "agent"}.get(kind, kind.replace("_", "-"))
        wav = audio(KINDS[kind].audio, rng)
        if kind == "ivr":  # a snippet the flow recorded, not the call: the clip itself
            return Content(f"{interaction.source_call_id}-{suffix}.wav", "audio/wav", wav)
        flac = flac_recording(wav, interaction.duration_seconds)
        return Content(f"{interaction.source_call_id}-{suffix}.flac", "audio/flac", flac)
    if kind == "qm_screen":
        return screen_recording()
    if kind == "chat_attachment":
        return attachment(rng, "photo")
    if kind == "chat_transcript":
        return chat_transcript(interaction, rng, customer)
    if kind in ("transcript", "categorization", "script"):
        return {"transcript": call_transcript, "categorization": categorization, "script": script}[kind](
            interaction, rng
        )
    if kind not in cache:
        inbound = interaction.direction == "inbound"
        support = interaction.to_address if inbound else interaction.from_address
        cache["email"], cache["email_attachment"] = email_message(interaction, rng, customer, support)
    return cache.pop(kind)
