"""Duration of audio and video content, read from the container's header while the bytes stream by.

Nothing here reads a recording into memory or decodes it: a :class:`DurationProbe` wraps the
stream that is being stored, keeps its first :data:`HEAD_BYTES` and counts the rest, and then
reads the duration from that head and the total size:

* **WAV** (RIFF / RF64): ``data`` chunk size ÷ byte rate of the ``fmt`` chunk; PCM, IEEE float,
  A-law / µ-law and ``WAVE_FORMAT_EXTENSIBLE`` alike. Streaming writers that could not go back to
  fill in the size leave ``0`` or ``0xFFFFFFFF`` there: the data then runs to the end of the file.
* **WebM / Matroska** (EBML): ``Segment > Info > Duration * TimecodeScale``. Writers that never
  knew the length (a browser's ``MediaRecorder``) write no Duration: unknown.
* **FLAC**: ``STREAMINFO`` total samples ÷ sample rate.
* **MP3** (Twilio's other recording format): the frame count of a Xing / Info / VBRI header,
  else (constant bit rate) the audio's size ÷ the first frame's bit rate, after any ID3v2 tag.

Anything else, truncated or malformed gives ``None`` (unknown), never an exception.
:func:`measure_durations` fills in the artifacts stored before durations were kept, reading only
their heads.
"""

import struct

from django.db import transaction
from django.db.models import Q

from core.vocabulary import ArtifactState

from .models import Artifact
from .storage import StorageError, storage_of

#: How much of the start of a file the probe keeps: the headers of every format read here fit.
HEAD_BYTES = 64 * 1024
#: Longest duration believed (a week): a garbage header is more likely than a longer recording.
MAX_SECONDS = 7 * 24 * 3600

MEDIA_PREFIXES = ("audio/", "video/")
MEDIA_EXTENSIONS = (".wav", ".wave", ".webm", ".mkv", ".mka", ".flac", ".mp3")


def is_media(content_type, filename=""):
    """Whether content of this type (or file name) is audio or video, whose duration is worth reading."""
    return (content_type or "").lower().startswith(MEDIA_PREFIXES) or (filename or "").lower().endswith(
        MEDIA_EXTENSIONS
    )


class DurationProbe:
    """A read-only stream over ``stream`` that keeps its head and counts its bytes.

    Pass it wherever ``stream`` would go (e.g. to the storage's ``write``); afterwards
    :meth:`duration` reads the duration from what went through.
    """

    def __init__(self, stream, head_bytes=HEAD_BYTES):
        self._stream = stream
        self._head = bytearray()
        self._limit = head_bytes
        self.size = 0

    def read(self, n=-1):
        """Read from the wrapped stream, remembering the head."""
        data = self._stream.read(n)
        if data and isinstance(data, bytes | bytearray | memoryview):
            self.feed(data)
        return data

    def feed(self, data):
        """Account for ``data``, the next bytes of the content."""
        if len(self._head) < self._limit:
            self._head += data[: self._limit - len(self._head)]
        self.size += len(data)

    closed = False

    def seekable(self):
        return False

    def close(self):
        pass

    @property
    def head(self):
        """The first bytes seen (at most ``head_bytes``)."""
        return bytes(self._head)

    def duration(self):
        """Seconds of the content, or ``None`` when its format is not read here or says nothing."""
        return duration_of(self.head, self.size)


def duration_of(head, total_size=None):
    """Seconds of media whose first bytes are ``head`` and whose whole size is ``total_size``.

    ``None`` for unknown formats, missing durations and malformed or truncated headers.
    """
    total_size = len(head) if total_size is None else total_size
    try:
        if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
            seconds = wav_duration(head, total_size)
        elif head[:4] == b"\x1a\x45\xdf\xa3":
            seconds = matroska_duration(head)
        elif head[:4] == b"fLaC":
            seconds = flac_duration(head)
        elif head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
            seconds = mp3_duration(head, total_size)
        else:
            return None
    except (IndexError, ValueError, struct.error, OverflowError, ZeroDivisionError):
        return None
    if seconds is None or not 0 <= seconds <= MAX_SECONDS or seconds != seconds:  # NaN
        return None
    return round(seconds, 3)


# --- WAV -------------------------------------------------------------------------------------
WAVE_FORMAT_PCM, WAVE_FORMAT_IEEE_FLOAT, WAVE_FORMAT_EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
STREAMING_SIZES = (0, 0xFFFFFFFF)


def wav_duration(head, total_size):
    """Seconds of a RIFF/RF64 WAVE file: its data size over the byte rate of its format."""
    pos, byte_rate, data_size, ds64_size = 12, None, None, None
    while pos + 8 <= len(head):
        chunk_id, size = head[pos : pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"ds64":
            # RF64 (files over 4 GiB): the real data size is here, the data chunk says 0xFFFFFFFF.
            ds64_size = struct.unpack_from("<Q", head, body + 8)[0]
        elif chunk_id == b"fmt ":
            fmt, channels, rate, avg_bytes, block_align = struct.unpack_from("<HHIIH", head, body)
            if fmt == WAVE_FORMAT_EXTENSIBLE and size >= 40:
                fmt = struct.unpack_from("<H", head, body + 24)[0]  # first two bytes of the SubFormat GUID
            # PCM and float: exact from the block size; compressed formats: the average byte rate.
            byte_rate = rate * block_align if fmt in (WAVE_FORMAT_PCM, WAVE_FORMAT_IEEE_FLOAT) else avg_bytes
            if not channels or not byte_rate:
                return None
        elif chunk_id == b"data":
            available = max(total_size - body, 0)
            if ds64_size is not None and size == 0xFFFFFFFF:
                size = ds64_size
            # A streaming writer could not fill in the size, or the file was cut short: the data
            # then is what the file holds after the chunk header.
            data_size = available if size in STREAMING_SIZES or size > available else size
            break
        pos = body + size + (size & 1)  # chunks are padded to an even size
    if byte_rate is None or data_size is None:
        return None
    return data_size / byte_rate


# --- Matroska / WebM ---------------------------------------------------------------------------
EBML_ID, SEGMENT_ID, INFO_ID, CLUSTER_ID = 0x1A45DFA3, 0x18538067, 0x1549A966, 0x1F43B675
TIMECODE_SCALE_ID, DURATION_ID = 0x2AD7B1, 0x4489
DEFAULT_TIMECODE_SCALE = 1_000_000  # nanoseconds per tick: milliseconds


def _vint(data, pos, keep_marker):
    """An EBML variable-length integer at ``pos``: ``(value, next position, all value bits set)``."""
    first = data[pos]
    if not first:
        raise ValueError("EBML integer longer than 8 bytes")
    length = 9 - first.bit_length()
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    if pos + length > len(data):
        raise IndexError("EBML integer cut off")
    unknown = not keep_marker and value == (1 << (7 * length)) - 1
    return value, pos + length, unknown


def _elements(data, pos, end):
    """Yield ``(id, body start, body end or None when the size is unknown)`` of the elements from ``pos``."""
    while pos < end:
        element_id, pos, _ = _vint(data, pos, keep_marker=True)
        size, pos, unknown = _vint(data, pos, keep_marker=False)
        body_end = None if unknown else pos + size
        yield element_id, pos, body_end
        if body_end is None:
            return
        pos = body_end


def matroska_duration(head):
    """Seconds of a WebM / Matroska file from its Segment Info (``None`` when it has no Duration)."""
    for element_id, body, end in _elements(head, 0, len(head)):
        if element_id != SEGMENT_ID:
            continue
        # A live writer leaves the Segment's size unknown: its children then run to the end.
        for child_id, child_body, child_end in _elements(head, body, len(head) if end is None else end):
            if child_id == INFO_ID:
                if child_end is None or child_end > len(head):
                    return None
                return _info_duration(head, child_body, child_end)
            if child_id == CLUSTER_ID or child_end is None:
                return None  # media before any Info: a stream that never says how long it is
        return None
    return None


def _info_duration(head, pos, end):
    scale, duration = DEFAULT_TIMECODE_SCALE, None
    for element_id, body, body_end in _elements(head, pos, end):
        if body_end is None:
            return None
        value = head[body:body_end]
        if element_id == TIMECODE_SCALE_ID:
            scale = int.from_bytes(value, "big")
        elif element_id == DURATION_ID:
            duration = struct.unpack(">f" if len(value) == 4 else ">d", value)[0]
    if duration is None or not scale:
        return None
    return duration * scale / 1e9


# --- FLAC ---------------------------------------------------------------------------------------
def flac_duration(head):
    """Seconds of a FLAC stream: STREAMINFO's total samples over its sample rate (0 samples: unknown)."""
    if head[4] & 0x7F != 0:  # the first metadata block must be STREAMINFO
        return None
    info = head[8 : 8 + 34]
    packed = int.from_bytes(info[10:18], "big")
    rate, total = packed >> 44, packed & ((1 << 36) - 1)
    if len(info) < 34 or not rate or not total:
        return None
    return total / rate


# --- MP3 ----------------------------------------------------------------------------------------
_MP3_BITRATES = {  # kbit/s by (MPEG-1?, layer) and index 1..14
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44_100, 48_000, 32_000), 2: (22_050, 24_000, 16_000), 0: (11_025, 12_000, 8_000)}


def _mp3_frame(head, pos):
    """``(frame length, samples per frame, sample rate, bit rate, MPEG-1?, mono?)`` of the frame
    header at ``pos``, or None when there is none."""
    b1, b2, b3 = head[pos + 1], head[pos + 2], head[pos + 3]
    if head[pos] != 0xFF or b1 & 0xE0 != 0xE0:
        return None
    version, layer = (b1 >> 3) & 3, 4 - ((b1 >> 1) & 3)  # layer 4: reserved
    index, rate_index = b2 >> 4, (b2 >> 2) & 3
    if version == 1 or layer == 4 or index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _MP3_BITRATES[(mpeg1, layer if mpeg1 or layer == 1 else 2)][index - 1] * 1000
    rate, padding = _MP3_RATES[version][rate_index], (b2 >> 1) & 1
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4, 384, rate, bitrate, mpeg1, b3 >> 6 == 3
    samples = 1152 if layer == 2 or mpeg1 else 576
    return samples // 8 * bitrate // rate + padding, samples, rate, bitrate, mpeg1, b3 >> 6 == 3


def mp3_duration(head, total_size):
    """Seconds of an MP3: Xing / Info / VBRI frame count, else the constant bit rate over the size."""
    pos = 0
    if head[:3] == b"ID3":
        size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
        pos = 10 + size + (10 if head[5] & 0x10 else 0)  # a footer follows the tag when flagged
    frame = _mp3_frame(head, pos)
    if frame is None:
        return None
    length, samples, rate, bitrate, mpeg1, mono = frame
    # One header is too weak a sign among arbitrary bytes: the next frame must follow it.
    after = pos + length
    if after + 4 <= len(head) and _mp3_frame(head, after) is None:
        return None
    side_info = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    tag = pos + 4 + side_info
    if head[tag : tag + 4] in (b"Xing", b"Info"):
        flags = struct.unpack_from(">I", head, tag + 4)[0]
        if flags & 1:
            return struct.unpack_from(">I", head, tag + 8)[0] * samples / rate
    if head[pos + 36 : pos + 40] == b"VBRI":
        return struct.unpack_from(">I", head, pos + 36 + 14)[0] * samples / rate
    if total_size <= pos:
        return None
    return (total_size - pos) * 8 / bitrate


# --- Backfill -----------------------------------------------------------------------------------
def measure_durations(*, actor, tenant_id=None, batch_size=500, progress=None):
    """Record the duration of stored audio and video artifacts that have none yet; returns
    ``(measured, unknown)`` counts.

    Reads only each file's first :data:`HEAD_BYTES` (a ranged read: the recording is not fetched),
    in batches of ``batch_size`` artifacts by ascending id, each batch saved in one statement per
    artifact within one transaction. The duration is metadata read from the content itself, not a
    change anyone decides: nothing is audited. ``actor`` must be support (an operator's command).
    """
    actor.require_support(doing="measure recording durations")
    media_q = Q(content_type__istartswith="audio/") | Q(content_type__istartswith="video/")
    for ext in MEDIA_EXTENSIONS:
        media_q |= Q(filename__iendswith=ext)
    pending = Artifact.objects.filter(
        media_q, duration_seconds__isnull=True, state__in=[ArtifactState.STORED, ArtifactState.ARCHIVED]
    )
    if tenant_id is not None:
        pending = pending.filter(tenant_id=tenant_id)
    last_id, measured, unknown = 0, 0, 0
    while True:
        batch = list(
            pending.filter(pk__gt=last_id)
            .order_by("pk")
            .select_related("tenant")  # its storage region: where the bytes are
            .only("pk", "storage_key", "storage_version", "state", "size", "tenant__storage_region")[:batch_size]
        )
        if not batch:
            return measured, unknown
        found = {}
        for artifact in batch:
            head = bytearray()
            try:
                for chunk in storage_of(artifact).iter_bytes(
                    artifact.storage_key, 0, HEAD_BYTES - 1, version=artifact.storage_version
                ):
                    head += chunk
            except StorageError:
                unknown += 1
                continue
            seconds = duration_of(bytes(head[:HEAD_BYTES]), artifact.size)
            if seconds is None:
                unknown += 1
            else:
                found[artifact.pk] = seconds
        with transaction.atomic():
            for pk, seconds in found.items():
                Artifact.objects.filter(pk=pk, duration_seconds__isnull=True).update(duration_seconds=seconds)
        measured += len(found)
        last_id = batch[-1].pk
        if progress:
            progress(measured, unknown)
